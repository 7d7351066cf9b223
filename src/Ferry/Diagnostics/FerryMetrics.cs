using System.Diagnostics.Metrics;

namespace Ferry.Diagnostics;

/// <summary>
/// Ferry's instruments, on a <see cref="Meter"/> named <c>Ferry</c>. The agent exports them as Prometheus series
/// with the same names; the core knows nothing of the exporter.
/// </summary>
public sealed class FerryMetrics : IDisposable
{
    public const string MeterName = "Ferry";

    private readonly Meter _meter;

    public FerryMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        ErrorsTotal = _meter.CreateCounter<long>("ferry_errors_total", description: "Errors reported, by code, class and task.");
        ReportFailuresTotal = _meter.CreateCounter<long>(
            "ferry_report_failures_total",
            description: "Times writing a LastError record to the metadata store failed.");
    }

    /// <summary>Tags: code, class, task.</summary>
    public Counter<long> ErrorsTotal { get; }

    /// <summary>Tags: task.</summary>
    public Counter<long> ReportFailuresTotal { get; }

    public void Dispose() => _meter.Dispose();
}
