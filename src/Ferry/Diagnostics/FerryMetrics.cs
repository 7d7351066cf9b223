using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Ferry.Coordination;
using Ferry.Errors;

namespace Ferry.Diagnostics;

/// <summary>
/// Ferry's instruments, on a <see cref="Meter"/> named <c>Ferry</c>. The agent exports them as Prometheus series
/// with exactly these names; the core knows nothing of the exporter. Counters and the histogram are recorded as
/// things happen; the gauges (task state, checkpoint lag, last success) are kept here per task and observed when
/// scraped, so the checkpoint lag keeps growing while a task makes no progress.
/// </summary>
public sealed class FerryMetrics : IErrorCounters, IDisposable
{
    public const string MeterName = "Ferry";

    /// <summary>Bucket bounds of <c>ferry_state_seconds</c>: from a quick flush to a day spent paused.</summary>
    public static readonly IReadOnlyList<double> StateSecondsBuckets =
        [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

    // An agent's own task is never OFFLINE to it: that state is only seen from the metadata store.
    private static readonly TaskState[] AllStates = [.. Enum.GetValues<TaskState>().Where(s => s != TaskState.OFFLINE)];

    private readonly Meter _meter;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, TaskState> _taskStates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _checkpoints = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastSuccess = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int FailedPasses, int Objects)> _retention = new(StringComparer.Ordinal);

    public FerryMetrics(IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        ErrorsTotal = _meter.CreateCounter<long>("ferry_errors_total", description: "Errors reported, by code, class and task.");
        ReportFailuresTotal = _meter.CreateCounter<long>(
            "ferry_report_failures_total",
            description: "Times writing a LastError record to the metadata store failed.");
        ReplicatedBytesTotal = _meter.CreateCounter<long>(
            "ferry_replicated_bytes_total", unit: "By", description: "Bytes of WAL frames and snapshots durably written to storage, by task.");
        RetriesTotal = _meter.CreateCounter<long>("ferry_retries_total", description: "Retries of transient failures, by task and error code.");
        StorageRequestsTotal = _meter.CreateCounter<long>(
            "ferry_storage_requests_total",
            description: "Calls a task made to its storage, by op (put, get, list, delete), outcome (ok, error, cancelled) and task. "
                + "One call is one operation: on S3 a list may span several pages and a delete heads the object first.");
        StateSeconds = _meter.CreateHistogram(
            "ferry_state_seconds",
            unit: "s",
            description: "Time a task runner spent in a state before leaving it, by runner state.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StateSecondsBuckets });
        _meter.CreateObservableGauge("ferry_task_state", ObserveTaskStates, description: "1 for a task's current state on this agent, 0 for its other states.");
        _meter.CreateObservableGauge(
            "ferry_checkpoint_lag_seconds", ObserveCheckpointLag, unit: "s", description: "Now minus the task's checkpoint on this agent.");
        _meter.CreateObservableGauge(
            "ferry_last_success_timestamp_seconds",
            ObserveLastSuccess,
            unit: "s",
            description: "Unix time the task last completed a flush on this agent (uploaded, or found nothing new).");
        _meter.CreateObservableGauge(
            "ferry_retention_failed_passes",
            () => _retention.Select(r => new Measurement<int>(r.Value.FailedPasses, new KeyValuePair<string, object?>("task", r.Key))),
            description: "Retention passes (packing, pruning) failed in a row on this agent, the most of any of the task's databases; 0 once one succeeds.");
        _meter.CreateObservableGauge(
            "ferry_retention_objects",
            () => _retention.Select(r => new Measurement<int>(r.Value.Objects, new KeyValuePair<string, object?>("task", r.Key))),
            description: "Objects the task's databases hold in storage, as their last retention passes counted them.");
    }

    /// <summary>The meter this instance records on; an exporter listens to this meter only, not every meter named Ferry.</summary>
    public Meter Meter => _meter;

    /// <summary><c>ferry_errors_total</c>. Tags: code, class, task.</summary>
    public Counter<long> ErrorsTotal { get; }

    /// <summary><c>ferry_report_failures_total</c>. Tags: task.</summary>
    public Counter<long> ReportFailuresTotal { get; }

    /// <summary><c>ferry_replicated_bytes_total</c>. Tags: task. Record through <see cref="AddReplicatedBytes"/>.</summary>
    public Counter<long> ReplicatedBytesTotal { get; }

    /// <summary><c>ferry_retries_total</c>. Tags: task, code. Record through <see cref="RecordRetry"/>.</summary>
    public Counter<long> RetriesTotal { get; }

    /// <summary><c>ferry_storage_requests_total</c>. Tags: op, outcome, task. Record through <see cref="RecordStorageRequest"/>.</summary>
    public Counter<long> StorageRequestsTotal { get; }

    /// <summary><c>ferry_state_seconds</c>. Tags: state. Record through <see cref="RecordStateDuration"/>.</summary>
    public Histogram<double> StateSeconds { get; }

    /// <summary>Sets the task's state on this agent: <c>ferry_task_state{task,state}</c> is 1 for it, 0 for the others.</summary>
    public void SetTaskState(string task, TaskState state)
    {
        ArgumentNullException.ThrowIfNull(task);
        _taskStates[task] = state;
    }

    /// <summary>Records the task's checkpoint; <c>ferry_checkpoint_lag_seconds{task}</c> is now minus it at each scrape.</summary>
    public void SetCheckpoint(string task, DateTimeOffset checkpoint)
    {
        ArgumentNullException.ThrowIfNull(task);
        _checkpoints[task] = checkpoint;
    }

    /// <summary>
    /// Records a completed flush at <paramref name="at"/> (now when null): <c>ferry_last_success_timestamp_seconds</c>.
    /// A flush that found nothing new counts too, so an idle database does not look stuck.
    /// </summary>
    public void RecordSuccess(string task, DateTimeOffset? at = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        _lastSuccess[task] = at ?? _time.GetUtcNow();
    }

    /// <summary>Adds to <c>ferry_replicated_bytes_total{task}</c>.</summary>
    public void AddReplicatedBytes(string task, long bytes)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ReplicatedBytesTotal.Add(bytes, new KeyValuePair<string, object?>("task", task));
    }

    /// <summary>Counts one retry in <c>ferry_retries_total{task,code}</c>.</summary>
    public void RecordRetry(string task, ErrorCode code)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(code);
        RetriesTotal.Add(1, new KeyValuePair<string, object?>("task", task), new KeyValuePair<string, object?>("code", code.Code));
    }

    /// <summary>
    /// Counts one call to storage in <c>ferry_storage_requests_total{op,outcome,task}</c>: <paramref name="operation"/>
    /// is put, get, list or delete, <paramref name="outcome"/> ok, error or cancelled.
    /// </summary>
    public void RecordStorageRequest(string task, string operation, string outcome)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentException.ThrowIfNullOrEmpty(operation);
        ArgumentException.ThrowIfNullOrEmpty(outcome);
        StorageRequestsTotal.Add(
            1,
            new KeyValuePair<string, object?>("op", operation),
            new KeyValuePair<string, object?>("outcome", outcome),
            new KeyValuePair<string, object?>("task", task));
    }

    /// <summary>Observes, in <c>ferry_state_seconds{state}</c>, how long a runner spent in <paramref name="state"/> (e.g. Working, PlanningError).</summary>
    public void RecordStateDuration(string state, TimeSpan duration)
    {
        ArgumentException.ThrowIfNullOrEmpty(state);
        StateSeconds.Record(Math.Max(0, duration.TotalSeconds), new KeyValuePair<string, object?>("state", state));
    }

    /// <summary>Drops the task's gauges (state, lag, last success), e.g. when the task is deleted or leaves this agent.</summary>
    /// <summary>Records what the task's last retention passes found: <c>ferry_retention_failed_passes</c> and <c>ferry_retention_objects</c>.</summary>
    public void SetRetention(string task, int failedPasses, int objects)
    {
        ArgumentNullException.ThrowIfNull(task);
        _retention[task] = (failedPasses, objects);
    }

    public void RemoveTask(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        _retention.TryRemove(task, out _);
        _taskStates.TryRemove(task, out _);
        _checkpoints.TryRemove(task, out _);
        _lastSuccess.TryRemove(task, out _);
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> ObserveTaskStates()
    {
        foreach (var (task, current) in _taskStates)
        {
            foreach (var state in AllStates)
            {
                yield return new Measurement<int>(
                    state == current ? 1 : 0,
                    new KeyValuePair<string, object?>("task", task),
                    new KeyValuePair<string, object?>("state", state.ToString()));
            }
        }
    }

    private IEnumerable<Measurement<double>> ObserveCheckpointLag()
    {
        var now = _time.GetUtcNow();
        foreach (var (task, checkpoint) in _checkpoints)
        {
            // A checkpoint ahead of this clock (skew between hosts) is no lag, not a negative one.
            yield return new Measurement<double>(Math.Max(0, (now - checkpoint).TotalSeconds), new KeyValuePair<string, object?>("task", task));
        }
    }

    private IEnumerable<Measurement<double>> ObserveLastSuccess()
    {
        foreach (var (task, at) in _lastSuccess)
        {
            yield return new Measurement<double>(at.ToUnixTimeMilliseconds() / 1000.0, new KeyValuePair<string, object?>("task", task));
        }
    }
}
