using System.Collections.Concurrent;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Logging;
using Ferry.TestKit.Meta;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tests.Tasks;

/// <summary>
/// A runner over a real embedded metadata store with scripted stream bodies: error scope, report-and-pause in one
/// transaction, pause and resume, quarantine and its release, and the published checkpoint.
/// </summary>
public sealed class TaskRunnerTests : IAsyncLifetime
{
    private const long StoreId = 4;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private readonly TempDirectory _dir = new("runner");
    private readonly MetaKeys _keys = new();
    private readonly FerryMetrics _metrics = new();
    private readonly ConcurrentDictionary<string, Func<IStreamProgress, CancellationToken, Task>> _behaviour = new();
    private readonly ConcurrentDictionary<string, int> _starts = new();
    private IMetaStore _store = null!;
    private FencedWriter _writer = null!;
    private TaskControl _control = null!;

    public async Task InitializeAsync()
    {
        _store = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"));
        _control = new TaskControl(_store, _keys, TimeProvider.System);
        _writer = await Fence.AcquireAsync(_store, _keys, StoreId, 0);
        Directory.CreateDirectory(_dir.File("dbs"));
        foreach (var name in new[] { "a.db", "b.db", "c.db" }) await File.WriteAllTextAsync(Db(name), "");
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private string Db(string name) => Path.Combine(_dir.Path, "dbs", name);

    private TaskDefinition Definition() => new("t", [Db("*.db")], "file:///backup", 100, 1);

    private TaskRunner Runner(TaskDefinition? custom = null, TimeSpan? retryBudget = null)
    {
        var definition = custom ?? Definition();
        return new TaskRunner(
            definition,
            _writer,
            (db, _, progress, ct) =>
            {
                _starts.AddOrUpdate(Path.GetFileName(db), 1, (_, n) => n + 1);
                return _behaviour.TryGetValue(Path.GetFileName(db), out var behave) ? behave(progress, ct) : ShipForeverAsync(progress, ct);
            },
            new TaskRunnerOptions
            {
                ControlInterval = TimeSpan.FromMilliseconds(20),
                AutoResumeInitialDelay = TimeSpan.FromMilliseconds(200),
                Stream = new StreamSupervisorOptions
                {
                    RetryBudget = retryBudget ?? TimeSpan.FromMinutes(5),
                    Backoff = new Backoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20)),
                },
            },
            new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics),
            TimeProvider.System);
    }

    private static async Task ShipForeverAsync(IStreamProgress progress, CancellationToken ct)
    {
        var position = 0;
        while (!ct.IsCancellationRequested)
        {
            progress.Shipped(DateTimeOffset.UtcNow, 10, $"g1/{position++}");
            try
            {
                await Task.Delay(20, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!await condition())
        {
            if (deadline.IsCancellationRequested) Assert.Fail($"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }

    private static Task EventuallyAsync(Func<bool> condition, string what) => EventuallyAsync(() => Task.FromResult(condition()), what);

    private async Task<Checkpoint?> CheckpointAsync() =>
        await _store.GetAsync(_keys.Checkpoint("t", StoreId)) is { } kv ? MetaJson.Deserialize<Checkpoint>(kv) : null;

    [Fact]
    public async Task RunAsync_OneDatabaseError_QuarantinesItOthersKeepShippingAndClearErrorRetriesIt()
    {
        await _control.StartAsync(Definition());
        var broken = true;
        _behaviour["b.db"] = (progress, ct) => Volatile.Read(ref broken)
            ? throw new FerryException(ErrorCodes.DatabaseNotFound, "b.db is gone", new ErrorContext(Database: "b.db"))
            : ShipForeverAsync(progress, ct);
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(async () => (await CheckpointAsync())?.State == "DEGRADED", "the store shows DEGRADED");
        var firstCheckpoint = (await CheckpointAsync())!.Ts;
        await EventuallyAsync(async () => (await CheckpointAsync())!.Ts > firstCheckpoint, "the healthy streams keep advancing the checkpoint");
        var lastError = (await _control.LastErrorsAsync("t")).Single();
        Volatile.Write(ref broken, false);
        var resumed = await _control.ResumeAsync("t", clearError: true);
        await EventuallyAsync(() => runner.Report().Streams.All(s => s.State == StreamState.Shipping) && runner.Report().Streams.Count == 3, "b.db ships again");
        await stop.CancelAsync();
        await run;

        Assert.Equal("FERRY:Database:NotFound", lastError.ErrorCode);
        Assert.Contains("b.db", lastError.ErrorMessage + lastError.Context, StringComparison.Ordinal);
        Assert.Null(await _store.GetAsync(_keys.Pause("t")));
        Assert.Equal(ResumeOutcome.Resumed, resumed.Outcome);
        Assert.Equal(1, _starts["a.db"]);
        Assert.Equal(2, _starts["b.db"]);
    }

    [Fact]
    public async Task RunAsync_TaskWideError_ReportsAndPausesInOneTransactionAndStopsEveryStream()
    {
        await _control.StartAsync(Definition());
        var full = true;
        _behaviour["c.db"] = (progress, ct) => Volatile.Read(ref full)
            ? throw new FerryException(ErrorCodes.StorageQuotaExceeded, "no space left on /backup")
            : ShipForeverAsync(progress, ct);
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().State == RunnerState.Paused, "the runner pauses");
        var pauseKv = await _store.GetAsync(_keys.Pause("t"));
        var errorKv = await _store.GetAsync(_keys.LastError("t", StoreId));
        var status = (await _control.StatusAsync("t")).Single();
        var streamsWhilePaused = runner.Report().Streams.Count;
        Volatile.Write(ref full, false);
        await _control.ResumeAsync("t", clearError: true);
        await EventuallyAsync(() => runner.Report().State == RunnerState.Working && runner.Report().Streams.Count == 3, "the runner works again");
        await stop.CancelAsync();
        await run;

        Assert.Equal(pauseKv!.ModRevision, errorKv!.ModRevision);
        var pause = MetaJson.Deserialize<PauseValue>(pauseKv);
        Assert.Equal(PauseSeverity.Error, pause.Severity);
        Assert.Equal("FERRY:Storage:QuotaExceeded", pause.ErrorCode);
        Assert.Equal(TaskState.PAUSED_DUE_TO_ERROR, status.Status);
        Assert.Equal("FERRY:Storage:QuotaExceeded", status.Stores.Single(s => s.StoreId == StoreId).LastError!.ErrorCode);
        Assert.Equal(0, streamsWhilePaused);
    }

    [Fact]
    public async Task RunAsync_ManualPause_StopsStreamsUntilResumed()
    {
        await _control.StartAsync(Definition());
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().Streams.Count == 3, "three streams run");
        await _control.PauseAsync("t", "maintenance", "op:1");
        await EventuallyAsync(() => runner.Report() is { State: RunnerState.Paused, Streams.Count: 0 }, "the streams stop");
        await _control.ResumeAsync("t", clearError: false);
        await EventuallyAsync(() => runner.Report().Streams.Count == 3, "the streams restart");
        await stop.CancelAsync();
        await run;

        Assert.All(_starts.Values, n => Assert.Equal(2, n));
        Assert.Equal(RunnerState.Completed, runner.Report().State);
    }

    [Fact]
    public async Task RunAsync_Checkpoint_IsTheOldestStreamsAndListsPositions()
    {
        await _control.StartAsync(Definition());
        var old = DateTimeOffset.UtcNow.AddMinutes(-10);
        _behaviour["a.db"] = async (progress, ct) =>
        {
            progress.Shipped(old, 1, "g0/7");
            await Task.Delay(Timeout.Infinite, ct);
        };
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(async () => (await CheckpointAsync())?.Streams?.Count == 3, "every stream's position is published");
        await stop.CancelAsync();
        await run;

        var checkpoint = (await CheckpointAsync())!;
        Assert.Equal(old.ToUnixTimeMilliseconds(), checkpoint.Ts);
        Assert.Equal("g0/7", checkpoint.Streams![Db("a.db")]);
        Assert.Null(checkpoint.State);
    }

    [Fact]
    public async Task RunAsync_CheckpointRefusedByTheFence_EndsWithTheFencedErrorInsteadOfShippingOn()
    {
        // Regression: the refusal was reported like an unreachable store and the runner carried on shipping until the
        // agent's control loop noticed the fence.
        await _control.StartAsync(Definition());
        var fenceLost = new TaskCompletionSource<FerryException>(TaskCreationOptions.RunContinuationsAsynchronously);
        _writer.FenceLost += e => fenceLost.TrySetResult(e);
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(async () => await CheckpointAsync() is not null, "a first checkpoint");
        await Fence.AcquireAsync(_store, _keys, StoreId, 0, new FenceOptions { Takeover = Takeover.Now, Address = "other-host:2" });
        var error = await Assert.ThrowsAsync<FerryException>(() => run.WaitAsync(Deadline));

        Assert.Equal(ErrorCodes.FenceEpoch, error.Code);
        Assert.Equal(ErrorCodes.FenceEpoch, (await fenceLost.Task.WaitAsync(Deadline)).Code);
        Assert.Empty(runner.Report().Streams);
    }

    [Fact]
    public async Task RunAsync_StreamAbortedByTheFence_RunnerEndsWithItAndPausesNothing()
    {
        // Regression: a stream's Fenced error was the task's error: the runner reported and paused the task.
        await _control.StartAsync(Definition());
        _behaviour["b.db"] = (_, _) => throw new FerryException(ErrorCodes.FenceDeployGeneration, "storage write refused: store 4 belongs to deploy generation 2");
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var error = await Assert.ThrowsAsync<FerryException>(() => runner.RunAsync(stop.Token).WaitAsync(Deadline));

        Assert.Equal(ErrorCodes.FenceDeployGeneration, error.Code);
        Assert.Null(await _store.GetAsync(_keys.Pause("t")));
        Assert.Null(await _store.GetAsync(_keys.LastError("t", StoreId)));
        Assert.Equal(1, _starts["b.db"]);
    }

    [Fact]
    public async Task RunAsync_DatabaseAppearsLater_IsPickedUp()
    {
        await _control.StartAsync(Definition());
        var runner = Runner();
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().Streams.Count == 3, "three streams run");
        await File.WriteAllTextAsync(Db("d.db"), "");
        await EventuallyAsync(() => runner.Report().Streams.Count == 4, "the new database gets a stream");
        await stop.CancelAsync();
        await run;

        Assert.Equal(1, _starts["d.db"]);
    }

    [Fact]
    public async Task RunAsync_AutoResumeAfterRetryBudget_ProbesAndResumesByItselfOnceTheCauseClears()
    {
        var definition = Definition() with { AutoResume = true };
        await _control.StartAsync(definition);
        var partitioned = true;
        _behaviour["a.db"] = (progress, ct) => Volatile.Read(ref partitioned)
            ? throw new FerryException(ErrorCodes.StorageUnavailable, "connection refused")
            : ShipForeverAsync(progress, ct);
        var runner = Runner(definition, retryBudget: TimeSpan.FromMilliseconds(100));
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        KeyValue? pauseKv = null;
        // Keep the pause as first seen: the probe may remove it moments later.
        await EventuallyAsync(async () => (pauseKv = await _store.GetAsync(_keys.Pause("t"))) is not null, "the budget to run out and pause the task");
        var pause = MetaJson.Deserialize<PauseValue>(pauseKv!);
        Volatile.Write(ref partitioned, false);
        await EventuallyAsync(async () => await _store.GetAsync(_keys.Pause("t")) is null && runner.Report().State == RunnerState.Working, "the runner to resume by itself");
        await EventuallyAsync(() => runner.Report().Streams.Count == 3 && runner.Report().Streams.All(s => s.State == StreamState.Shipping), "every stream to ship");
        await stop.CancelAsync();
        await run;

        Assert.Equal("FERRY:Storage:Unavailable", pause.ErrorCode);
        Assert.Empty(await _control.LastErrorsAsync("t"));
    }

    [Fact]
    public async Task RunAsync_PauseResumedByHandBeforeTheProbe_NextPauseStillWaitsTheWholeDelay()
    {
        // Regression: the probe's due time was kept from the first pause, so after an operator's resume the next
        // pause was probed at once instead of after the delay (200 ms here).
        var definition = Definition() with { AutoResume = true };
        await _control.StartAsync(definition);
        _behaviour["a.db"] = (_, _) => throw new FerryException(ErrorCodes.StorageUnavailable, "connection refused");
        var runner = Runner(definition, retryBudget: TimeSpan.FromMilliseconds(100));
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().State == RunnerState.Paused, "the budget to run out and pause the task");
        var first = MetaJson.Deserialize<PauseValue>((await _store.GetAsync(_keys.Pause("t")))!);
        await _control.ResumeAsync("t", clearError: true);
        KeyValue? secondKv = null;
        await EventuallyAsync(
            async () => (secondKv = await _store.GetAsync(_keys.Pause("t"))) is { } kv && MetaJson.Deserialize<PauseValue>(kv).At != first.At,
            "the task to pause again");
        var second = MetaJson.Deserialize<PauseValue>(secondKv!);
        await EventuallyAsync(async () => await _store.GetAsync(_keys.Pause("t")) is null, "the probe to resume the second pause");
        var probedAfter = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeMilliseconds(second.At);
        await stop.CancelAsync();
        await run;

        Assert.True(probedAfter >= TimeSpan.FromMilliseconds(200), $"the second pause was probed {probedAfter.TotalMilliseconds:0} ms after it began");
    }

    [Fact]
    public async Task RunAsync_AutoResumeOnButPermanentCause_StaysPaused()
    {
        var definition = Definition() with { AutoResume = true };
        await _control.StartAsync(definition);
        _behaviour["a.db"] = (_, _) => throw new FerryException(ErrorCodes.StoragePermissionDenied, "read-only");
        var runner = Runner(definition);
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().State == RunnerState.Paused, "the task to pause");
        var pauseRevision = (await _store.GetAsync(_keys.Pause("t")))!.ModRevision;
        // Ten control rounds, far past the 200 ms probe delay: a permission error is never probed.
        for (var round = 0; round < 10; round++) await Task.Delay(50);
        await stop.CancelAsync();
        await run;

        Assert.Equal(pauseRevision, (await _store.GetAsync(_keys.Pause("t")))!.ModRevision);
        Assert.Equal(1, _starts["a.db"]);
    }

    [Fact]
    public async Task RunAsync_PauseRecordFails_TaskStillPausesLocallyAndRecordsItOnceTheStoreIsBack()
    {
        await _control.StartAsync(Definition());
        _behaviour["c.db"] = (_, _) => throw new FerryException(ErrorCodes.StorageQuotaExceeded, "disk full");
        var flaky = new FlakyTxnStore(_store);
        var writer = await Fence.AcquireAsync(flaky, _keys, StoreId, 0);
        flaky.Failing = true;
        var runner = new TaskRunner(
            Definition(), writer,
            (db, _, progress, ct) => _behaviour.TryGetValue(Path.GetFileName(db), out var behave) ? behave(progress, ct) : ShipForeverAsync(progress, ct),
            new TaskRunnerOptions { ControlInterval = TimeSpan.FromMilliseconds(20) },
            new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics),
            TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report() is { State: RunnerState.Paused, Streams.Count: 0 } && flaky.FailedTxns > 0, "a local pause while the record can't be written");
        var pauseWhileDown = await _store.GetAsync(_keys.Pause("t"));
        flaky.Failing = false;
        await EventuallyAsync(async () => await _store.GetAsync(_keys.Pause("t")) is not null, "the pause to be recorded once the store is back");
        await stop.CancelAsync();
        await run;

        Assert.Null(pauseWhileDown);
        Assert.Equal("FERRY:Storage:QuotaExceeded", (await _control.LastErrorsAsync("t")).Single().ErrorCode);
    }

    [Fact]
    public async Task RunAsync_StreamShipsOnItsWayOut_FinalCheckpointHoldsThatShipment()
    {
        // Regression: the runner dropped its stopped streams before the final checkpoint, so what a graceful stop
        // shipped last never reached the checkpoint and the next start continued from an older position.
        await _control.StartAsync(Definition() with { Databases = [Db("a.db")] });
        _behaviour["a.db"] = async (progress, ct) =>
        {
            await ShipForeverAsync(progress, ct);
            progress.Shipped(DateTimeOffset.UtcNow, 10, "g1/final");
        };
        var runner = Runner(Definition() with { Databases = [Db("a.db")] });
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(async () => (await CheckpointAsync())?.Ts > 0, "a first checkpoint");
        var beforeStop = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await stop.CancelAsync();
        await run.WaitAsync(Deadline);

        var final = (await CheckpointAsync())!;
        Assert.Equal("g1/final", final.Streams![Db("a.db")]);
        Assert.True(final.Ts >= beforeStop, $"checkpoint {final.Ts} is before the stop at {beforeStop}");
    }

    [Fact]
    public async Task RunAsync_FinalCheckpointOutlivesItsDeadline_ReportedAsMetaTimeoutNotDroppedAsCancelled()
    {
        // Regression: the final checkpoint's deadline cancelled the write, the store called that a cancellation, and
        // the reporter drops cancellations: the lost checkpoint left no trace.
        await _control.StartAsync(Definition());
        var hanging = new HangingTxnStore(_store);
        var writer = await Fence.AcquireAsync(hanging, _keys, StoreId, 0);
        var logger = new CapturingLogger<ErrorReporter>();
        var runner = new TaskRunner(
            Definition(), writer,
            async (_, _, progress, ct) =>
            {
                await ShipForeverAsync(progress, ct);
                // A shipment on the way out, so the final checkpoint has something new to write.
                progress.Shipped(DateTimeOffset.UtcNow, 10, "g1/final");
            },
            new TaskRunnerOptions { ControlInterval = TimeSpan.FromMilliseconds(20), FinalCheckpointTimeout = TimeSpan.FromMilliseconds(300) },
            new ErrorReporter(logger, _metrics),
            TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(async () => (await CheckpointAsync())?.Ts > 0, "a first checkpoint");
        hanging.Hang = true;
        await stop.CancelAsync();
        await run.WaitAsync(Deadline);

        Assert.Contains(logger.Entries, e => e.Message.Contains("FERRY:Meta:Timeout", StringComparison.Ordinal) && e.Message.Contains("final checkpoint", StringComparison.Ordinal));
    }

    /// <summary>The real store, with transactions that hang while <see cref="Hang"/> until the caller gives up, as a stopped etcd does.</summary>
    private sealed class HangingTxnStore(IMetaStore inner) : DelegatingMetaStore(inner)
    {
        public volatile bool Hang;

        public override async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
        {
            if (!Hang) return await Inner.TxnAsync(request, cancellationToken);
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException e)
            {
                // What the stores say when the caller's token ends a call: they can't tell a deadline from a cancel.
                throw new FerryException(ErrorCodes.Cancelled, "the operation was cancelled", innerException: e);
            }

            throw new InvalidOperationException("unreachable");
        }
    }

    [Fact]
    public async Task RunAsync_MetadataStoreBackAfterAnOutage_ItsErrorNoLongerShown()
    {
        // Regression: a metadata failure stayed the runner's last error (in /status) after the store was back.
        await _control.StartAsync(Definition());
        var flaky = new FlakyReadStore(_store);
        var writer = await Fence.AcquireAsync(flaky, _keys, StoreId, 0);
        var runner = new TaskRunner(
            Definition(), writer,
            (_, _, progress, ct) => ShipForeverAsync(progress, ct),
            new TaskRunnerOptions { ControlInterval = TimeSpan.FromMilliseconds(20) },
            new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics),
            TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var run = runner.RunAsync(stop.Token);
        await EventuallyAsync(() => runner.Report().State == RunnerState.Working, "the runner works");
        flaky.Failing = true;
        await EventuallyAsync(() => runner.Report().LastError?.Code == ErrorCodes.MetaUnavailable, "the outage shows");
        flaky.Failing = false;
        await EventuallyAsync(() => runner.Report().LastError is null, "the outage's error cleared once the store is back");
        await stop.CancelAsync();
        await run.WaitAsync(Deadline);
    }

    /// <summary>The real store, with reads failing as if the metadata store were unreachable while <see cref="Failing"/>.</summary>
    private sealed class FlakyReadStore(IMetaStore inner) : DelegatingMetaStore(inner)
    {
        public volatile bool Failing;

        public override Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) =>
            Failing ? throw new FerryException(ErrorCodes.MetaUnavailable, "etcd is unreachable (test)") : Inner.GetAsync(key, cancellationToken);
    }

    /// <summary>The real store, with transactions failing as if the metadata store were unreachable while <see cref="Failing"/>.</summary>
    private sealed class FlakyTxnStore(IMetaStore inner) : DelegatingMetaStore(inner)
    {
        private int _failed;

        public volatile bool Failing;

        public int FailedTxns => Volatile.Read(ref _failed);

        public override Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
        {
            if (!Failing) return Inner.TxnAsync(request, cancellationToken);
            Interlocked.Increment(ref _failed);
            throw new FerryException(ErrorCodes.MetaUnavailable, "etcd is unreachable (test)");
        }
    }
}
