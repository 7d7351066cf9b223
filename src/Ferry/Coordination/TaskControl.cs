using System.Text.RegularExpressions;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// The operator's task commands over the metadata store: start, pause, resume, stop and status.
/// Every change that touches more than one key is one transaction (a pause with no reason, or a reason with
/// no pause, must never be visible).
/// </summary>
public sealed partial class TaskControl(IMetaStore store, MetaKeys keys, TimeProvider time)
{
    private const int MaxCasAttempts = 5;

    public static void ValidateName(string name)
    {
        if (!TaskName().IsMatch(name))
        {
            throw new FerryException(
                ErrorCodes.ConfigInvalidArgument,
                $"invalid task name '{name}': use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
    }

    public async Task StartAsync(TaskDefinition definition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ValidateName(definition.Name);
        var key = keys.Task(definition.Name);
        var result = await store.TxnAsync(
            new TxnRequest([Compare.Absent(key)], [TxnOp.Put(key, MetaJson.Serialize(definition))]),
            cancellationToken);
        if (!result.Succeeded)
        {
            throw new FerryException(ErrorCodes.TaskExists, $"task '{definition.Name}' exists already", new ErrorContext(Task: definition.Name));
        }
    }

    /// <summary>Pauses a task by hand. Returns the pause in force afterwards (an existing one is kept, never overwritten).</summary>
    public async Task<(PauseValue Pause, bool Changed)> PauseAsync(string name, string message, string operatorId, CancellationToken cancellationToken = default)
    {
        var taskKey = keys.Task(name);
        var pauseKey = keys.Pause(name);
        var pause = new PauseValue(PauseSeverity.Manual, time.GetUtcNow().ToUnixTimeMilliseconds(), operatorId, message);
        var result = await store.TxnAsync(
            new TxnRequest(
                [Compare.Exists(taskKey), Compare.Absent(pauseKey)],
                [TxnOp.Put(pauseKey, MetaJson.Serialize(pause))],
                [TxnOp.Get(taskKey), TxnOp.Get(pauseKey)]),
            cancellationToken);
        if (result.Succeeded) return (pause, true);
        if (result.Gets[0] is null) throw NotFound(name);
        return result.Gets[1] is { } existing ? (MetaJson.Deserialize<PauseValue>(existing), false) : throw Raced(name, "pause");
    }

    /// <summary>
    /// Resumes a task. A MANUAL pause is removed; an ERROR pause only with <paramref name="clearError"/>, which
    /// removes the pause and every LastError of the task in one transaction.
    /// </summary>
    public async Task<ResumeResult> ResumeAsync(string name, bool clearError, CancellationToken cancellationToken = default)
    {
        var pauseKey = keys.Pause(name);
        for (var attempt = 0; attempt < MaxCasAttempts; attempt++)
        {
            if (await store.GetAsync(keys.Task(name), cancellationToken) is null) throw NotFound(name);
            var pauseKv = await store.GetAsync(pauseKey, cancellationToken);
            if (pauseKv is null)
            {
                // Not paused, but a store may have quarantined a database: --clear-error retries those streams.
                if (!clearError) return new ResumeResult(ResumeOutcome.NotPaused, null, []);
                var cleared = await store.TxnAsync(new TxnRequest([], [TxnOp.DeletePrefix(keys.LastErrorPrefix(name))]), cancellationToken);
                return new ResumeResult(ResumeOutcome.Resumed, null, [], cleared.Revision);
            }

            var pause = MetaJson.Deserialize<PauseValue>(pauseKv);
            if (pause.Severity == PauseSeverity.Error && !clearError)
            {
                return new ResumeResult(ResumeOutcome.RefusedPausedByError, pause, await LastErrorsAsync(name, cancellationToken));
            }

            List<TxnOp> ops = [TxnOp.Delete(pauseKey)];
            if (clearError) ops.Add(TxnOp.DeletePrefix(keys.LastErrorPrefix(name)));
            var result = await store.TxnAsync(
                new TxnRequest([Compare.ModRevisionIs(pauseKey, pauseKv.ModRevision)], ops),
                cancellationToken);
            if (result.Succeeded) return new ResumeResult(ResumeOutcome.Resumed, pause, [], result.Revision);
            // The pause changed under us (an agent re-paused it, say): decide again on what is there now.
        }

        throw Raced(name, "resume");
    }

    /// <summary>
    /// Waits until every live store has reported working on <paramref name="name"/> after the resume at
    /// <paramref name="resumedAt"/> (its checkpoint record rewritten since, and not PAUSED), or until
    /// <paramref name="timeout"/>; returns each live store's state, with why when it is not working.
    /// </summary>
    public async Task<IReadOnlyList<StoreResumeState>> WaitUntilWorkingAsync(
        string name, long resumedAt, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var live = (await store.RangeAsync(keys.StoresPrefix, cancellationToken)).Kvs
                .Select(kv => MetaKeys.StoreIdOf(kv.Key)).OfType<long>().ToList();
            var states = new List<StoreResumeState>(live.Count);
            foreach (var id in live)
            {
                var kv = await store.GetAsync(keys.Checkpoint(name, id), cancellationToken);
                var checkpoint = kv is null ? null : MetaJson.Deserialize<Checkpoint>(kv);
                var errorKv = await store.GetAsync(keys.LastError(name, id), cancellationToken);
                var error = errorKv is null ? null : MetaJson.Deserialize<LastError>(errorKv);
                states.Add(kv is null || kv.ModRevision <= resumedAt
                    ? new StoreResumeState(id, false, error is null ? "has not reported since the resume" : $"last error {error.ErrorCode}: {error.ErrorMessage}")
                    : checkpoint!.Paused
                        ? new StoreResumeState(id, false, "still paused")
                        : new StoreResumeState(id, true, checkpoint.State ?? nameof(TaskState.RUNNING)));
            }

            if (states.All(s => s.Working) || time.GetUtcNow() >= deadline) return states;
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
        }
    }

    /// <summary>Removes the task and everything under it: pause, last errors and checkpoints.</summary>
    public async Task StopAsync(string name, CancellationToken cancellationToken = default)
    {
        var taskKey = keys.Task(name);
        var result = await store.TxnAsync(
            new TxnRequest(
                [Compare.Exists(taskKey)],
                [
                    TxnOp.Delete(taskKey),
                    TxnOp.Delete(keys.Pause(name)),
                    TxnOp.DeletePrefix(keys.LastErrorPrefix(name)),
                    TxnOp.DeletePrefix(keys.CheckpointPrefix(name)),
                ]),
            cancellationToken);
        if (!result.Succeeded) throw NotFound(name);
    }

    public async Task<IReadOnlyList<LastError>> LastErrorsAsync(string name, CancellationToken cancellationToken = default)
    {
        var range = await store.RangeAsync(keys.LastErrorPrefix(name), cancellationToken);
        return [.. range.Kvs.Select(MetaJson.Deserialize<LastError>).OrderBy(e => e.StoreId)];
    }

    private static FerryException NotFound(string name) =>
        new(ErrorCodes.TaskNotFound, $"no task named '{name}'", new ErrorContext(Task: name));

    private static FerryException Raced(string name, string operation) => new(
        ErrorCodes.MetaConflict,
        $"task '{name}' kept changing during {operation}; try again",
        new ErrorContext(Task: name, Operation: operation));

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex TaskName();
}

public enum ResumeOutcome
{
    Resumed,
    NotPaused,
    RefusedPausedByError,
}

/// <summary>What resume did, the pause it found, and for a refusal the errors that caused the pause.</summary>
public sealed record ResumeResult(ResumeOutcome Outcome, PauseValue? Pause, IReadOnlyList<LastError> Errors, long Revision = 0);

/// <summary>Whether one live store is working on a task again after a resume, and if not, why not.</summary>
public sealed record StoreResumeState(long StoreId, bool Working, string Why);
