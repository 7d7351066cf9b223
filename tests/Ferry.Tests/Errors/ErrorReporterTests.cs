using System.Diagnostics.Metrics;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.TestKit.Logging;
using Microsoft.Extensions.Logging;

namespace Ferry.Tests.Errors;

public sealed class ErrorReporterTests : IDisposable
{
    private readonly CapturingLogger<ErrorReporter> _logger = new();
    private readonly FerryMetrics _metrics = new();
    private readonly MeterListener _listener = new();
    private readonly List<(string Name, long Value, Dictionary<string, object?> Tags)> _measurements = [];

    public ErrorReporterTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == FerryMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            // Only this test's metrics instance: other tests in parallel create their own.
            if (!ReferenceEquals(instrument, _metrics.ErrorsTotal) && !ReferenceEquals(instrument, _metrics.ReportFailuresTotal)) return;
            lock (_measurements)
            {
                _measurements.Add((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
    }

    [Fact]
    public void Report_PermanentError_LogsOneStructuredLineAndCountsIt()
    {
        var reporter = new ErrorReporter(_logger, _metrics);
        var error = new FerryException(ErrorCodes.StorageQuotaExceeded, "no space left", new ErrorContext("app", 7, "/d/app.db", "upload"));

        Assert.True(reporter.Report(error));

        var line = Assert.Single(_logger.Entries);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains("FERRY:Storage:QuotaExceeded", line.Message);
        Assert.Contains($"error_id={error.ErrorId}", line.Message);
        Assert.Contains("task=app store=7 db=/d/app.db op=upload", line.Message);
        var m = Assert.Single(_measurements);
        Assert.Equal("ferry_errors_total", m.Name);
        Assert.Equal(1, m.Value);
        Assert.Equal("FERRY:Storage:QuotaExceeded", m.Tags["code"]);
        Assert.Equal("Permanent", m.Tags["class"]);
        Assert.Equal("app", m.Tags["task"]);
    }

    [Fact]
    public void Report_SameErrorTwice_IsLoggedAndCountedOnce()
    {
        var reporter = new ErrorReporter(_logger, _metrics);
        var error = new FerryException(ErrorCodes.DatabaseNotFound, "gone", new ErrorContext(Task: "app", Database: "/d/app.db"));

        Assert.True(reporter.Report(error));
        Assert.False(reporter.Report(error));

        Assert.Single(_logger.Entries);
        Assert.Equal(1, Assert.Single(_measurements).Value);
    }

    [Fact]
    public void Report_TransientError_LogsAWarning()
    {
        var reporter = new ErrorReporter(_logger, _metrics);

        reporter.Report(new FerryException(ErrorCodes.StorageUnavailable, "refused"));

        Assert.Equal(LogLevel.Warning, Assert.Single(_logger.Entries).Level);
    }

    [Theory]
    [InlineData("FERRY:Meta:Conflict")]
    [InlineData("FERRY:Op:Cancelled")]
    public void Report_ExpectedOrCancelled_IsNotReported(string code)
    {
        var reporter = new ErrorReporter(_logger, _metrics);

        Assert.False(reporter.Report(new FerryException(ErrorCodes.Find(code)!, "not an error")));

        Assert.Empty(_logger.Entries);
        Assert.Empty(_measurements);
    }

    [Fact]
    public void Report_WithSuppressed_LogsThemAfterTheFirstError()
    {
        var reporter = new ErrorReporter(_logger, _metrics);
        var error = new FerryException(ErrorCodes.StorageIo, "write failed");
        error.AddSuppressed(new IOException("close failed"));

        reporter.Report(error);

        Assert.Equal(2, _logger.Entries.Count);
        Assert.Contains("write failed", _logger.Entries[0].Message);
        Assert.Contains("close failed", _logger.Entries[1].Message);
    }

    [Fact]
    public void ReportRecordingFailed_LogsBothAndCountsTheFailure()
    {
        var reporter = new ErrorReporter(_logger, _metrics);
        var error = new FerryException(ErrorCodes.StorageQuotaExceeded, "full", new ErrorContext(Task: "app"));

        reporter.ReportRecordingFailed(error, new FerryException(ErrorCodes.MetaUnavailable, "etcd down"));

        var line = Assert.Single(_logger.Entries);
        Assert.Contains(error.ErrorId, line.Message);
        Assert.Contains("FERRY:Meta:Unavailable", line.Message);
        Assert.Equal("ferry_report_failures_total", Assert.Single(_measurements).Name);
    }
}
