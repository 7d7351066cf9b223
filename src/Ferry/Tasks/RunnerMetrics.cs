using Ferry.Coordination;
using Ferry.Diagnostics;

namespace Ferry.Tasks;

/// <summary>
/// Feeds a task runner's life into the metrics: bytes shipped, retries and time per state as they happen, and the
/// task state, checkpoint and last success from <see cref="Update"/> (called on each control round).
/// </summary>
internal sealed class RunnerMetrics : IDisposable
{
    private readonly TaskRunner _runner;
    private readonly FerryMetrics _metrics;
    private DateTimeOffset? _lastCheckpoint;

    public RunnerMetrics(TaskRunner runner, FerryMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(metrics);
        _runner = runner;
        _metrics = metrics;
        runner.BytesShipped += OnBytes;
        runner.Retrying += OnRetry;
        runner.StateChanged += OnState;
    }

    public void Update()
    {
        var report = _runner.Report();
        _metrics.SetTaskState(report.Task, report.OperatorState);
        var passed = report.Streams.Where(s => s.Retention is { LastPassAt: not null }).ToList();
        if (passed.Count > 0) _metrics.SetRetention(report.Task, passed.Max(s => s.Retention!.FailedPasses), passed.Sum(s => s.Retention!.Objects));
        var healthy = report.Streams.Where(s => s.State != StreamState.Quarantined).ToList();
        if (healthy.Count == 0 || healthy.Any(s => s.CheckpointAt is null)) return;
        var checkpoint = healthy.Min(s => s.CheckpointAt!.Value);
        _metrics.SetCheckpoint(report.Task, checkpoint);
        if (_lastCheckpoint is null || checkpoint > _lastCheckpoint)
        {
            _metrics.RecordSuccess(report.Task);
            _lastCheckpoint = checkpoint;
        }
    }

    private void OnBytes(long bytes) => _metrics.AddReplicatedBytes(_runner.Task, bytes);

    private void OnRetry(Errors.FerryException error) => _metrics.RecordRetry(_runner.Task, error.Code);

    private void OnState(RunnerState from, RunnerState to, TimeSpan spent) => _metrics.RecordStateDuration(from.ToString(), spent);

    public void Dispose()
    {
        _runner.BytesShipped -= OnBytes;
        _runner.Retrying -= OnRetry;
        _runner.StateChanged -= OnState;
        _metrics.RemoveTask(_runner.Task);
    }
}
