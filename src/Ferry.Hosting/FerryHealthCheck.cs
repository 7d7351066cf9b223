using Ferry.Agent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ferry.Hosting;

/// <summary>
/// One task as the health check sees it on this application's store: its state (the names of <c>ferry task
/// status</c> and <c>ferry_task_state</c>) and, when it has one, its error: code, message, what to do, and the error
/// id to find its log line.
/// </summary>
public sealed record FerryTaskHealth(string Task, string State, string? ErrorCode = null, string? Message = null, string? Hint = null, string? ErrorId = null);

/// <summary>
/// The health of the application's replication, read from the agent's report (what <c>/status</c> serves):
/// Healthy while every task ships; Degraded while a task retries a transient error, is stalled, paused by an
/// operator, or not started yet; Unhealthy when a task is paused by an error (<c>PAUSED_DUE_TO_ERROR</c>: storage
/// full, permission denied, …), has a database quarantined (<c>DEGRADED</c>), or the agent stopped. The result's data
/// holds <c>tasks</c> (a <see cref="FerryTaskHealth"/> each) and, when unhealthy or degraded, the worst task's
/// <c>error_code</c> and <c>hint</c>.
/// </summary>
public sealed class FerryHealthCheck(FerryAgent agent, AgentHost.AgentRun run, FerryAgentOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Check());
    }

    private HealthCheckResult Check() => run.Ended
        ? Stopped(run)
        : Assess(agent.Report(), [.. options.DefinedTasks.Select(t => t.Name)]);

    /// <summary>The health a report of a running agent shows, given the tasks it is meant to run.</summary>
    internal static HealthCheckResult Assess(AgentReport report, IReadOnlyList<string> ownTasks)
    {
        var tasks = new List<(FerryTaskHealth Health, HealthStatus Status)>();
        foreach (var task in report.Tasks) tasks.Add(Of(task));
        foreach (var own in ownTasks)
        {
            // A task whose runner has not started (the agent is starting, or waits as a standby) does not ship yet.
            if (!report.Tasks.Any(t => t.Task == own)) tasks.Add((new FerryTaskHealth(own, $"not started (agent {report.State})"), HealthStatus.Degraded));
        }

        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["agent_state"] = report.State,
            ["store_id"] = report.StoreId,
            ["tasks"] = tasks.Select(t => t.Health).ToList(),
        };
        var worst = tasks.OrderBy(t => t.Status).FirstOrDefault();
        if (tasks.Count == 0 || worst.Status == HealthStatus.Healthy)
        {
            return tasks.Count == 0
                ? new HealthCheckResult(HealthStatus.Degraded, $"no task runs yet (agent {report.State})", data: data)
                : HealthCheckResult.Healthy($"{tasks.Count} task(s) shipping", data);
        }

        if (worst.Health.ErrorCode is { } code) data["error_code"] = code;
        if (worst.Health.Hint is { } hint) data["hint"] = hint;
        var description = $"task {worst.Health.Task} is {worst.Health.State}"
            + (worst.Health.ErrorCode is null ? "" : $": {worst.Health.ErrorCode}: {worst.Health.Message}");
        return new HealthCheckResult(worst.Status, description, data: data);
    }

    private static HealthCheckResult Stopped(AgentHost.AgentRun run)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["agent_state"] = "stopped", ["exit_code"] = run.ExitCode };
        var failure = run.Failure?.SourceException;
        if (failure is FerryException error)
        {
            data["error_code"] = error.Code.Code;
            data["hint"] = error.Code.Hint;
            data["error_id"] = error.ErrorId;
        }

        return HealthCheckResult.Unhealthy(
            failure is null ? "the Ferry agent stopped (fenced out by another deployment, or the application is stopping)" : $"the Ferry agent stopped: {failure.Message}",
            data: data);
    }

    private static (FerryTaskHealth, HealthStatus) Of(RunnerReport task)
    {
        var state = task.OperatorState;
        var status = state switch
        {
            TaskState.RUNNING => HealthStatus.Healthy,
            TaskState.RETRYING or TaskState.STALLED or TaskState.PAUSED => HealthStatus.Degraded,
            _ => HealthStatus.Unhealthy,
        };

        // The error that explains the state: the pause's own for a task paused by an error, else the runner's, else
        // that of the first stream in trouble.
        var error = task.LastError ?? task.Streams.Select(s => s.LastError).FirstOrDefault(e => e is not null);
        var code = state == TaskState.PAUSED_DUE_TO_ERROR ? task.Pause?.ErrorCode ?? error?.Code.Code : error?.Code.Code;
        if (status == HealthStatus.Healthy || code is null) return (new FerryTaskHealth(task.Task, state.ToString()), status);

        var message = error is not null && error.Code.Code == code ? error.Message : task.Pause?.Message;
        var hint = ErrorCodes.Find(code)?.Hint;
        var errorId = error is not null && error.Code.Code == code ? error.ErrorId : null;
        return (new FerryTaskHealth(task.Task, state.ToString(), code, message, hint, errorId), status);
    }
}
