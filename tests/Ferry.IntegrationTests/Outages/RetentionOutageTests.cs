using System.Text.Json;
using Ferry.IntegrationTests.Agent;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// Pruning meets a real fault (DESIGN §10: failures are reported, not fatal to shipping): a generation that must be
/// pruned is made immutable (<c>chattr +i</c>), so deleting it fails with EPERM. Shipping goes on; the failing passes
/// show as <c>FERRY:Retention:PassFailed</c> in <c>ferry task status</c>, <c>/status</c> and <c>/metrics</c>; once the
/// fault is cleared the next pass prunes, and nothing committed is lost. Meanwhile <c>ferry storage prune</c> refuses
/// to race the live owner. A real agent on a real etcd, a separate writer. Needs root (chattr).
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class RetentionOutageTests(EtcdServer etcd) : IAsyncLifetime
{
    private const string PassFailed = "FERRY:Retention:PassFailed";
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _dir = new("retention-outage");
    private readonly string _task = $"r{Guid.NewGuid():N}"[..12];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Harness.RemoveTasksAsync(_task);
        _dir.Dispose();
    }

    private AgentHarness Harness => new(etcd.MetaUrl, _dir.Path, _storeId);

    [Fact]
    public async Task GenerationCannotBeDeleted_PassesFailAndShow_ShippingGoesOn_ThenPrunesOnceFixed()
    {
        var h = Harness;
        var backup = _dir.File("backup");
        Directory.CreateDirectory(_dir.File("db"));
        Directory.CreateDirectory(backup);
        var db = _dir.File("db/app.db");
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(20);
        await h.StartTaskAsync(_task, db, backup, "--retention", "1m", "--retention-grace", "0s");
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        await using var loop = WriterLoop.Start(writer);

        // The first generation, once the second has started (half a window later: nothing ships to the first any
        // more), can never be deleted.
        var generations = Path.Combine(backup, "dbs", _storeId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await AgentHarness.WaitForAsync(() => Task.FromResult(Snapshots(generations).Count >= 2), "the second generation's snapshot", agent, TimeSpan.FromMinutes(2));
        var first = Path.GetDirectoryName(Path.GetDirectoryName(Snapshots(generations)[0]))!;

        // While the agent owns the store, a second pruner is refused unless forced (nothing is due in an hour's window).
        var refused = await h.FerryAsync("storage", "prune", "--from", backup, "--retention", "1h");
        Assert.True(refused.ExitCode != 0 && refused.Stderr.Contains("FERRY:Retention:OwnerActive", StringComparison.Ordinal), refused.ToString());
        var forced = await h.FerryAsync("storage", "prune", "--from", backup, "--retention", "1h", "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Contains("deleted 0 objects", forced.Stdout, StringComparison.Ordinal);
        using var immutable = new ImmutableTree(first);
        await immutable.SetAsync();

        // Passes now fail: packing its segments, and pruning it once it leaves the one-minute window (a minute after
        // the next generation started).
        var failing = await WaitForRetentionAsync(h, r => r.FailedPasses >= 2, "two failed retention passes", agent);
        Assert.Equal(PassFailed, failing.ErrorCode);
        Assert.Contains("PermissionDenied", failing.ErrorMessage, StringComparison.Ordinal);

        // Shipping goes on: the checkpoint covers what the writer loop committed after the passes began to fail.
        var written = loop.Transactions;
        await AgentHarness.WaitForAsync(() => Task.FromResult(loop.Transactions > written + 10), "the writer to commit more", agent);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await h.WaitForStatusAsync(_task, v => v.CoversCommit(committed), "the checkpoint to pass a commit made while pruning fails", agent);

        // Shown where an operator looks: the status page's JSON, the metrics, the human status.
        using (var status = await agent.StatusAsync()) Assert.Contains(PassFailed, status.RootElement.GetRawText(), StringComparison.Ordinal);
        await AgentHarness.WaitForAsync(
            async () => await agent.MetricAsync($"ferry_retention_failed_passes{{task=\"{_task}\"}}") >= 2, "ferry_retention_failed_passes >= 2", agent);
        Assert.True(await AgentHarness.ErrorsTotalAsync(agent, PassFailed, _task) >= 2, await agent.MetricsAsync());
        var human = await h.FerryAsync("task", "status", _task);
        Assert.Contains("retention failing", human.Stdout, StringComparison.Ordinal);
        // The window, on one line or wrapped at the terminal's width.
        Assert.Matches(@"restorable from \S.* to \S.*; \d+ objects, [0-9.]+ MiB \(retention 1m, last pass ", System.Text.RegularExpressions.Regex.Replace(human.Stdout, @"\s+", " "));

        // Fixed: the next pass prunes the generation, and the failures are over.
        await immutable.ClearAsync();
        await WaitForRetentionAsync(h, r => r.FailedPasses == 0 && r.LastPassAt > failing.LastPassAt, "a retention pass to succeed", agent);
        await AgentHarness.WaitForAsync(() => Task.FromResult(!Directory.Exists(first) || Directory.EnumerateFiles(first, "*", SearchOption.AllDirectories).Any() == false),
            "the once immutable generation to be pruned (a minute after the next generation started)", agent, TimeSpan.FromMinutes(2));

        await loop.StopAsync();
        var last = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await h.WaitForStatusAsync(_task, v => v.CoversCommit(last), "the last commit to be durable", agent);
        await h.AssertRestoreMatchesAsync(backup, db, _dir.File("restored.db"));
    }

    private static List<string> Snapshots(string root) =>
        Directory.Exists(root) ? [.. Directory.EnumerateFiles(root, "*.snap", SearchOption.AllDirectories).Order(StringComparer.Ordinal)] : [];

    private sealed record RetentionView(int FailedPasses, string? ErrorCode, string ErrorMessage, long LastPassAt);

    private async Task<RetentionView> WaitForRetentionAsync(AgentHarness h, Func<RetentionView, bool> condition, string what, AgentProcess agent)
    {
        RetentionView? found = null;
        await AgentHarness.WaitForAsync(
            async () => (found = (await RetentionAsync(h)).FirstOrDefault(condition)) is not null, what, agent, Deadline);
        return found!;
    }

    /// <summary>Each database's retention record in the task's status (<c>ferry task status --json</c>).</summary>
    private async Task<List<RetentionView>> RetentionAsync(AgentHarness h)
    {
        var status = await h.FerryAsync("task", "status", _task, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        using var doc = JsonDocument.Parse(status.Stdout);
        var views = new List<RetentionView>();
        foreach (var store in doc.RootElement.GetProperty("tasks")[0].GetProperty("stores").EnumerateArray())
        {
            if (store.GetProperty("checkpoint_record") is not { ValueKind: JsonValueKind.Object } record
                || !record.TryGetProperty("retention", out var retention) || retention.ValueKind != JsonValueKind.Object) continue;
            foreach (var database in retention.EnumerateObject())
            {
                var r = database.Value;
                views.Add(new RetentionView(
                    r.GetProperty("failed_passes").GetInt32(),
                    r.TryGetProperty("error_code", out var code) && code.ValueKind == JsonValueKind.String ? code.GetString() : null,
                    r.TryGetProperty("error_message", out var message) && message.ValueKind == JsonValueKind.String ? message.GetString()! : "",
                    r.GetProperty("last_pass_at").GetInt64()));
            }
        }

        return views;
    }
}
