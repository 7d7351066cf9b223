using System.Text.Json.Serialization;

namespace Ferry.Coordination;

/// <summary>
/// The state an operator sees (DESIGN §3): of a task (RUNNING, PAUSED, PAUSED_DUE_TO_ERROR), and of a task on one
/// store (any of them), in <c>ferry task status</c>, <c>/status</c> and <c>ferry_task_state{task,state}</c> (which the
/// alert rules in docs/alerts.yml match). The names are part of those contracts: never rename one.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<TaskState>))]
public enum TaskState
{
    /// <summary>Shipping normally.</summary>
    RUNNING,

    /// <summary>A transient failure is being retried with backoff.</summary>
    RETRYING,

    /// <summary>A step made no progress within the stall timeout.</summary>
    STALLED,

    /// <summary>Some databases of the task are quarantined; the others keep shipping.</summary>
    DEGRADED,

    /// <summary>Paused by an operator.</summary>
    PAUSED,

    /// <summary>Paused by a Permanent, Integrity or Internal error; needs <c>ferry task resume TASK --clear-error</c>.</summary>
    PAUSED_DUE_TO_ERROR,

    /// <summary>The store's agent is gone (its lease expired).</summary>
    OFFLINE,
}

/// <summary>
/// Derives <see cref="TaskState"/>, the one place that does: the agent's runner (its published checkpoint and its
/// metric) and <c>ferry task status</c> (from the keys) both come here. Whether the store is there at all decides
/// first, then the task's pause, then the streams.
/// </summary>
public static class TaskStates
{
    /// <summary>A task's own state: from its pause alone.</summary>
    public static TaskState Of(PauseValue? pause) => pause?.Severity switch
    {
        null => TaskState.RUNNING,
        PauseSeverity.Manual => TaskState.PAUSED,
        _ => TaskState.PAUSED_DUE_TO_ERROR,
    };

    /// <summary>
    /// A task's state on one store. <paramref name="streams"/> is what its streams say: RUNNING, RETRYING, STALLED or
    /// DEGRADED (see <see cref="OfStreams"/>).
    /// </summary>
    public static TaskState Of(PauseValue? pause, bool online, TaskState streams)
    {
        if (!online) return TaskState.OFFLINE;
        if (pause is not null) return Of(pause);
        return streams is TaskState.RETRYING or TaskState.STALLED or TaskState.DEGRADED ? streams : TaskState.RUNNING;
    }

    /// <summary>What a store's streams say, worst first: a stall, then a retry, then a quarantined database.</summary>
    public static TaskState OfStreams(bool anyStalled, bool anyRetrying, bool anyQuarantined) =>
        anyStalled ? TaskState.STALLED : anyRetrying ? TaskState.RETRYING : anyQuarantined ? TaskState.DEGRADED : TaskState.RUNNING;

    /// <summary>
    /// A task's state on one store, from the keys: its registration (alive or not), the task's pause and the health
    /// the store last published with its checkpoint.
    /// </summary>
    public static TaskState Of(PauseValue? pause, StoreRecord? registration, Checkpoint? published) =>
        Of(pause, registration is not null, published?.StreamsState ?? TaskState.RUNNING);

    /// <summary>The name a store publishes for its streams' health in its checkpoint record (<c>state</c>), null when healthy.</summary>
    public static string? Publish(TaskState state) => state == TaskState.RUNNING ? null : state.ToString();
}
