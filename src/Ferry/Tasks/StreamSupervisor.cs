using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Retention;

namespace Ferry.Tasks;

/// <summary>What a stream body tells its supervisor while it works.</summary>
internal interface IStreamProgress
{
    /// <summary>A non-error transition (frames read, an upload done): it feeds the watchdog.</summary>
    void Progress();

    /// <summary>Every transaction committed at or before <paramref name="checkpointAt"/> is durable in storage.</summary>
    void Shipped(DateTimeOffset checkpointAt, long bytes, string position);

    /// <summary>An error the body recovered from by itself (it goes on): reported, never passed over.</summary>
    void Recovered(FerryException error);

    /// <summary>
    /// The stream's position as published in the metadata store (what a successor would continue from), or null
    /// while none is: retention packs nothing past it.
    /// </summary>
    string? PublishedPosition { get; }

    /// <summary>A retention pass ended; <paramref name="failure"/> (reported here) when it failed. Shipping is not affected.</summary>
    void Retention(RetentionStatus status, FerryException? failure);
}

/// <summary>
/// The work of one stream: continues from <paramref name="position"/> (the last one it reported shipped, or null
/// for none) and runs until <paramref name="cancellationToken"/> asks it to stop (then it ships what it has and
/// returns) or fails with a <see cref="FerryException"/>. It must release everything on every path.
/// </summary>
internal delegate Task StreamBody(string database, string? position, IStreamProgress progress, CancellationToken cancellationToken);

public enum StreamState
{
    Starting,
    Shipping,
    Retrying,
    Stalled,
    Quarantined,
    Failed,
    Stopped,
}

/// <summary>A consistent snapshot of one stream, safe to take from any thread.</summary>
public sealed record StreamReport(
    string Database,
    StreamState State,
    int Attempt,
    DateTimeOffset? NextAttemptAt,
    FerryException? LastError,
    DateTimeOffset? CheckpointAt,
    string? Position,
    long ReplicatedBytes,
    RetentionStatus? Retention = null,
    DateTimeOffset? LastErrorAt = null);

internal enum StreamEnd
{
    /// <summary>Asked to stop; everything captured was shipped.</summary>
    Stopped,

    /// <summary>An error that belongs to this database: the stream stays down until resumed with --clear-error.</summary>
    Quarantined,

    /// <summary>An error shared by the task (or a transient one past the retry budget): the task must pause.</summary>
    TaskError,

    /// <summary>
    /// Stopped at once without shipping what was captured: the store is no longer provably this process's (Fenced,
    /// or SessionLost). Not the task's error: the agent acts on it.
    /// </summary>
    Aborted,
}

internal sealed record StreamOutcome(StreamEnd End, FerryException? Error);

internal sealed class StreamSupervisorOptions
{
    /// <summary>How long transient failures may go on before they count as permanent (default 5 min).</summary>
    public TimeSpan RetryBudget { get; init; } = TaskOptions.Defaults.RetryBudget;

    /// <summary>No progress for this long cancels the step with FERRY:Task:Stalled (default 60 s).</summary>
    public TimeSpan StallTimeout { get; init; } = TaskOptions.Defaults.StallTimeout;

    public Backoff Backoff { get; init; } = Backoff.Default;
}

/// <summary>
/// Supervises one stream (DESIGN §4): transient errors are retried with backoff and jitter, per stream, until the
/// retry budget is spent, then escalate to a task error carrying the last transient code; a stuck step is cancelled
/// by the watchdog and retried; a permanent error of this database quarantines the stream; any other
/// permanent, integrity or internal error ends the stream as a task error. Every error is reported.
/// </summary>
internal sealed class StreamSupervisor(
    string task,
    string database,
    StreamBody body,
    StreamSupervisorOptions options,
    ErrorReporter reporter,
    TimeProvider time,
    string? initialPosition = null,
    long? storeId = null,
    string? positionKey = null,
    Func<string?>? publishedPosition = null) : IStreamProgress
{
    private readonly Lock _lock = new();
    private StreamReport _report = new(database, StreamState.Starting, 0, null, null, null, initialPosition, 0);
    private Watchdog? _watchdog;
    private volatile bool _shippedSinceLastError;

    public string Database => database;

    /// <summary>Called after every state change, outside the supervisor's lock.</summary>
    public event Action<StreamReport>? Changed;

    /// <summary>Called on every shipment with the bytes written to storage and the checkpoint it reached.</summary>
    public event Action<long, DateTimeOffset>? Shipped;

    /// <summary>Called before each retry of a transient error (or a stall).</summary>
    public event Action<FerryException>? Retrying;

    public StreamReport Report()
    {
        lock (_lock) return _report;
    }

    public async Task<StreamOutcome> RunAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset? failingSince = null;
        var attempt = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var watchdog = new Watchdog(options.StallTimeout, time);
            using var step = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token);
            Volatile.Write(ref _watchdog, watchdog);
            Update(r => r with { State = attempt == 0 ? StreamState.Shipping : r.State, NextAttemptAt = null });
            FerryException error;
            try
            {
                await body(database, Report().Position, this, step.Token).ConfigureAwait(false);
                if (cancellationToken.IsCancellationRequested || !watchdog.HasStalled)
                {
                    Update(r => r with { State = StreamState.Stopped });
                    return new StreamOutcome(StreamEnd.Stopped, null);
                }

                error = watchdog.StalledError(Context(), "the stream");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Update(r => r with { State = StreamState.Stopped });
                return new StreamOutcome(StreamEnd.Stopped, null);
            }
            catch (Exception e) when (watchdog.HasStalled && e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled or ErrorClass.Transient })
            {
                error = watchdog.StalledError(Context(), "the stream");
                error.AddSuppressed(e);
            }
            catch (FerryException e) when (e.Class == ErrorClass.Cancelled && cancellationToken.IsCancellationRequested)
            {
                Update(r => r with { State = StreamState.Stopped });
                return new StreamOutcome(StreamEnd.Stopped, null);
            }
            catch (FerryException e)
            {
                error = e;
            }
            catch (Exception e)
            {
                // A body must fail with Ferry errors; anything else (a cancellation not ours is a deadline) is
                // classified, a bug handled as one (report and pause), never left to take the runner down.
                error = ErrorClassifier.Classify(e, ErrorArea.Database, Context(), cancellationToken);
            }
            finally
            {
                Volatile.Write(ref _watchdog, null);
            }

            // Storage and capture errors know their operation, not whose stream they broke: say so in the log line,
            // the LastError and ferry_errors_total{task}.
            error.AddContextDefaults(Context());
            reporter.Report(error);
            if (error.Class is ErrorClass.Fenced or ErrorClass.SessionLost)
            {
                // Never retried here, never the task's error to record: writing stopped, the agent decides what follows.
                Update(r => r with { State = StreamState.Stopped, LastError = error });
                return new StreamOutcome(StreamEnd.Aborted, error);
            }

            if (_shippedSinceLastError)
            {
                // The stream shipped since the last failure: this is a new streak with a fresh budget.
                _shippedSinceLastError = false;
                failingSince = null;
                attempt = 0;
            }

            if (error.Class == ErrorClass.Transient)
            {
                var now = time.GetUtcNow();
                failingSince ??= now;
                if (now - failingSince.Value >= options.RetryBudget)
                {
                    var escalated = new FerryException(
                        error.Code,
                        $"{error.Message} (still failing after the retry budget of {options.RetryBudget.TotalSeconds:0} s; {attempt + 1} attempts)",
                        error.Context,
                        error);
                    // A new error (its own id, in the LastError the runner records): reported like any other.
                    reporter.Report(escalated);
                    Update(r => r with { State = StreamState.Failed, LastError = escalated });
                    return new StreamOutcome(StreamEnd.TaskError, escalated);
                }

                attempt++;
                var delay = options.Backoff.DelayFor(attempt);
                var state = error.Code == ErrorCodes.TaskStalled ? StreamState.Stalled : StreamState.Retrying;
                Retrying?.Invoke(error);
                var next = now + delay;
                Update(r => r with { State = state, Attempt = attempt, NextAttemptAt = next, LastError = error });
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (error.Class is ErrorClass.Permanent or ErrorClass.Integrity && ErrorScopes.Of(error) == ErrorScope.Stream)
            {
                Update(r => r with { State = StreamState.Quarantined, LastError = error });
                return new StreamOutcome(StreamEnd.Quarantined, error);
            }

            Update(r => r with { State = StreamState.Failed, LastError = error });
            return new StreamOutcome(StreamEnd.TaskError, error);
        }
    }

    void IStreamProgress.Progress() => Volatile.Read(ref _watchdog)?.Progress();

    void IStreamProgress.Shipped(DateTimeOffset checkpointAt, long bytes, string position)
    {
        Volatile.Read(ref _watchdog)?.Progress();
        _shippedSinceLastError = true;
        // A successful shipment ends a failing streak: the stream is healthy again.
        Update(r => r with
        {
            State = StreamState.Shipping,
            Attempt = 0,
            NextAttemptAt = null,
            CheckpointAt = checkpointAt,
            Position = position,
            ReplicatedBytes = r.ReplicatedBytes + bytes,
        });
        Shipped?.Invoke(bytes, checkpointAt);
    }

    void IStreamProgress.Recovered(FerryException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        // The position came from the task's checkpoint key: name it, so the operator can look at what was there.
        error.AddContextDefaults(Context() with { Operation = positionKey is null ? null : $"read the saved position in {positionKey}" });
        reporter.Report(error);
    }

    string? IStreamProgress.PublishedPosition => publishedPosition?.Invoke();

    void IStreamProgress.Retention(RetentionStatus status, FerryException? failure)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (failure is not null)
        {
            failure.AddContextDefaults(Context());
            reporter.Report(failure);
        }

        Update(r => r with { Retention = status });
    }

    private ErrorContext Context() => new(Task: task, StoreId: storeId, Database: database);

    private void Update(Func<StreamReport, StreamReport> change)
    {
        StreamReport updated;
        lock (_lock)
        {
            updated = change(_report);
            if (updated == _report) return;
            // When the error happened, stamped here for every change of it, so no caller can forget it.
            if (!ReferenceEquals(updated.LastError, _report.LastError)) updated = updated with { LastErrorAt = updated.LastError is null ? null : time.GetUtcNow() };
            _report = updated;
        }

        Changed?.Invoke(updated);
    }
}
