using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Tasks;

/// <summary>Retries, budget, watchdog and scope of one stream, on a fake clock.</summary>
public sealed class StreamSupervisorTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FerryMetrics _metrics = new();
    private readonly StreamSupervisorOptions _options = new()
    {
        RetryBudget = TimeSpan.FromMinutes(1),
        StallTimeout = TimeSpan.FromSeconds(20),
        Backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)),
    };

    public void Dispose() => _metrics.Dispose();

    private StreamSupervisor Supervisor(StreamBody body) =>
        new("t", "/data/app.db", body, _options, new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics), _time);

    private static FerryException Unavailable() => new(ErrorCodes.StorageUnavailable, "connection refused");

    /// <summary>Advances the fake clock whenever the stream waits, until <paramref name="done"/> holds.</summary>
    private async Task DriveUntilAsync(StreamSupervisor supervisor, Func<StreamReport, bool> done)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!done(supervisor.Report()))
        {
            deadline.Token.ThrowIfCancellationRequested();
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(1, deadline.Token);
        }
    }

    private static async Task ShipThenWaitAsync(IStreamProgress progress, DateTimeOffset at, CancellationToken token)
    {
        progress.Shipped(at, 100, "gen/1");
        await Task.Delay(Timeout.Infinite, token);
    }

    [Fact]
    public async Task RunAsync_TransientShorterThanBudget_RetriesThenShipsAndStopsCleanly()
    {
        var calls = 0;
        var supervisor = Supervisor(async (db, _, progress, ct) =>
        {
            if (++calls <= 2) throw Unavailable();
            await ShipThenWaitAsync(progress, _time.GetUtcNow(), ct);
        });
        var seen = new List<StreamState>();
        supervisor.Changed += r => { lock (seen) seen.Add(r.State); };
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        await DriveUntilAsync(supervisor, r => r.ReplicatedBytes > 0);
        await stop.CancelAsync();
        var outcome = await run;

        Assert.Equal(StreamEnd.Stopped, outcome.End);
        Assert.Equal(3, calls);
        Assert.Contains(StreamState.Retrying, seen);
        var report = supervisor.Report();
        Assert.Equal(StreamState.Stopped, report.State);
        Assert.Equal(0, report.Attempt);
        Assert.Equal("gen/1", report.Position);
    }

    [Theory]
    [InlineData("FERRY:Fence:Epoch")]
    [InlineData("FERRY:Meta:SessionExpired")]
    public async Task RunAsync_StoreNoLongerProvablyOurs_AbortedOnceNeverRetriedNotTheTasksError(string code)
    {
        var calls = 0;
        var supervisor = Supervisor((_, _, _, _) =>
        {
            calls++;
            throw new FerryException(ErrorCodes.Find(code)!, "storage write refused: the store is another's");
        });

        var outcome = await supervisor.RunAsync(CancellationToken.None).WaitAsync(Deadline);

        Assert.Equal(StreamEnd.Aborted, outcome.End);
        Assert.Equal(code, outcome.Error!.Code.Code);
        Assert.Equal(1, calls);
        Assert.Equal(StreamState.Stopped, supervisor.Report().State);
    }

    [Fact]
    public async Task RunAsync_TransientLongerThanBudget_EscalatesWithTheLastTransientCode()
    {
        var supervisor = Supervisor((_, _, _, _) => throw Unavailable());

        var run = supervisor.RunAsync(CancellationToken.None);
        await DriveUntilAsync(supervisor, r => r.State == StreamState.Failed);
        var outcome = await run;

        Assert.Equal(StreamEnd.TaskError, outcome.End);
        Assert.Same(ErrorCodes.StorageUnavailable, outcome.Error!.Code);
        Assert.Contains("retry budget", outcome.Error.Message, StringComparison.Ordinal);
        Assert.True(_time.GetUtcNow() - DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture) >= _options.RetryBudget);
    }

    [Fact]
    public async Task RunAsync_RetryingState_ShowsAttemptNextAttemptAndLastError()
    {
        var supervisor = Supervisor((_, _, _, _) => throw Unavailable());

        var run = supervisor.RunAsync(CancellationToken.None);
        var report = supervisor.Report();
        using (var deadline = new CancellationTokenSource(Deadline))
        {
            while ((report = supervisor.Report()).State != StreamState.Retrying) await Task.Delay(1, deadline.Token);
        }

        Assert.Equal(1, report.Attempt);
        Assert.NotNull(report.NextAttemptAt);
        Assert.True(report.NextAttemptAt > _time.GetUtcNow());
        Assert.Same(ErrorCodes.StorageUnavailable, report.LastError!.Code);
        await DriveUntilAsync(supervisor, r => r.State == StreamState.Failed);
        await run;
    }

    [Fact]
    public async Task RunAsync_DatabaseError_QuarantinesOnlyThisStream()
    {
        var supervisor = Supervisor((_, _, _, _) => throw new FerryException(ErrorCodes.DatabaseNotFound, "gone"));

        var outcome = await supervisor.RunAsync(CancellationToken.None);

        Assert.Equal(StreamEnd.Quarantined, outcome.End);
        Assert.Equal(StreamState.Quarantined, supervisor.Report().State);
    }

    [Theory]
    [InlineData("FERRY:Storage:QuotaExceeded")]
    [InlineData("FERRY:Storage:PermissionDenied")]
    [InlineData("FERRY:Internal:Bug")]
    public async Task RunAsync_TaskWideError_EndsAsTaskErrorWithoutRetry(string code)
    {
        var calls = 0;
        var supervisor = Supervisor((_, _, _, _) =>
        {
            calls++;
            throw new FerryException(ErrorCodes.Find(code)!, "no");
        });

        var outcome = await supervisor.RunAsync(CancellationToken.None);

        Assert.Equal(StreamEnd.TaskError, outcome.End);
        Assert.Equal(code, outcome.Error!.Code.Code);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task RunAsync_StorageErrorWithoutTask_GetsTheStreamsContextAndIsCountedOnceUnderTheTask()
    {
        // Storage knows only its operation; the log line, LastError and ferry_errors_total{task} need the task.
        var counted = new List<(long Value, string? Task)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, _metrics.Meter) && instrument.Name == "ferry_errors_total") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? task = null;
            foreach (var tag in tags) if (tag.Key == "task") task = tag.Value as string;
            lock (counted) counted.Add((value, task));
        });
        listener.Start();
        var supervisor = new StreamSupervisor(
            "t", "/data/app.db",
            (_, _, _, _) => throw new FerryException(ErrorCodes.StorageQuotaExceeded, "no space left", new ErrorContext(Operation: "put x")),
            _options, new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics), _time, storeId: 7);

        var outcome = await supervisor.RunAsync(CancellationToken.None);

        Assert.Equal(new ErrorContext("t", 7, "/data/app.db", "put x"), outcome.Error!.Context);
        Assert.Equal([(1L, "t")], counted);
    }

    [Fact]
    public async Task RunAsync_HungStep_WatchdogCancelsItAsStalledAndTheRetryRecovers()
    {
        var calls = 0;
        var supervisor = Supervisor(async (_, _, progress, ct) =>
        {
            if (++calls == 1) await Task.Delay(Timeout.Infinite, ct); // hangs until the watchdog cancels it
            await ShipThenWaitAsync(progress, _time.GetUtcNow(), ct);
        });
        var seen = new List<StreamReport>();
        supervisor.Changed += r => { lock (seen) seen.Add(r); };
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        await DriveUntilAsync(supervisor, r => r.ReplicatedBytes > 0);
        await stop.CancelAsync();
        await run;

        var stalled = seen.First(r => r.State == StreamState.Stalled);
        Assert.Same(ErrorCodes.TaskStalled, stalled.LastError!.Code);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task RunAsync_ProgressReported_WatchdogDoesNotFire()
    {
        var supervisor = Supervisor(async (_, _, progress, ct) =>
        {
            while (true)
            {
                progress.Progress();
                await Task.Delay(TimeSpan.FromSeconds(5), _time, ct);
            }
        });
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        for (var i = 0; i < 20; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(1);
        }

        await stop.CancelAsync();
        var outcome = await run;

        Assert.Equal(StreamEnd.Stopped, outcome.End);
        Assert.Null(supervisor.Report().LastError);
    }

    [Fact]
    public async Task RunAsync_RetryAfterShipping_ContinuesFromTheLastShippedPosition()
    {
        var positions = new List<string?>();
        var supervisor = new StreamSupervisor(
            "t", "/data/app.db", async (_, position, progress, ct) =>
            {
                positions.Add(position);
                if (positions.Count == 1)
                {
                    progress.Shipped(_time.GetUtcNow(), 1, "g1/5");
                    throw Unavailable();
                }

                await ShipThenWaitAsync(progress, _time.GetUtcNow(), ct);
            },
            _options, new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics), _time, initialPosition: "g1/2");
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        await DriveUntilAsync(supervisor, r => r.Position == "gen/1");
        await stop.CancelAsync();
        await run;

        Assert.Equal(["g1/2", "g1/5"], positions);
    }

    [Fact]
    public void Backoff_DelayFor_GrowsExponentiallyWithJitterUpToMax()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
        var random = new Random(7);

        for (var attempt = 1; attempt <= 10; attempt++)
        {
            var ceiling = Math.Min(8, Math.Pow(2, attempt - 1));
            var delay = backoff.DelayFor(attempt, random).TotalSeconds;
            Assert.InRange(delay, ceiling / 2, ceiling);
        }
    }
}
