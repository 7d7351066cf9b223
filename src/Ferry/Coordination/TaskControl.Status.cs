using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>A task's status as derived from its keys (DESIGN §3).</summary>
public sealed record TaskStatusReport(
    string Name,
    TaskState Status,
    long? GlobalCheckpoint,
    PauseValue? Pause,
    TaskDefinition Definition,
    IReadOnlyList<StoreStatusReport> Stores);

/// <summary>One store's part in a task: its state, checkpoint and last error.</summary>
public sealed record StoreStatusReport(
    long StoreId,
    TaskState State,
    long? Checkpoint,
    LastError? LastError,
    StoreRecord? Registration,
    Checkpoint? CheckpointRecord);

public sealed partial class TaskControl
{
    /// <summary>Status of one task, or of every task when <paramref name="name"/> is null.</summary>
    public async Task<IReadOnlyList<TaskStatusReport>> StatusAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        List<TaskDefinition> tasks;
        if (name is null)
        {
            var range = await store.RangeAsync(keys.TasksPrefix, cancellationToken);
            tasks = [.. range.Kvs.Select(MetaJson.Deserialize<TaskDefinition>)];
        }
        else
        {
            var kv = await store.GetAsync(keys.Task(name), cancellationToken) ?? throw NotFound(name);
            tasks = [MetaJson.Deserialize<TaskDefinition>(kv)];
        }

        var stores = new Dictionary<long, StoreRecord>();
        foreach (var kv in (await store.RangeAsync(keys.StoresPrefix, cancellationToken)).Kvs)
        {
            if (MetaKeys.StoreIdOf(kv.Key) is { } id) stores[id] = MetaJson.Deserialize<StoreRecord>(kv);
        }

        var reports = new List<TaskStatusReport>(tasks.Count);
        foreach (var task in tasks)
        {
            reports.Add(await StatusOfAsync(task, stores, cancellationToken));
        }

        return reports;
    }

    private async Task<TaskStatusReport> StatusOfAsync(TaskDefinition task, Dictionary<long, StoreRecord> live, CancellationToken cancellationToken)
    {
        var pauseKv = await store.GetAsync(keys.Pause(task.Name), cancellationToken);
        var pause = pauseKv is null ? null : MetaJson.Deserialize<PauseValue>(pauseKv);
        var status = TaskStates.Of(pause);

        var errors = new Dictionary<long, LastError>();
        foreach (var kv in (await store.RangeAsync(keys.LastErrorPrefix(task.Name), cancellationToken)).Kvs)
        {
            var error = MetaJson.Deserialize<LastError>(kv);
            // The key names the store; a record written by hand may lack store_id.
            var id = MetaKeys.StoreIdOf(kv.Key) ?? error.StoreId;
            errors[id] = error.StoreId == id ? error : error with { StoreId = id };
        }

        var checkpoints = new Dictionary<long, Checkpoint>();
        foreach (var kv in (await store.RangeAsync(keys.CheckpointPrefix(task.Name), cancellationToken)).Kvs)
        {
            if (MetaKeys.StoreIdOf(kv.Key) is { } id) checkpoints[id] = MetaJson.Deserialize<Checkpoint>(kv);
        }

        var storeIds = live.Keys.Concat(errors.Keys).Concat(checkpoints.Keys).Distinct().Order();
        var stores = storeIds.Select(id =>
        {
            var registration = live.GetValueOrDefault(id);
            var checkpoint = checkpoints.GetValueOrDefault(id);
            return new StoreStatusReport(
                id,
                TaskStates.Of(pause, registration, checkpoint),
                checkpoint?.Ts,
                errors.GetValueOrDefault(id),
                registration,
                checkpoint);
        }).ToList();

        var withCheckpoint = stores.Where(s => s.Checkpoint is not null).ToList();
        long? global = withCheckpoint.Count == 0 ? null : withCheckpoint.Min(s => s.Checkpoint!.Value);
        return new TaskStatusReport(task.Name, status, global, pause, task, stores);
    }

    /// <summary>The registry hint for a recorded error code, or null for a code this Ferry does not know.</summary>
    public static string? HintFor(string errorCode) => ErrorCodes.Find(errorCode)?.Hint;
}
