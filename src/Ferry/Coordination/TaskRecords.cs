using System.Text.Json.Serialization;

namespace Ferry.Coordination;

/// <summary>
/// <c>{p}/tasks/{task}</c>: a cluster-wide backup stream. Written by the CLI. The optional settings are absent
/// from older records and then take their defaults; <see cref="TaskOptions"/> reads and writes them.
/// </summary>
public sealed record TaskDefinition(
    string Name,
    IReadOnlyList<string> Databases,
    string Storage,
    long FlushIntervalMs,
    long CreatedAt,
    long? RetryBudgetMs = null,
    long? StallTimeoutMs = null,
    long? MaxLagMs = null,
    bool? AutoResume = null,
    long? RetentionMs = null,
    long? RetentionGraceMs = null)
{
    /// <summary>The task's settings, with defaults for what the record lacks.</summary>
    public TaskOptions Options => TaskOptions.Of(this);
}

public enum PauseSeverity
{
    Manual,
    Error,
}

/// <summary><c>{p}/pause/{task}</c>: present means paused. <c>at</c> is unix ms; <c>operator</c> is host:pid.</summary>
public sealed record PauseValue(
    PauseSeverity Severity,
    long At,
    string Operator,
    string Message,
    string? ErrorCode = null);

/// <summary><c>{p}/last_error/{task}/{store_id}</c>: the last error a store reported for a task.</summary>
public sealed record LastError(
    long HappenAt,
    string ErrorCode,
    string ErrorMessage,
    long StoreId,
    long Generation,
    long Epoch,
    string? Context,
    long Count,
    string? ErrorId = null);

/// <summary>
/// <c>{p}/checkpoint/{task}/{store_id}</c>: every transaction committed on that store at or before <c>ts</c>
/// (unix ms) is durable in storage. The optional state fields let a store publish RETRYING or STALLED.
/// </summary>
public sealed record Checkpoint(
    long Ts,
    IReadOnlyDictionary<string, string>? Streams = null,
    string? State = null,
    int? Attempt = null,
    long? NextAttemptAt = null,
    string? Detail = null,
    IReadOnlyDictionary<string, RetentionRecord>? Retention = null)
{
    /// <summary>What the store's streams said when it published this (<see cref="State"/>, absent when all was well).</summary>
    [JsonIgnore]
    public TaskState StreamsState => State is nameof(TaskState.RETRYING) or nameof(TaskState.STALLED) or nameof(TaskState.DEGRADED)
        ? Enum.Parse<TaskState>(State)
        : TaskState.RUNNING;

    /// <summary>Whether the store said it was paused when it published this (what <c>resume --wait</c> waits past).</summary>
    [JsonIgnore]
    public bool Paused => State is nameof(TaskState.PAUSED) or nameof(TaskState.PAUSED_DUE_TO_ERROR);
}

/// <summary>
/// One database's storage lifecycle as the store's last retention pass left it (in its checkpoint record): the
/// restorable window (unix ms), the objects and bytes storage holds, and while passes fail, how many in a row and
/// the last error. A lifecycle error never pauses the task: it is shown here and counted.
/// </summary>
public sealed record RetentionRecord(
    long? OldestRestorable,
    long? NewestRestorable,
    int Objects,
    long Bytes,
    long? LastPassAt,
    int FailedPasses = 0,
    string? ErrorCode = null,
    string? ErrorMessage = null);

/// <summary><c>{p}/stores/{store_id}</c>: a live agent, bound to its lease.</summary>
public sealed record StoreRecord(
    string Address,
    string Version,
    long Generation,
    long Epoch,
    long StartedAt);
