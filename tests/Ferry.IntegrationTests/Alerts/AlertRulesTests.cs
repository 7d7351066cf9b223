using System.Diagnostics;
using System.Net;
using Ferry.Coordination;
using Ferry.Agent;
using Ferry.Diagnostics;
using Ferry.TestKit;
using Ferry.TestKit.Prometheus;

namespace Ferry.IntegrationTests.Alerts;

/// <summary>docs/alerts.yml: valid for promtool, right in promtool's rule unit tests, and firing in a real Prometheus.</summary>
public sealed class AlertRulesTests
{
    private static readonly TimeSpan PromtoolDeadline = TimeSpan.FromSeconds(30);
    private static readonly string AlertsFile = Path.Combine(RepoRoot.Path, "docs", "alerts.yml");

    [Fact]
    public async Task PromtoolCheckRules_AlertsYml_Passes()
    {
        var (exitCode, output) = await Tools.RunAsync(Promtool(), ["check", "rules", AlertsFile], PromtoolDeadline);

        Assert.True(exitCode == 0, $"promtool check rules failed ({exitCode}):\n{output}");
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task PromtoolTestRules_AlertUnitTests_Pass()
    {
        // Thresholds, `for` durations, labels and annotations of every alert, against synthetic series.
        var tests = Path.Combine(RepoRoot.Path, "tests", "Ferry.IntegrationTests", "Alerts", "alerts.test.yml");

        var (exitCode, output) = await Tools.RunAsync(Promtool(), ["test", "rules", tests], PromtoolDeadline);

        Assert.True(exitCode == 0, $"promtool test rules failed ({exitCode}):\n{output}");
    }

    [Fact]
    public async Task Prometheus_AgentReportsTaskPausedDueToError_AlertFiresWithin15Seconds()
    {
        using var metrics = new FerryMetrics();
        await using var agent = new AgentHttpServer(metrics, () => new { }, new AgentHttpServerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) });
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await agent.StartAsync(startTimeout.Token);
        metrics.SetTaskState("t1", TaskState.PAUSED_DUE_TO_ERROR);
        metrics.SetTaskState("t2", TaskState.RUNNING);

        await using var prometheus = await PrometheusServer.StartAsync([AgentHttpAddress.Format(agent.Endpoint)], [AlertsFile], startTimeout.Token);

        var deadline = Stopwatch.StartNew();
        IReadOnlyList<PrometheusAlert> alerts = [];
        PrometheusAlert? firing = null;
        while (deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            using var request = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            alerts = await prometheus.GetAlertsAsync(request.Token);
            firing = alerts.FirstOrDefault(a => a.Name == "FerryTaskPausedDueToError" && a.State == "firing");
            if (firing is not null) break;
            await Task.Delay(200, startTimeout.Token);
        }

        using var describe = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        Assert.True(
            firing is not null,
            $"FerryTaskPausedDueToError not firing after {deadline.Elapsed}; alerts: [{string.Join(", ", alerts.Select(a => $"{a.Name}:{a.State}"))}]; " +
            $"targets: {await prometheus.DescribeTargetsAsync(describe.Token)}\n{prometheus.Log}");
        Assert.Equal("t1", firing.Labels["task"]);
        Assert.Equal("critical", firing.Labels["severity"]);
        Assert.Contains("ferry task status t1", firing.Annotations["description"]);
        Assert.Contains("ferry task resume t1 --clear-error", firing.Annotations["description"]);
        Assert.DoesNotContain(alerts, a => a.Name == "FerryTaskPausedDueToError" && a.Labels["task"] == "t2");
    }

    private static string Promtool() => Tools.Find("promtool") ?? throw new InvalidOperationException(
        "promtool is not on PATH, so the alert rule tests can't run (they are never skipped). Install it with " +
        "`apt-get install -y prometheus` or run the tests with scripts/test.sh, which installs it.");
}
