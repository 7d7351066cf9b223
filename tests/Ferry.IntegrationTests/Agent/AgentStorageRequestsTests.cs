using Ferry.IntegrationTests.Meta;
using Ferry.IntegrationTests.Outages;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Prometheus;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// Request economy (DESIGN §10), counted by a real agent process in <c>ferry_storage_requests_total</c> while a
/// separate writer process writes a real SQLite database: an idle database makes no storage request at all, and a
/// written one makes one put per flush (its segment) and never lists per flush.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentStorageRequestsTests(EtcdServer etcd, ITestOutputHelper output) : AgentTaskTestBase(etcd, "requests")
{
    private static readonly string[] Ops = ["put", "get", "list", "delete"];

    private string Database => Dir.File("dbs/app.db");

    private string LastSuccess => $"ferry_last_success_timestamp_seconds{{task=\"{TaskName}\"}}";

    [Fact]
    public async Task IdleDatabase_ManyFlushesAfterTheSnapshot_NoStorageRequestAtAll()
    {
        using var writer = await StartWriterAsync();
        await StartTaskAsync();
        var committed = Now();
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        await Harness.WaitForStatusAsync(TaskName, v => v.CoversCommit(committed), "the snapshot to ship", agent, Deadline);

        var before = await RequestsAsync(agent);
        var segmentsBefore = BackupDirectory.List(Backup).Count(o => o.IsSegment);
        // Each new value is a control round that saw the checkpoint move, which only a completed flush moves.
        await FlushesAsync(agent, 6);
        var after = await RequestsAsync(agent);
        output.WriteLine($"requests after the snapshot: {Show(before)}; after 6 idle flushes: {Show(after)}");

        Assert.True(before.GetValueOrDefault("put/ok") >= 2, $"the manifest and snapshot puts were not counted: {Show(before)}");
        Assert.Equal(before, after);
        Assert.Equal(segmentsBefore, BackupDirectory.List(Backup).Count(o => o.IsSegment));
        Assert.Equal(0, await agent.StopAsync());
    }

    [Fact]
    public async Task WrittenBetweenFlushes_OnePutPerSegmentAndListingOnlyAtPlanning()
    {
        using var writer = await StartWriterAsync();
        await StartTaskAsync();

        // A first agent ships the snapshot and a segment, so the next one continues the generation: its planning
        // reads the manifest, lists the segments and ships the nonce that proves continuity (a segment of its own).
        var committed = Now();
        await using (var first = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path))
        {
            await Harness.WaitForStatusAsync(TaskName, v => v.CoversCommit(committed), "the first agent to ship the snapshot", first, Deadline);
            await ShipsAsync(writer, first, "the first agent to ship a segment");
            Assert.Equal(0, await first.StopAsync());
        }

        var shippedBefore = Now();
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        await Harness.WaitForStatusAsync(TaskName, v => v.CoversCommit(shippedBefore), "the agent to plan and ship", agent, Deadline);
        var planned = ByOp(await RequestsAsync(agent));
        var segmentsBefore = BackupDirectory.List(Backup).Count(o => o.IsSegment);

        const int Rounds = 8;
        for (var round = 0; round < Rounds; round++)
        {
            // The previous commit is shipped before this one is made: each lands in a flush of its own.
            await ShipsAsync(writer, agent, $"commit {round + 1} of {Rounds} to ship");
        }

        var all = await RequestsAsync(agent);
        var after = ByOp(all);
        var segments = BackupDirectory.List(Backup).Count(o => o.IsSegment) - segmentsBefore;
        output.WriteLine($"at planning: {Show(planned)}; after {Rounds} written flushes: {Show(all)}; {segments} new segments");

        Assert.Equal(0, all.Where(kv => !kv.Key.EndsWith("/ok", StringComparison.Ordinal)).Sum(kv => kv.Value));
        Assert.True(segments >= Rounds, $"{segments} segments for {Rounds} commits shipped one at a time");
        Assert.Equal(segments, after["put"] - planned["put"]);
        Assert.Equal(planned["list"], after["list"]);
        Assert.InRange(after["list"], 0, 3);
        Assert.Equal(planned["get"], after["get"]);
        Assert.Equal(0, after["delete"]);
        Assert.Equal(0, await agent.StopAsync());
    }

    /// <summary>The database's writer, with 20 rows committed; the storage directory exists.</summary>
    private async Task<PythonWriter> StartWriterAsync()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        var writer = await PythonWriter.StartAsync(Database);
        await writer.InsertAsync(20);
        return writer;
    }

    /// <summary>Commits one transaction and waits until the store's checkpoint covers it: it is in storage.</summary>
    private async Task ShipsAsync(PythonWriter writer, AgentProcess agent, string what)
    {
        await writer.TransactionsAsync(1);
        var committed = Now();
        await Harness.WaitForStatusAsync(TaskName, v => v.CoversCommit(committed), what, agent, Deadline);
    }

    /// <summary>Waits until <c>ferry_last_success_timestamp_seconds</c> has taken <paramref name="count"/> new values.</summary>
    private async Task FlushesAsync(AgentProcess agent, int count)
    {
        var start = await agent.MetricAsync(LastSuccess);
        var seen = new HashSet<double>();
        await EventuallyAsync(
            async () =>
            {
                if (await agent.MetricAsync(LastSuccess) is { } at && at != start) seen.Add(at);
                return seen.Count >= count;
            },
            $"{count} more completed flushes",
            agent);
    }

    /// <summary>This task's <c>ferry_storage_requests_total</c> by <c>op/outcome</c>; a series not exported yet is absent.</summary>
    private async Task<Dictionary<string, double>> RequestsAsync(AgentProcess agent) =>
        PrometheusText.Parse(await agent.MetricsAsync())
            .Where(s => s.Name == "ferry_storage_requests_total" && s.Labels.GetValueOrDefault("task") == TaskName)
            .ToDictionary(s => $"{s["op"]}/{s["outcome"]}", s => s.Value, StringComparer.Ordinal);

    /// <summary>Requests by op, whatever their outcome, with every op present (0 when never counted).</summary>
    private static Dictionary<string, double> ByOp(Dictionary<string, double> requests) =>
        Ops.ToDictionary(op => op, op => requests.Where(kv => kv.Key.StartsWith(op + "/", StringComparison.Ordinal)).Sum(kv => kv.Value), StringComparer.Ordinal);

    private static string Show(Dictionary<string, double> requests) =>
        requests.Count == 0 ? "none" : string.Join(", ", requests.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
}
