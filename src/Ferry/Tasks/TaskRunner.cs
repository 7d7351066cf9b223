using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tasks;

/// <summary>The runner's states (DESIGN §6, after zrepl).</summary>
public enum RunnerState
{
    Planning,
    PlanningError,
    Working,
    WorkingWait,
    Completed,
    PermanentError,
    Paused,
}

/// <summary>A consistent snapshot of a runner and its streams, safe to take from any thread.</summary>
public sealed record RunnerReport(
    string Task,
    long StoreId,
    RunnerState State,
    DateTimeOffset Since,
    IReadOnlyList<StreamReport> Streams,
    FerryException? LastError,
    PauseValue? Pause = null,
    DateTimeOffset? LastErrorAt = null,
    DateTimeOffset? CheckpointAt = null,
    Checkpoint? Published = null)
{
    /// <summary>The state an operator sees of this task on this store (<see cref="TaskStates"/>).</summary>
    public TaskState OperatorState => TaskStates.Of(
        Pause,
        online: true,
        TaskStates.OfStreams(
            Streams.Any(s => s.State == StreamState.Stalled),
            Streams.Any(s => s.State == StreamState.Retrying),
            Streams.Any(s => s.State == StreamState.Quarantined)));
}

internal sealed class TaskRunnerOptions
{
    public StreamSupervisorOptions Stream { get; init; } = new();

    /// <summary>How often the runner reads the task's pause and errors, and looks for new databases.</summary>
    public TimeSpan ControlInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Wait after a planning error before planning again.</summary>
    public TimeSpan PlanningRetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// With the task's auto-resume on, the first probe of a pause caused by an exhausted retry budget comes this
    /// long after the pause; each further one waits twice as long, up to <see cref="AutoResumeMaxDelay"/>.
    /// </summary>
    public TimeSpan AutoResumeInitialDelay { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan AutoResumeMaxDelay { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long the checkpoint written on the way out may take (default 5 s).</summary>
    public TimeSpan FinalCheckpointTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The runner options a task asks for.</summary>
    public static TaskRunnerOptions For(TaskDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new()
        {
            Stream = new StreamSupervisorOptions
            {
                RetryBudget = definition.Options.RetryBudget,
                StallTimeout = definition.Options.StallTimeout,
            },
        };
    }
}

/// <summary>
/// Runs one task on one store: plans the streams (databases matching the task's globs), supervises one stream per
/// database, publishes the store's checkpoint and state, and handles errors by scope and class: a stream error of
/// one database quarantines it (LastError names it, the store shows DEGRADED, the others go on); a task error
/// reports and pauses the task and stops every stream; a pause, from anyone, stops every stream until it is
/// removed. A resume that clears this store's LastError restarts quarantined streams.
/// </summary>
internal sealed class TaskRunner(
    TaskDefinition definition,
    FencedWriter store,
    StreamBody body,
    TaskRunnerOptions options,
    ErrorReporter reporter,
    TimeProvider time,
    ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, RunningStream> _streams = new(StringComparer.Ordinal);
    private readonly TaskStateStore _records = new(store, definition.Name, reporter, time);
    private readonly long _storeId = store.StoreId;
    private RunnerState _state = RunnerState.Planning;
    private DateTimeOffset _since = time.GetUtcNow();
    private FerryException? _lastError;
    private DateTimeOffset? _lastErrorAt;
    private PauseValue? _pause;
    private bool _lagReported;
    private IReadOnlyList<string>? _planned;
    private DateTimeOffset _plannedAt;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _wakeLock = new();
    private FerryException? _unrecordedPause;
    private int _autoResumes;
    private Checkpoint? _published;

    // What the streams stopped last reached (a graceful stop ships what they captured): the checkpoint of rounds
    // with no stream running, so the final one counts that last shipment.
    private long? _stoppedAt;

    // The metadata failure shown as the last error, until a round reaches the store again.
    private FerryException? _metaFailure;

    // Positions outlive their streams (a pause, a stop) so the published checkpoint never forgets where a stream was.
    private readonly Dictionary<string, string> _positions = new(StringComparer.Ordinal);

    public string Task => definition.Name;

    /// <summary>Called on every runner state change (for logs and the state-duration metric).</summary>
    public event Action<RunnerState, RunnerState, TimeSpan>? StateChanged;

    /// <summary>Called when any stream ships: bytes written to storage.</summary>
    public event Action<long>? BytesShipped;

    /// <summary>Called before any stream retries a transient error.</summary>
    public event Action<FerryException>? Retrying;

    public RunnerReport Report()
    {
        lock (_lock)
        {
            List<StreamReport> streams = [.. _streams.Values.Select(s => s.Supervisor.Report()).OrderBy(r => r.Database, StringComparer.Ordinal)];
            var published = Volatile.Read(ref _published);
            var checkpoint = CheckpointOf(streams, published);
            return new RunnerReport(
                definition.Name,
                _storeId,
                _state,
                _since,
                streams,
                _lastError,
                _pause,
                _lastErrorAt,
                checkpoint == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(checkpoint),
                published);
        }
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> stops it; every stream ships what it has first.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await RunOnceAsync(cancellationToken).ConfigureAwait(false);
                    ClearMetaFailure();
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // Stopping: the finally below ships what the streams have and publishes the last checkpoint.
                }
                catch (FerryException e) when (e.Class == ErrorClass.Cancelled && cancellationToken.IsCancellationRequested)
                {
                    // The same, seen through the metadata store.
                }
                catch (FerryException e) when (e.Class is not (ErrorClass.SessionLost or ErrorClass.Fenced or ErrorClass.Cancelled))
                {
                    // The metadata store failed us (unreachable, a damaged key): the streams keep shipping, the
                    // error is reported, and the next round tries again.
                    reporter.Report(e);
                    lock (_lock) SetLastError(_metaFailure = e);
                    await DelayAsync(options.ControlInterval, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await StopStreamsAsync().ConfigureAwait(false);
            if (_state != RunnerState.PermanentError) Enter(RunnerState.Completed);
            await PublishFinalCheckpointAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A round went through: a metadata failure it showed is over (a stream's own error stays).</summary>
    private void ClearMetaFailure()
    {
        lock (_lock)
        {
            if (_metaFailure is null) return;
            if (ReferenceEquals(_lastError, _metaFailure)) SetLastError(null);
            _metaFailure = null;
        }
    }

    /// <summary>One round of the control loop: pause, plan, start, collect ended streams, publish.</summary>
    private async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        if (_published is null) await LoadCheckpointAsync(cancellationToken).ConfigureAwait(false);
        if (_unrecordedPause is { } unrecorded)
        {
            // The pause could not be written: the task stays paused here while this store keeps trying to record
            // it, so the error is neither lost nor silently retried past.
            if (!await _records.ReportAndPauseAsync(unrecorded, cancellationToken).ConfigureAwait(false))
            {
                Enter(RunnerState.Paused);
                await DelayAsync(options.ControlInterval, cancellationToken).ConfigureAwait(false);
                return;
            }

            _unrecordedPause = null;
        }

        var pause = await _records.ReadPauseAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock) _pause = pause;
        if (pause is not null && await TryAutoResumeAsync(pause, cancellationToken).ConfigureAwait(false))
        {
            pause = null;
            lock (_lock) _pause = null;
        }

        if (pause is not null)
        {
            await StopStreamsAsync().ConfigureAwait(false);
            // Said once per pause, also to a process that starts on a paused task: it runs, and ships nothing.
            if (_state != RunnerState.Paused) LogPause(pause);
            Enter(RunnerState.Paused);
            await DelayAsync(options.ControlInterval, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (_state is RunnerState.Paused or RunnerState.PermanentError) Enter(RunnerState.Planning);

        IReadOnlyList<string> databases;
        try
        {
            // Rounds also run on every stream change (to publish at once); the directories are listed again only
            // once per control interval, which is how soon a new database is picked up.
            if (_planned is null || time.GetUtcNow() - _plannedAt >= options.ControlInterval)
            {
                _planned = DatabaseGlobs.Expand(definition.Databases);
                _plannedAt = time.GetUtcNow();
            }

            databases = _planned;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var error = ErrorClassifier.Classify(e, ErrorArea.Database, new ErrorContext(Task: definition.Name, StoreId: _storeId, Operation: "plan"), cancellationToken);
            reporter.Report(error);
            lock (_lock) SetLastError(error);
            Enter(RunnerState.PlanningError);
            await DelayAsync(options.PlanningRetryInterval, cancellationToken).ConfigureAwait(false);
            return;
        }

        await ClearQuarantineIfResumedAsync(cancellationToken).ConfigureAwait(false);
        foreach (var database in databases) StartStream(database, cancellationToken);
        Enter(databases.Count == 0 ? RunnerState.WorkingWait : RunnerState.Working);

        if (await HandleEndedStreamsAsync(cancellationToken).ConfigureAwait(false))
        {
            await StopStreamsAsync().ConfigureAwait(false);
            Enter(RunnerState.PermanentError);
            return;
        }

        await PublishCheckpointAsync(cancellationToken).ConfigureAwait(false);
        await DelayAsync(options.ControlInterval, cancellationToken).ConfigureAwait(false);
    }

    private void StartStream(string database, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_streams.ContainsKey(database)) return;
            var supervisor = new StreamSupervisor(
                definition.Name, database, body, options.Stream, reporter, time, _positions.GetValueOrDefault(database), _storeId,
                _records.CheckpointKey, () => Volatile.Read(ref _published)?.Streams?.GetValueOrDefault(database));
            supervisor.Shipped += (bytes, _) => BytesShipped?.Invoke(bytes);
            supervisor.Retrying += error => Retrying?.Invoke(error);
            // Any change of a stream (a shipment, a retry, an end) starts the next round at once: the checkpoint
            // is published, and an error recorded, without waiting out the control interval.
            supervisor.Changed += _ => Wake();
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _streams[database] = new RunningStream(supervisor, stop, supervisor.RunAsync(stop.Token));
        }
    }

    /// <summary>Records what ended streams left behind; true when one ended with a task error (the task must pause).</summary>
    private async Task<bool> HandleEndedStreamsAsync(CancellationToken cancellationToken)
    {
        List<RunningStream> ended;
        lock (_lock) ended = [.. _streams.Values.Where(s => s.Run.IsCompleted && !s.Recorded)];
        var taskError = false;
        foreach (var stream in ended)
        {
            stream.Recorded = true;
            var outcome = await stream.Run.ConfigureAwait(false);
            if (outcome.Error is null) continue;
            var error = outcome.Error;
            lock (_lock) SetLastError(error);

            // Fenced out: every stream of this process was aborted with this one; the runner stops and the agent exits.
            // A lost session ends the agent's session, which stops this runner too.
            if (outcome.End == StreamEnd.Aborted && error.Class == ErrorClass.Fenced) throw error;
            if (outcome.End == StreamEnd.Aborted) continue;
            if (outcome.End == StreamEnd.Quarantined)
            {
                await _records.RecordStreamErrorAsync(error, cancellationToken).ConfigureAwait(false);
            }
            else if (outcome.End == StreamEnd.TaskError)
            {
                if (!await _records.ReportAndPauseAsync(error, cancellationToken).ConfigureAwait(false))
                {
                    _unrecordedPause = error;
                }

                taskError = true;
            }
        }

        return taskError;
    }

    /// <summary>
    /// A quarantined stream stays down while this store's LastError is there; <c>resume --clear-error</c> deletes
    /// it, and then the stream is planned again.
    /// </summary>
    private async Task ClearQuarantineIfResumedAsync(CancellationToken cancellationToken)
    {
        List<string> quarantined;
        lock (_lock) quarantined = [.. _streams.Where(s => s.Value.Run.IsCompleted && s.Value.Recorded).Select(s => s.Key)];
        if (quarantined.Count == 0) return;
        if (await _records.HasLastErrorAsync(cancellationToken).ConfigureAwait(false)) return;
        lock (_lock)
        {
            foreach (var database in quarantined)
            {
                _streams[database].Stop.Dispose();
                _streams.Remove(database);
            }

            SetLastError(null);
        }
    }

    private async Task StopStreamsAsync()
    {
        List<RunningStream> running;
        lock (_lock) running = [.. _streams.Values];
        foreach (var stream in running) await stream.Stop.CancelAsync().ConfigureAwait(false);
        foreach (var stream in running)
        {
            // Outcomes were recorded (or are moot: we are stopping); a stream never throws past its supervisor
            // except for the cancellation we asked for.
            try
            {
                await stream.Run.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Asked for above.
            }

            stream.Stop.Dispose();
        }

        // Their last reports hold the last shipment (a stop ships what was captured): kept for the checkpoint.
        var finals = running.Select(s => s.Supervisor.Report()).ToList();
        foreach (var final in finals)
        {
            if (final.Position is not null) _positions[final.Database] = final.Position;
        }

        var healthy = finals.Where(r => r.State != StreamState.Quarantined).ToList();
        lock (_lock)
        {
            if (healthy.Count > 0 && healthy.All(r => r.CheckpointAt is not null)) _stoppedAt = healthy.Min(r => r.CheckpointAt!.Value).ToUnixTimeMilliseconds();
            foreach (var stream in running) _streams.Remove(stream.Supervisor.Database);
        }
    }

    /// <summary>
    /// A pause that came from an exhausted retry budget may clear by itself (a partition heals). With the task's
    /// auto-resume on, this store probes it with a growing backoff: it removes the pause and its own LastError in
    /// one transaction (only if the pause is still the one it saw) and lets the streams try again; if the cause
    /// persists, the budget runs out and the task pauses again. Never for a non-transient cause (integrity,
    /// permission, internal), and never for a pause this store did not cause.
    /// </summary>
    private async Task<bool> TryAutoResumeAsync(PauseValue pause, CancellationToken cancellationToken)
    {
        if (!definition.Options.AutoResume || pause.Severity != PauseSeverity.Error) return false;
        if (pause.ErrorCode is not { } code || ErrorCodes.Find(code)?.Class != ErrorClass.Transient) return false;
        // Due a growing delay after this pause began: derived from the pause each time, so a pause an operator
        // cleared before it was due leaves nothing behind for the next one.
        var delay = TimeSpan.FromTicks(Math.Min(
            options.AutoResumeMaxDelay.Ticks,
            options.AutoResumeInitialDelay.Ticks * (1L << Math.Min(_autoResumes, 20))));
        if (time.GetUtcNow() < DateTimeOffset.FromUnixTimeMilliseconds(pause.At) + delay) return false;
        if (!await _records.TryAutoResumeAsync(code, cancellationToken).ConfigureAwait(false)) return false;
        _autoResumes++;
        lock (_lock) SetLastError(null);
        Log.AutoResumed(_logger, definition.Name, _storeId, code, _autoResumes);
        return true;
    }

    /// <summary>Where this store's streams stood when it last ran: streams continue from there.</summary>
    private async Task LoadCheckpointAsync(CancellationToken cancellationToken)
    {
        var saved = await _records.ReadCheckpointAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            foreach (var (database, position) in saved.Streams ?? new Dictionary<string, string>()) _positions.TryAdd(database, position);
        }

        _published = saved;
    }

    private Checkpoint CurrentCheckpoint()
    {
        var report = Report();
        var checkpoint = report.CheckpointAt?.ToUnixTimeMilliseconds() ?? 0;
        foreach (var stream in report.Streams)
        {
            if (stream.Position is not null) _positions[stream.Database] = stream.Position;
        }

        var streams = new Dictionary<string, string>(_positions, StringComparer.Ordinal);
        var retrying = report.Streams.FirstOrDefault(s => s.State is StreamState.Retrying or StreamState.Stalled);
        // Published while paused too, so `resume --wait` sees each store move on from a pause.
        var state = TaskStates.Publish(report.OperatorState);
        var detail = retrying?.LastError?.ToOneLine()
            ?? report.Streams.FirstOrDefault(s => s.State == StreamState.Quarantined)?.LastError?.ToOneLine();
        var retention = report.Streams.Where(s => s.Retention is { LastPassAt: not null }).ToDictionary(
            s => s.Database,
            s => new RetentionRecord(
                s.Retention!.OldestRestorable?.ToUnixTimeMilliseconds(),
                s.Retention.NewestRestorable?.ToUnixTimeMilliseconds(),
                s.Retention.Objects,
                s.Retention.Bytes,
                s.Retention.LastPassAt?.ToUnixTimeMilliseconds(),
                s.Retention.FailedPasses,
                s.Retention.LastError?.Code.Code,
                s.Retention.LastError?.Message),
            StringComparer.Ordinal);
        return new Checkpoint(checkpoint, streams, state, retrying?.Attempt, retrying?.NextAttemptAt?.ToUnixTimeMilliseconds(), detail,
            retention.Count == 0 ? _published?.Retention : retention);
    }

    /// <summary>
    /// The store's checkpoint (unix ms, 0 for none yet): the oldest position of its healthy streams; with none running
    /// (paused, stopped), where they stopped or what was last published. Called under the lock.
    /// </summary>
    private long CheckpointOf(IReadOnlyList<StreamReport> streams, Checkpoint? published)
    {
        var healthy = streams.Where(s => s.State is not StreamState.Quarantined).ToList();
        return healthy.Count == 0 ? Math.Max(_stoppedAt ?? 0, published?.Ts ?? 0)
            : healthy.Any(s => s.CheckpointAt is null) ? published?.Ts ?? 0
            : healthy.Min(s => s.CheckpointAt!.Value).ToUnixTimeMilliseconds();
    }

    /// <summary>Sets the last error and when it happened; called under the lock.</summary>
    private void SetLastError(FerryException? error)
    {
        if (ReferenceEquals(error, _lastError)) return;
        _lastError = error;
        _lastErrorAt = error is null ? null : time.GetUtcNow();
    }

    private async Task PublishCheckpointAsync(CancellationToken cancellationToken)
    {
        try
        {
            await WriteCheckpointAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (FerryException e) when (e.Class != ErrorClass.Fenced)
        {
            // The next round publishes again; the error itself is reported, never dropped. Refused by the fence, it
            // ends the runner instead (the streams' guard has stopped their writes already).
            reporter.Report(e);
        }
    }

    private async Task WriteCheckpointAsync(CancellationToken cancellationToken)
    {
        var checkpoint = CurrentCheckpoint();
        CheckLag(checkpoint);
        if (_published is not null && SameCheckpoint(_published, checkpoint)) return;
        await _records.PublishCheckpointAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        _published = checkpoint;
    }

    /// <summary>
    /// Reports FERRY:Task:LagExceeded once each time the checkpoint falls further behind than the task's max lag,
    /// so an alert can fire before anyone asks; it is reported again only after the lag has recovered.
    /// </summary>
    private void CheckLag(Checkpoint checkpoint)
    {
        if (definition.Options.MaxLag is not { } maxLagSpan || checkpoint.Ts == 0 || _state != RunnerState.Working) return;
        var maxLag = (long)maxLagSpan.TotalMilliseconds;
        var lag = time.GetUtcNow().ToUnixTimeMilliseconds() - checkpoint.Ts;
        if (lag <= maxLag)
        {
            _lagReported = false;
            return;
        }

        if (_lagReported) return;
        _lagReported = true;
        reporter.Report(new FerryException(
            ErrorCodes.TaskLagExceeded,
            $"the checkpoint is {lag / 1000.0:0.#} s behind, more than the task's max lag of {maxLag / 1000.0:0.#} s",
            new ErrorContext(Task: definition.Name, StoreId: _storeId)));
    }

    /// <summary>
    /// The last checkpoint, on the way out: under its own deadline, since the caller's token is already cancelled. A
    /// deadline that fires is a timeout, reported as one; a cancellation would be dropped by the reporter.
    /// </summary>
    private async Task PublishFinalCheckpointAsync()
    {
        try
        {
            await Deadline.RunAsync(
                options.FinalCheckpointTimeout,
                ErrorArea.Meta,
                new ErrorContext(Task: definition.Name, StoreId: _storeId, Operation: "publish the final checkpoint"),
                WriteCheckpointAsync).ConfigureAwait(false);
        }
        catch (FerryException e)
        {
            reporter.Report(e);
        }
    }

    private static bool SameCheckpoint(Checkpoint a, Checkpoint b) =>
        a.Ts == b.Ts && a.State == b.State && a.Attempt == b.Attempt && a.NextAttemptAt == b.NextAttemptAt && a.Detail == b.Detail
        && (a.Streams ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key).SequenceEqual((b.Streams ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key))
        && (a.Retention ?? new Dictionary<string, RetentionRecord>()).OrderBy(kv => kv.Key).SequenceEqual((b.Retention ?? new Dictionary<string, RetentionRecord>()).OrderBy(kv => kv.Key));

    private void LogPause(PauseValue pause)
    {
        var reason = pause.Severity == PauseSeverity.Error
            ? $"due to error {pause.ErrorCode ?? "?"}: {pause.Message}"
            : $"by an operator: {pause.Message}";
        var resume = $"ferry task resume {definition.Name}{(pause.Severity == PauseSeverity.Error ? " --clear-error" : "")}";
        Log.TaskIsPaused(_logger, definition.Name, _storeId, reason, DateTimeOffset.FromUnixTimeMilliseconds(pause.At), pause.Operator, resume);
    }

    private void Enter(RunnerState next)
    {
        RunnerState previous;
        TimeSpan spent;
        lock (_lock)
        {
            if (_state == next) return;
            previous = _state;
            var now = time.GetUtcNow();
            spent = now - _since;
            _state = next;
            _since = now;
        }

        Log.RunnerTransition(_logger, definition.Name, _storeId, previous, next, spent.TotalSeconds);
        StateChanged?.Invoke(previous, next, spent);
    }

    /// <summary>Waits for <paramref name="delay"/>, or less when a stream changed meanwhile.</summary>
    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new CancellationTokenSource(delay, time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
            await _wake.WaitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The interval passed, or we are stopping (the loop condition ends the run).
        }
    }

    /// <summary>Starts the next control round now (e.g. the agent saw this task's pause key change).</summary>
    public void Nudge() => Wake();

    private void Wake()
    {
        lock (_wakeLock)
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
    }

    private sealed class RunningStream(StreamSupervisor supervisor, CancellationTokenSource stop, Task<StreamOutcome> run)
    {
        public StreamSupervisor Supervisor { get; } = supervisor;

        public CancellationTokenSource Stop { get; } = stop;

        public Task<StreamOutcome> Run { get; } = run;

        public bool Recorded { get; set; }
    }
}
