using Ferry.Agent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Hosting;
using Ferry.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ferry.Tests.Hosting;

/// <summary>How the agent's report maps to an application's health: the states an operator sees, the error's code and hint.</summary>
public sealed class FerryHealthCheckTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch.AddDays(20000);

    private static StreamReport Stream(StreamState state, FerryException? error = null) =>
        new("/data/app.db", state, error is null ? 0 : 2, null, error, Now, "1:1", 100);

    private static AgentReport Agent(params RunnerReport[] tasks) => new(1, 0, 1, "running", tasks);

    private static IReadOnlyList<FerryTaskHealth> Tasks(HealthCheckResult result) => (IReadOnlyList<FerryTaskHealth>)result.Data["tasks"];

    [Fact]
    public void Assess_EveryTaskShipping_Healthy()
    {
        var result = FerryHealthCheck.Assess(Agent(new RunnerReport("app", 1, RunnerState.Working, Now, [Stream(StreamState.Shipping)], null)), ["app"]);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal("RUNNING", Assert.Single(Tasks(result)).State);
        Assert.False(result.Data.ContainsKey("error_code"));
    }

    [Fact]
    public void Assess_AStreamRetryingATransientError_DegradedWithItsCode()
    {
        var error = new FerryException(ErrorCodes.StorageUnavailable, "storage answered 503");
        var shipping = new RunnerReport("other", 1, RunnerState.Working, Now, [Stream(StreamState.Shipping)], null);
        var retrying = new RunnerReport("app", 1, RunnerState.Working, Now, [Stream(StreamState.Retrying, error)], null);

        var result = FerryHealthCheck.Assess(Agent(shipping, retrying), ["app", "other"]);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal(ErrorCodes.StorageUnavailable.Code, result.Data["error_code"]);
        var app = Tasks(result).Single(t => t.Task == "app");
        Assert.Equal("RETRYING", app.State);
        Assert.Equal(error.ErrorId, app.ErrorId);
    }

    [Fact]
    public void Assess_ATaskPausedByAnError_UnhealthyWithCodeHintAndTask()
    {
        var error = new FerryException(ErrorCodes.StorageQuotaExceeded, "no space left on device");
        var pause = new PauseValue(PauseSeverity.Error, Now.ToUnixTimeMilliseconds(), "host:1", error.Message, ErrorCodes.StorageQuotaExceeded.Code);
        var paused = new RunnerReport("app", 1, RunnerState.Paused, Now, [], error, pause);
        var retrying = new RunnerReport("other", 1, RunnerState.Working, Now, [Stream(StreamState.Retrying, new FerryException(ErrorCodes.StorageUnavailable, "503"))], null);

        var result = FerryHealthCheck.Assess(Agent(retrying, paused), ["app", "other"]);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal(ErrorCodes.StorageQuotaExceeded.Code, result.Data["error_code"]);
        Assert.Equal(ErrorCodes.StorageQuotaExceeded.Hint, result.Data["hint"]);
        Assert.Contains("app", result.Description, StringComparison.Ordinal);
        var app = Tasks(result).Single(t => t.Task == "app");
        Assert.Equal(("PAUSED_DUE_TO_ERROR", "no space left on device"), (app.State, app.Message));
    }

    [Fact]
    public void Assess_ADatabaseQuarantined_Unhealthy()
    {
        var error = new FerryException(ErrorCodes.DatabaseNotWalMode, "not in WAL mode");
        var degraded = new RunnerReport("app", 1, RunnerState.Working, Now, [Stream(StreamState.Quarantined, error)], null);

        var result = FerryHealthCheck.Assess(Agent(degraded), ["app"]);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal(("DEGRADED", ErrorCodes.DatabaseNotWalMode.Code), (Assert.Single(Tasks(result)).State, result.Data["error_code"]));
    }

    [Fact]
    public void Assess_AnOwnTaskNotStartedYet_Degraded()
    {
        var result = FerryHealthCheck.Assess(new AgentReport(1, 0, 0, "standby", []), ["app"]);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal("not started (agent standby)", Assert.Single(Tasks(result)).State);
    }
}
