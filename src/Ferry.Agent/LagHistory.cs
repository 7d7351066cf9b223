using Ferry.Tasks;

namespace Ferry.Agent;

/// <summary>One sample of a task's checkpoint gap: when it was taken, and how far behind the checkpoint was (null: none yet).</summary>
public sealed record LagSample(DateTimeOffset At, double? LagSeconds);

/// <summary>A task's recent checkpoint gaps, oldest first.</summary>
public sealed record TaskLag(string Task, IReadOnlyList<LagSample> Samples);

/// <summary>
/// The checkpoint gap of each task over the last minutes, for the status page's chart: a bounded ring of samples per
/// task (window ÷ interval of them), filled by <see cref="Sample"/> on the agent's timer. A task that is no longer
/// in the report loses its history, so the whole stays bounded however many tasks come and go. Thread-safe.
/// </summary>
public sealed class LagHistory
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Queue<LagSample>> _tasks = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <param name="interval">How often <see cref="Sample"/> is called (the agent's sampling period).</param>
    /// <param name="window">How far back samples are kept.</param>
    /// <param name="time">The clock samples are stamped with.</param>
    public LagHistory(TimeSpan interval, TimeSpan window, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, interval);
        ArgumentNullException.ThrowIfNull(time);
        Interval = interval;
        Window = window;
        Capacity = (int)Math.Ceiling(window / interval);
        _time = time;
    }

    /// <summary>The default history: a sample every 5 s for 10 minutes.</summary>
    public static LagHistory Default(TimeProvider time) => new(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(10), time);

    public TimeSpan Interval { get; }

    public TimeSpan Window { get; }

    /// <summary>The most samples kept per task.</summary>
    public int Capacity { get; }

    /// <summary>
    /// The gap between <paramref name="now"/> and the task's checkpoint, in seconds (never negative: a clock step
    /// back is no lag), or null while the task has no checkpoint. The one definition the page and the chart use.
    /// </summary>
    public static double? GapSeconds(RunnerReport task, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.CheckpointAt is { } checkpoint ? Math.Max(0, (now - checkpoint).TotalSeconds) : null;
    }

    /// <summary>Records one sample of each task's gap, now; forgets tasks that are not in <paramref name="tasks"/>.</summary>
    public void Sample(IReadOnlyList<RunnerReport> tasks)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var present = tasks.Select(t => t.Task).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _tasks.Keys.Where(k => !present.Contains(k)).ToList()) _tasks.Remove(gone);
            foreach (var task in tasks)
            {
                if (!_tasks.TryGetValue(task.Task, out var ring)) _tasks[task.Task] = ring = new Queue<LagSample>(Capacity);
                if (ring.Count == Capacity) ring.Dequeue();
                ring.Enqueue(new LagSample(now, GapSeconds(task, now)));
            }
        }
    }

    /// <summary>Every task's samples of the last <see cref="Window"/>, oldest first, tasks by name.</summary>
    public IReadOnlyList<TaskLag> Snapshot()
    {
        // Samples from before a pause in sampling (a standby, a stopped timer) are older than the window: left out.
        var since = _time.GetUtcNow() - Window;
        lock (_lock)
        {
            return [.. _tasks
                .OrderBy(t => t.Key, StringComparer.Ordinal)
                .Select(t => new TaskLag(t.Key, [.. t.Value.Where(s => s.At >= since)]))];
        }
    }
}
