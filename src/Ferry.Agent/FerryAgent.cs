using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Retention;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.Tasks;
using Microsoft.Extensions.Logging;

namespace Ferry.Agent;

public sealed class FerryAgentOptions
{
    /// <summary>Which store this agent runs, as whom, and how it takes the store over (the store session's settings).</summary>
    public required StoreSessionOptions Store { get; init; }

    /// <summary>How often the agent reads the task list and checks its fence.</summary>
    public TimeSpan ControlInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Tasks this agent defines in the metadata store at start, under its fence, as <c>ferry task start</c> would: a
    /// task that is missing or defined otherwise is written (its pause and checkpoint are kept, so a run of the same
    /// command continues it), one defined alike is left as it is. <c>ferry agent --config</c> and <c>ferry replicate</c>
    /// give them; see <see cref="OnlyDefinedTasks"/>.
    /// </summary>
    public IReadOnlyList<TaskDefinition> DefinedTasks { get; init; } = [];

    /// <summary>Whether only <see cref="DefinedTasks"/> run here, as <c>ferry replicate</c> runs, and no other task of the metadata store.</summary>
    public bool OnlyDefinedTasks { get; init; }

    /// <summary>
    /// One task only, as <c>ferry replicate DB --to URL</c> and <c>ferry demo</c> run: <see cref="DefinedTasks"/> of
    /// that one task, and <see cref="OnlyDefinedTasks"/>.
    /// </summary>
    public TaskDefinition? SingleTask
    {
        get => OnlyDefinedTasks && DefinedTasks.Count == 1 ? DefinedTasks[0] : null;
        init
        {
            DefinedTasks = value is null ? [] : [value];
            OnlyDefinedTasks = value is not null;
        }
    }

    /// <summary>
    /// Opens a task's storage; by default <see cref="StorageFactory.Open"/> (what the process registered). An
    /// application's <c>AddFerry</c> gives its own, so hosting Ferry changes nothing process-wide.
    /// </summary>
    public Func<StorageUrl, IObjectStorage> OpenStorage { get; init; } = StorageFactory.Open;

    /// <summary>How often the agent samples each task's checkpoint gap for the status page's chart.</summary>
    public TimeSpan LagSampleInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How far back the samples go.</summary>
    public TimeSpan LagWindow { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// A consistent view of the agent: what <c>/status</c> serves and the status page shows. <see cref="MetaLastReachedAt"/>
/// (unix ms) is when a control round last read the metadata store: while it is out of reach the runners keep
/// shipping, and this says for how long their checkpoints have not been published. <see cref="Lag"/> is each task's
/// checkpoint gap over the last minutes (<see cref="LagHistory"/>).
/// </summary>
public sealed record AgentReport(
    long StoreId,
    long Generation,
    long Epoch,
    string State,
    IReadOnlyList<RunnerReport> Tasks,
    long? MetaLastReachedAt = null,
    string? Version = null,
    DateTimeOffset? StartedAt = null,
    IReadOnlyList<TaskLag>? Lag = null);

/// <summary>
/// One store's agent (DESIGN §2): takes the store's fence, registers the store under its own lease, and runs one
/// task runner per task in the metadata store, starting and stopping runners as tasks come and go. A lost session
/// (the lease expired) stops every runner and bootstraps again; a fence lost to a newer deploy generation stops
/// everything and ends with exit code 0, to a newer epoch with 75. Runners see only the fenced store.
/// </summary>
public sealed class FerryAgent(
    AgentMetaStore meta,
    MetaKeys keys,
    FerryAgentOptions options,
    FerryMetrics metrics,
    ErrorReporter reporter,
    ILogger<FerryAgent> logger,
    TimeProvider time)
{
    /// <summary>An agent on a metadata store its caller opened and disposes.</summary>
    public FerryAgent(
        IMetaStore meta,
        MetaKeys keys,
        FerryAgentOptions options,
        FerryMetrics metrics,
        ErrorReporter reporter,
        ILogger<FerryAgent> logger,
        TimeProvider time)
        : this(AgentMetaStore.Borrowed(meta), keys, options, metrics, reporter, logger, time)
    {
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<string, RunningTask> _tasks = new(StringComparer.Ordinal);
    private FenceToken? _token;
    private string _state = "starting";
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _wakeLock = new();
    private readonly Dictionary<string, Restart> _restarts = new(StringComparer.Ordinal);
    private long? _metaReachedAt;
    private long _bytesShipped;
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();
    private readonly LagHistory _lag = new(options.LagSampleInterval, options.LagWindow, time);

    /// <summary>Bytes written to storage by every runner of this agent since it started.</summary>
    public long BytesShipped => Interlocked.Read(ref _bytesShipped);

    // The storage write guard of the current session (DESIGN §5): streams stop writing at once when it aborts.
    private WriteGuard? _guard;

    public AgentReport Report()
    {
        // Taken outside the agent's lock: the history has its own.
        var lag = _lag.Snapshot();
        lock (_lock)
        {
            return new AgentReport(
                options.Store.StoreId,
                options.Store.Generation,
                _token?.Epoch ?? 0,
                _state,
                TaskReports(),
                _metaReachedAt,
                options.Store.Version,
                _startedAt,
                lag);
        }
    }

    /// <summary>Every runner's report, by task name; called under the lock.</summary>
    private List<RunnerReport> TaskReports() => [.. _tasks.Values.Select(t => t.Runner.Report()).OrderBy(r => r.Task, StringComparer.Ordinal)];

    /// <summary>The lag sampler's tick (a timer thread): never throws, whatever a report met.</summary>
    private void SampleLag()
    {
        try
        {
            List<RunnerReport> tasks;
            lock (_lock) tasks = TaskReports();
            _lag.Sample(tasks);
        }
        catch (Exception e)
        {
            // A bug: reported, and the next tick tries again; the chart only misses a point.
            reporter.Report(ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(StoreId: options.Store.StoreId, Operation: "sample the checkpoint lag")));
        }
    }

    /// <summary>
    /// Runs until <paramref name="stop"/>; returns the process exit code (0, or 75 when halted by an epoch fence).
    /// A metadata store of the agent's own is opened first and disposed when the run ends, however it ends.
    /// </summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        using var sampler = time.CreateTimer(_ => SampleLag(), null, options.LagSampleInterval, options.LagSampleInterval);
        try
        {
            var store = await meta.OpenAsync(stop).ConfigureAwait(false);

            // The fence comes first: an obsolete deployment must exit 0 before anything else can fail.
            var storeSession = await StoreSession.OpenAsync(
                store,
                keys,
                options.Store with { Time = time, StateChanged = SetState },
                reporter,
                logger,
                stop).ConfigureAwait(false);
            var fenced = storeSession.Writer;
            lock (_lock) _token = fenced.Token;
            foreach (var definition in options.DefinedTasks) await DefineAsync(fenced, definition, stop).ConfigureAwait(false);

            await storeSession.RunAsync(
                async (registration, session) =>
                {
                    // One storage write guard per registration: streams stop writing at once when it aborts.
                    using var guard = new WriteGuard(fenced, registration, reporter, time);
                    Volatile.Write(ref _guard, guard);
                    return await RunSessionAsync(storeSession, session).ConfigureAwait(false);
                },
                stop).ConfigureAwait(false);
            return 0;
        }
        catch (FerryException e) when (e.Class == ErrorClass.Fenced)
        {
            reporter.Report(e);
            Log.Fenced(logger, options.Store.StoreId, e.Message);
            return e.Code == ErrorCodes.FenceDeployGeneration ? 0 : 75;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        catch (FerryException e) when (e.Class == ErrorClass.Cancelled && stop.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            try
            {
                await meta.CloseAsync().ConfigureAwait(false);
            }
            finally
            {
                SetState("stopped");
            }
        }
    }

    /// <summary>
    /// Records a task the agent was given. One already defined alike is left alone: a new revision of its key would
    /// restart its runner on every agent of the fleet. One defined otherwise keeps its creation time.
    /// </summary>
    private async Task DefineAsync(FencedWriter fenced, TaskDefinition definition, CancellationToken stop)
    {
        var key = keys.Task(definition.Name);
        var existing = await fenced.GetAsync(key, stop).ConfigureAwait(false) is { } kv ? MetaJson.Deserialize<TaskDefinition>(kv) : null;
        if (existing is not null)
        {
            if (existing.Databases.SequenceEqual(definition.Databases, StringComparer.Ordinal)
                && existing == definition with { CreatedAt = existing.CreatedAt, Databases = existing.Databases })
            {
                return;
            }

            definition = definition with { CreatedAt = existing.CreatedAt };
        }

        await fenced.PutAsync(key, MetaJson.Serialize(definition), cancellationToken: stop).ConfigureAwait(false);
        Log.TaskDefined(logger, definition.Name, options.Store.StoreId);
    }

    /// <summary>Runs the tasks until the session ends; returns the successor when a handover was asked for and done.</summary>
    private async Task<HandoverRequest?> RunSessionAsync(StoreSession storeSession, CancellationToken session)
    {
        var fenced = storeSession.Writer;
        using var watchStop = CancellationTokenSource.CreateLinkedTokenSource(session);
        var watching = Task.Run(() => WatchAsync(fenced, watchStop.Token), CancellationToken.None);
        HandoverRequest? successor = null;
        try
        {
            while (!session.IsCancellationRequested)
            {
                try
                {
                    successor = await storeSession.HandoverRequestedAsync(session).ConfigureAwait(false);
                    if (successor is not null)
                    {
                        SetState("handing over");
                        break;
                    }

                    await ReconcileAsync(fenced, session).ConfigureAwait(false);
                    await fenced.ThrowIfFencedAsync(session).ConfigureAwait(false);
                    lock (_lock) _metaReachedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
                }
                catch (FerryException e) when (e.Class is not (ErrorClass.Fenced or ErrorClass.SessionLost or ErrorClass.Cancelled))
                {
                    // The metadata store failed us for a moment: the runners keep shipping; report and try again.
                    reporter.Report(e);
                }

                // The watch wakes the loop on a task or fence change; the interval is the fallback.
                try
                {
                    using var timer = new CancellationTokenSource(options.ControlInterval, time);
                    using var either = CancellationTokenSource.CreateLinkedTokenSource(session, timer.Token);
                    await _wake.WaitAsync(either.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!session.IsCancellationRequested)
                {
                    // The interval passed.
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested)
        {
            // Stopping or re-bootstrapping: the runners are stopped below.
        }
        catch (FerryException e) when (e.Class == ErrorClass.Cancelled && session.IsCancellationRequested)
        {
            // The same, seen through the metadata store.
        }
        finally
        {
            await watchStop.CancelAsync().ConfigureAwait(false);
            try
            {
                // On a handover too: every runner ships what it captured and commits its position before we let go.
                await StopAllAsync().ConfigureAwait(false);
            }
            finally
            {
                // Whatever the watcher ended with is reported after the runners are stopped, never instead of it.
                await ObserveAsync(watching, "watch the task list").ConfigureAwait(false);
            }
        }

        return successor;
    }

    /// <summary>
    /// Watches the task definitions, pauses and this store's fence: a change wakes the control loop (tasks, fence)
    /// or the task's runner (pause), so a pause or a takeover is acted on at once rather than on the next round.
    /// A broken watch is reported and started again from the current revision; the periodic rounds cover the gap.
    /// </summary>
    private async Task WatchAsync(FencedWriter fenced, CancellationToken cancellationToken)
    {
        var fenceKey = keys.Fence(options.Store.StoreId);
        var handoverKey = keys.Handover(options.Store.StoreId);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var from = (await fenced.RangeAsync(keys.TasksPrefix, cancellationToken).ConfigureAwait(false)).Revision + 1;
                await foreach (var change in fenced.WatchAsync(keys.Prefix + "/", from, cancellationToken).ConfigureAwait(false))
                {
                    var key = change.Kv.Key;
                    if (key == fenceKey) Volatile.Read(ref _guard)?.FenceChanged(change);
                    if (key.StartsWith(keys.TasksPrefix, StringComparison.Ordinal) || key == fenceKey || key == handoverKey)
                    {
                        Wake();
                    }
                    else if (key.StartsWith(keys.PausePrefix, StringComparison.Ordinal))
                    {
                        RunningTask? task;
                        lock (_lock) task = _tasks.GetValueOrDefault(key[keys.PausePrefix.Length..]);
                        task?.Runner.Nudge();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (FerryException e) when (e.Class == ErrorClass.Cancelled && cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug included: reported, and the watch started again; the periodic rounds cover the gap.
                reporter.Report(ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(StoreId: options.Store.StoreId, Operation: "watch the task list"), cancellationToken));
                try
                {
                    await Task.Delay(options.ControlInterval, time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Awaits a background task that should end by cancellation; anything else it ended with is reported.</summary>
    private async Task ObserveAsync(Task task, string operation)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Asked for.
        }
        catch (Exception e)
        {
            reporter.Report(ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(StoreId: options.Store.StoreId, Operation: operation)));
        }
    }

    private void Wake()
    {
        lock (_wakeLock)
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
    }

    /// <summary>Starts a runner for each new task, stops runners of removed ones, and surfaces a runner's fence error.</summary>
    private async Task ReconcileAsync(FencedWriter fenced, CancellationToken session)
    {
        try
        {
            await ReconcileTasksAsync(fenced, session).ConfigureAwait(false);
        }
        finally
        {
            // Whatever a round met (a task whose records can't be read), the running tasks' metrics stay current.
            List<RunningTask> current;
            lock (_lock) current = [.. _tasks.Values];
            foreach (var task in current) task.Metrics.Update();
        }
    }

    private async Task ReconcileTasksAsync(FencedWriter fenced, CancellationToken session)
    {
        var range = await fenced.RangeAsync(keys.TasksPrefix, session).ConfigureAwait(false);
        var wanted = new Dictionary<string, (TaskDefinition Definition, long Revision)>(StringComparer.Ordinal);
        foreach (var kv in range.Kvs)
        {
            try
            {
                var definition = MetaJson.Deserialize<TaskDefinition>(kv);
                if (options.OnlyDefinedTasks && !options.DefinedTasks.Any(d => d.Name == definition.Name)) continue;
                wanted[definition.Name] = (definition, kv.ModRevision);
            }
            catch (FerryException e)
            {
                // One damaged task must not stop the others.
                reporter.Report(e);
            }
        }

        List<RunningTask> gone;
        // A changed definition (a new revision of its key) restarts the task's runner with it.
        lock (_lock) gone = [.. _tasks.Values.Where(t => !wanted.TryGetValue(t.Runner.Task, out var w) || w.Revision != t.Revision)];
        foreach (var task in gone)
        {
            await StopAsync(task).ConfigureAwait(false);
            _restarts.Remove(task.Runner.Task);
        }

        List<RunningTask> ended;
        lock (_lock) ended = [.. _tasks.Values.Where(t => t.Run.IsCompleted)];
        foreach (var task in ended) await RecordEndedRunnerAsync(task, fenced, session).ConfigureAwait(false);

        var now = time.GetUtcNow();
        foreach (var (definition, revision) in wanted.Values)
        {
            bool running;
            lock (_lock) running = _tasks.ContainsKey(definition.Name);
            if (running || (_restarts.TryGetValue(definition.Name, out var restart) && now < restart.At)) continue;
            try
            {
                await StartAsync(definition, revision, fenced, session).ConfigureAwait(false);
            }
            catch (FerryException e) when (e.Class is not (ErrorClass.Fenced or ErrorClass.SessionLost or ErrorClass.Cancelled))
            {
                // One task whose records can't be read (a corrupt pause value) must not keep the others from starting.
                e.AddContextDefaults(new ErrorContext(Task: definition.Name, StoreId: options.Store.StoreId, Operation: "start task"));
                reporter.Report(e);
            }
        }
    }

    /// <summary>
    /// A runner ends only when stopped: one that ended by itself during the session died of an error. A fence or a
    /// lost session ends the session. Anything else is reported with its code, recorded as the task's LastError for
    /// this store, and the runner is started again, after a growing backoff, by its class: a transient error only
    /// records; any other pauses the task too (report and pause), so the new runner waits for the operator's resume.
    /// </summary>
    private async Task RecordEndedRunnerAsync(RunningTask task, FencedWriter fenced, CancellationToken session)
    {
        var name = task.Runner.Task;
        var context = new ErrorContext(Task: name, StoreId: options.Store.StoreId, Operation: "task runner");
        var died = task.Run.Exception?.InnerException;
        if (died is FerryException { Class: ErrorClass.Fenced or ErrorClass.SessionLost } stopper) throw stopper;
        await ReleaseAsync(task).ConfigureAwait(false);
        var error = died is null
            ? new FerryException(ErrorCodes.Internal, "the task runner ended by itself while the agent still ran it", context)
            : ErrorClassifier.Classify(died, ErrorArea.Meta, context, session);
        error.AddContextDefaults(context);
        reporter.Report(error);
        var recorder = new TaskStateStore(fenced, name, reporter, time);
        if (error.Class == ErrorClass.Transient)
        {
            await recorder.RecordStreamErrorAsync(error, session).ConfigureAwait(false);
        }
        else
        {
            await recorder.ReportAndPauseAsync(error, session).ConfigureAwait(false);
        }

        // Backed off whatever the class: when even the pause could not be recorded, a runner that dies at once must
        // not be restarted in a tight loop. A death long after the last one starts the count again.
        var now = time.GetUtcNow();
        var attempt = _restarts.TryGetValue(name, out var previous) && now - previous.At < Backoff.Default.Max * 2 ? previous.Attempt + 1 : 1;
        var delay = Backoff.Default.DelayFor(attempt);
        _restarts[name] = new Restart(attempt, now + delay);
        Log.RunnerRestarting(logger, name, options.Store.StoreId, error.Code.Code, delay.TotalSeconds);
    }

    private async Task StartAsync(TaskDefinition definition, long revision, FencedWriter fenced, CancellationToken session)
    {
        IObjectStorage storage;
        try
        {
            storage = new CountedStorage(options.OpenStorage(StorageUrl.Parse(definition.Storage)), metrics, definition.Name);
        }
        catch (FerryException e)
        {
            e.AddContextDefaults(new ErrorContext(Task: definition.Name, StoreId: options.Store.StoreId, Operation: "open storage"));
            if (e.Class == ErrorClass.Transient)
            {
                // Look again next round.
                reporter.Report(e);
                return;
            }

            // Storage this task can never reach as configured (missing, refused, bad URL) is a task-wide
            // permanent error: report and pause once; the operator's resume --clear-error makes us try again.
            var records = new TaskStateStore(fenced, definition.Name, reporter, time);
            if (await records.ReadPauseAsync(session).ConfigureAwait(false) is null)
            {
                reporter.Report(e);
                await records.ReportAndPauseAsync(e, session).ConfigureAwait(false);
            }

            return;
        }

        var retention = RetentionPolicy.Of(definition.Options);
        var settings = new DatabaseStreamSettings
        {
            Storage = storage,
            StoreId = options.Store.StoreId,
            Fence = fenced.Token,
            Guard = Volatile.Read(ref _guard),
            FlushInterval = definition.Options.FlushInterval,
            Task = definition.Name,
            Time = time,
            Retention = retention,
            SnapshotInterval = retention.SnapshotInterval,
            StallTimeout = definition.Options.StallTimeout,
        };
        var runner = new TaskRunner(definition, fenced, DatabaseStream.Body(settings), TaskRunnerOptions.For(definition), reporter, time, logger);
        var runnerMetrics = new RunnerMetrics(runner, metrics);
        runner.BytesShipped += bytes => Interlocked.Add(ref _bytesShipped, bytes);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(session);
        var run = Task.Run(() => runner.RunAsync(stop.Token), CancellationToken.None);
        lock (_lock) _tasks[definition.Name] = new RunningTask(revision, runner, runnerMetrics, storage, stop, run);
        Log.TaskStarted(logger, definition.Name, options.Store.StoreId);
    }

    private async Task StopAsync(RunningTask task)
    {
        await task.Stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await task.Run.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Asked for above.
        }
        catch (Exception e)
        {
            // Whatever the runner ended with (a bug included) is reported, and the other runners still stop.
            reporter.Report(ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(Task: task.Runner.Task, StoreId: options.Store.StoreId, Operation: "task runner")));
        }
        finally
        {
            await ReleaseAsync(task).ConfigureAwait(false);
        }
    }

    /// <summary>Frees what a runner that has ended held: its token, metrics and storage, and its place in the table.</summary>
    private async Task ReleaseAsync(RunningTask task)
    {
        task.Stop.Dispose();
        task.Metrics.Dispose();
        try
        {
            await task.Storage.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            lock (_lock) _tasks.Remove(task.Runner.Task);
            Log.TaskStopped(logger, task.Runner.Task, options.Store.StoreId);
        }
    }

    private async Task StopAllAsync()
    {
        List<RunningTask> all;
        lock (_lock) all = [.. _tasks.Values];
        foreach (var task in all) await task.Stop.CancelAsync().ConfigureAwait(false);
        foreach (var task in all) await StopAsync(task).ConfigureAwait(false);
    }

    private void SetState(string state)
    {
        lock (_lock) _state = state;
    }

    /// <summary>How often a task's runner died in a row, and when it may be started again.</summary>
    private sealed record Restart(int Attempt, DateTimeOffset At);

    private sealed record RunningTask(
        long Revision,
        TaskRunner Runner,
        RunnerMetrics Metrics,
        IObjectStorage Storage,
        CancellationTokenSource Stop,
        Task Run);
}
