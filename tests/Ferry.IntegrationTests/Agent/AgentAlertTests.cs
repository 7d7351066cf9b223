using System.Diagnostics;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Prometheus;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// End to end from a real fault to a page: a real Prometheus with docs/alerts.yml scrapes a real agent whose storage
/// stops accepting writes; FerryTaskPausedDueToError fires for that task soon after the pause shows in status.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentAlertTests(EtcdServer etcd, ITestOutputHelper output) : IAsyncLifetime
{
    private const string PermissionDenied = "FERRY:Storage:PermissionDenied";
    private static readonly TimeSpan AlertDeadline = TimeSpan.FromSeconds(15);
    private static readonly string AlertsFile = Path.Combine(RepoRoot.Path, "docs", "alerts.yml");
    private readonly TempDirectory _dir = new("agent-alert");
    private readonly string _task = $"p{Guid.NewGuid():N}"[..12];
    private readonly string _healthy = $"h{Guid.NewGuid():N}"[..12];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The etcd is shared: remove this test's tasks so later agents don't pick them up.</summary>
    public async Task DisposeAsync()
    {
        await new AgentHarness(etcd.MetaUrl, _dir.Path, _storeId).RemoveTasksAsync(_task, _healthy);
        _dir.Dispose();
    }

    [Fact]
    public async Task Prometheus_StorageRefusesWrites_PausedTaskAlertFiresWithin15SecondsOfThePause()
    {
        var h = new AgentHarness(etcd.MetaUrl, _dir.Path, _storeId);
        var watch = Stopwatch.StartNew();
        Directory.CreateDirectory(_dir.File("a"));
        Directory.CreateDirectory(_dir.File("b"));
        Directory.CreateDirectory(_dir.File("backup-a"));
        Directory.CreateDirectory(_dir.File("backup-b"));
        using var immutable = new ImmutableTree(_dir.File("backup-a"));
        using var writer = await PythonWriter.StartAsync(_dir.File("a/a.db"));
        using var healthyWriter = await PythonWriter.StartAsync(_dir.File("b/b.db"));
        await writer.InsertAsync(20);
        await healthyWriter.InsertAsync(20);
        await h.StartTaskAsync(_task, _dir.File("a/*.db"), immutable.Path);
        await h.StartTaskAsync(_healthy, _dir.File("b/*.db"), _dir.File("backup-b"));
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var prometheus = await PrometheusServer.StartAsync([$"{agent.BaseAddress.Host}:{agent.BaseAddress.Port}"], [AlertsFile], startTimeout.Token);

        var first = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await h.WaitForStatusAsync(_task, v => v.CoversCommit(first), "the task to ship before the fault", agent);

        // The fault: the storage tree turns immutable under the running agent; the next upload gets EPERM.
        await immutable.SetAsync();
        await writer.InsertAsync(10, 1000);
        var paused = await h.WaitForStatusAsync(_task, v => v.Status == "PAUSED_DUE_TO_ERROR", "the task to pause", agent, TimeSpan.FromSeconds(5));
        var pausedVisible = Stopwatch.StartNew();
        Assert.Equal(PermissionDenied, paused.PauseCode);

        IReadOnlyList<PrometheusAlert> alerts = [];
        PrometheusAlert? firing = null;
        while (pausedVisible.Elapsed < AlertDeadline)
        {
            using var request = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            alerts = await prometheus.GetAlertsAsync(request.Token);
            firing = alerts.FirstOrDefault(a => a.Name == "FerryTaskPausedDueToError" && a.State == "firing" && a.Labels.GetValueOrDefault("task") == _task);
            if (firing is not null) break;
            await Task.Delay(200);
        }

        var firedAfter = pausedVisible.Elapsed;
        using var describe = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        Assert.True(
            firing is not null,
            $"FerryTaskPausedDueToError for {_task} not firing {firedAfter} after the pause showed in status; alerts: " +
            $"[{string.Join(", ", alerts.Select(a => $"{a.Name}{{task={a.Labels.GetValueOrDefault("task")}}}:{a.State}"))}]; " +
            $"targets: {await prometheus.DescribeTargetsAsync(describe.Token)}\nprometheus log:\n{prometheus.Log}\nagent log:\n{agent.Log}");
        Assert.Equal("critical", firing.Labels["severity"]);
        Assert.Equal($"{agent.BaseAddress.Host}:{agent.BaseAddress.Port}", firing.Labels["instance"]);
        Assert.Contains($"ferry task resume {_task} --clear-error", firing.Annotations["description"], StringComparison.Ordinal);
        // The healthy task on the same agent pages nobody.
        Assert.DoesNotContain(alerts, a => a.Name == "FerryTaskPausedDueToError" && a.Labels.GetValueOrDefault("task") == _healthy);
        output.WriteLine($"alert firing {firedAfter.TotalMilliseconds:0} ms after the pause showed in status; whole test {watch.Elapsed.TotalSeconds:0.0} s");
    }
}
