using System.Text.Json.Serialization;

namespace Ferry.Diagnostics;

/// <summary>
/// A task's state on one agent, as <c>ferry_task_state{task,state}</c> exports it and the alert rules match it
/// (docs/alerts.yml). The names are part of the metrics' contract: never rename one.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<TaskRunState>))]
public enum TaskRunState
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
}
