using System.Diagnostics;
using System.Text.Json;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// The error mechanism end to end (DESIGN §4, §6): a real agent process on a real etcd with real python writers, faults
/// injected by deleting a database or through failpoints armed in the agent's environment. Every wait polls a
/// condition under a deadline; nothing sleeps to synchronise.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentFaultTests(EtcdServer etcd) : AgentTaskTestBase(etcd, "faults")
{
    [Fact]
    public async Task DatabaseDeletedWhileReplicating_OnlyItsStreamIsQuarantined_OthersKeepShippingAndRestoreExactly()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        using var a = await PythonWriter.StartAsync(Dir.File("dbs/a.db"));
        using var b = await PythonWriter.StartAsync(Dir.File("dbs/b.db"));
        using var c = await PythonWriter.StartAsync(Dir.File("dbs/c.db"));
        foreach (var writer in new[] { a, b, c }) await writer.InsertAsync(10);
        await StartTaskAsync();

        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        foreach (var writer in new[] { a, b, c }) await writer.TransactionsAsync(5);
        var committed = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "RUNNING" && Checkpoint(s) >= committed, "all three streams shipping", agent);

        // The application's connection stays open, as it would: only the files go.
        var deleted = Dir.File("dbs/c.db");
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(deleted + suffix);

        JsonElement degraded = default;
        await EventuallyAsync(async () => (degraded = await StoreAsync() ?? default).ValueKind == JsonValueKind.Object && State(degraded) == "DEGRADED", "the store to be DEGRADED", agent);
        var lastError = degraded.GetProperty("last_error");
        Assert.True(lastError.ValueKind == JsonValueKind.Object, degraded.ToString());
        Assert.Equal("FERRY:Database:NotFound", lastError.GetProperty("error_code").GetString());
        Assert.Contains(deleted, lastError.GetProperty("error_message").GetString() + " " + lastError.GetProperty("context").GetString(), StringComparison.Ordinal);
        Assert.Contains("c.db", degraded.GetProperty("checkpoint_record").GetProperty("detail").GetString(), StringComparison.Ordinal);
        await EventuallyAsync(async () => await agent.MetricAsync($"ferry_task_state{{state=\"DEGRADED\",task=\"{TaskName}\"}}") == 1, "/metrics to show DEGRADED", agent);
        // One error, one report: logged once with its id, counted once.
        Assert.Equal(1, await agent.MetricAsync($"ferry_errors_total{{class=\"Permanent\",code=\"FERRY:Database:NotFound\",task=\"{TaskName}\"}}"));
        var errorId = lastError.GetProperty("error_id").GetString()!;
        Assert.Single(agent.Log.Split('\n'), line => line.Contains($"error_id={errorId}", StringComparison.Ordinal));

        // The other two keep shipping: the checkpoint (over healthy streams) passes commits made after the quarantine.
        await a.TransactionsAsync(7);
        await b.InsertAsync(3);
        var later = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "DEGRADED" && Checkpoint(s) >= later, "the healthy streams to ship past the quarantine", agent);
        var status = await Ferry("task", "status", TaskName, "--json");
        Assert.DoesNotContain("\"PAUSED_DUE_TO_ERROR\"", status.Stdout, StringComparison.Ordinal);

        Assert.Equal(0, await agent.StopAsync());
        await AssertRestoresExactlyAsync("a.db");
        await AssertRestoresExactlyAsync("b.db");
    }

    [Fact]
    public async Task StorageHangs_StoreShowsStalled_ReleasedItRecoversAndRestoresExactly()
    {
        var failpoints = Dir.File("failpoints");
        await File.WriteAllTextAsync(failpoints, "storage.put=hang\n");
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db"));
        await writer.InsertAsync(20);
        await StartTaskAsync("--stall-timeout", "2s");

        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, new Dictionary<string, string> { ["FERRY_FAILPOINTS_FILE"] = failpoints });
        var watch = Stopwatch.StartNew();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "STALLED", "the store to be STALLED", agent, TimeSpan.FromSeconds(10));
        var stalledAfter = watch.Elapsed;
        await EventuallyAsync(async () => await agent.MetricAsync($"ferry_task_state{{state=\"STALLED\",task=\"{TaskName}\"}}") == 1, "/metrics to show STALLED", agent);
        Assert.Contains("FERRY:Task:Stalled", (await StoreAsync())!.Value.GetProperty("checkpoint_record").GetProperty("detail").GetString(), StringComparison.Ordinal);

        // The agent's own /status answers while a stream is in error, and names the error.
        using (var agentStatus = await agent.StatusAsync())
        {
            Assert.Contains("FERRY:Task:Stalled", agentStatus.RootElement.ToString(), StringComparison.Ordinal);
        }

        // Release the hang by rewriting the file the agent watches.
        await File.WriteAllTextAsync(failpoints, "storage.put=off\n");
        await writer.TransactionsAsync(10);
        var committed = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "RUNNING" && Checkpoint(s) >= committed, "RUNNING again with the checkpoint past a new commit", agent);
        await EventuallyAsync(async () => await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{TaskName}\"}}") == 1, "/metrics to show RUNNING", agent);
        Assert.True(await agent.MetricAsync($"ferry_retries_total{{code=\"FERRY:Task:Stalled\",task=\"{TaskName}\"}}") >= 1, await agent.MetricsAsync());
        Assert.True(stalledAfter < TimeSpan.FromSeconds(8), $"STALLED only after {stalledAfter}");

        Assert.Equal(0, await agent.StopAsync());
        await AssertRestoresExactlyAsync("app.db");
    }

    [Fact]
    public async Task TransientStorageErrorsShorterThanTheBudget_AreRetriedWithoutPauseAndLoseNothing()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db"));
        await writer.InsertAsync(20);
        await StartTaskAsync("--retry-budget", "30s");

        await using var agent = await AgentProcess.StartAsync(
            Etcd.MetaUrl, StoreId, Dir.Path, new Dictionary<string, string> { ["FERRY_FAILPOINTS"] = "storage.put=error(FERRY:Storage:Unavailable)*3" });
        await writer.TransactionsAsync(10);
        var committed = Now();
        await EventuallyAsync(async () =>
        {
            var status = await StatusAsync();
            Assert.NotEqual("PAUSED_DUE_TO_ERROR", status.GetProperty("status").GetString());
            var store = FindStore(status);
            if (store is not { } s) return false;
            return State(s) == "RUNNING" && Checkpoint(s) >= committed;
        }, "RUNNING with the checkpoint past the last commit", agent);

        var retries = await agent.MetricAsync($"ferry_retries_total{{code=\"FERRY:Storage:Unavailable\",task=\"{TaskName}\"}}");
        Assert.Equal(3, retries);
        await writer.InsertAsync(5);
        var last = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && Checkpoint(s) >= last, "the checkpoint past the last commit", agent);
        var final = await StatusAsync();
        Assert.Equal("RUNNING", final.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, final.GetProperty("pause").ValueKind);

        Assert.Equal(0, await agent.StopAsync());
        var verify = await FerryCli.RunAsync(["storage", "verify", "--from", Backup], Dir.Path);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        await AssertRestoresExactlyAsync("app.db");
    }

    [Fact]
    public async Task TransientStorageErrorsLongerThanTheBudget_PauseTheTaskWithTheLastTransientCode()
    {
        var failpoints = Dir.File("failpoints");
        await File.WriteAllTextAsync(failpoints, "storage.put=error(FERRY:Storage:Unavailable)\n");
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db"));
        await writer.InsertAsync(20);
        await StartTaskAsync("--retry-budget", "2s");

        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, new Dictionary<string, string> { ["FERRY_FAILPOINTS_FILE"] = failpoints });
        var watch = Stopwatch.StartNew();
        JsonElement status = default;
        await EventuallyAsync(async () => (status = await StatusAsync()).GetProperty("status").GetString() == "PAUSED_DUE_TO_ERROR", "PAUSED_DUE_TO_ERROR", agent, TimeSpan.FromSeconds(10));
        var pausedAfter = watch.Elapsed;

        var pause = status.GetProperty("pause");
        Assert.Equal("FERRY:Storage:Unavailable", pause.GetProperty("error_code").GetString());
        Assert.Contains("retry budget", pause.GetProperty("message").GetString(), StringComparison.Ordinal);
        var store = FindStore(status)!.Value;
        Assert.Equal("FERRY:Storage:Unavailable", store.GetProperty("last_error").GetProperty("error_code").GetString());

        // The agent's /status still answers with the (thrown) error in its report, and names it.
        using (var agentStatus = await agent.StatusAsync())
        {
            Assert.Contains("\"code\":\"FERRY:Storage:Unavailable\"", agentStatus.RootElement.GetRawText(), StringComparison.Ordinal);
        }
        Assert.True(pausedAfter < TimeSpan.FromSeconds(8), $"paused only after {pausedAfter}");
        await EventuallyAsync(
            async () => await agent.MetricAsync($"ferry_task_state{{state=\"PAUSED_DUE_TO_ERROR\",task=\"{TaskName}\"}}") == 1, "/metrics to show PAUSED_DUE_TO_ERROR", agent);

        // Released and resumed with --clear-error, the task ships again from where it was.
        await File.WriteAllTextAsync(failpoints, "storage.put=off\n");
        var refused = await Ferry("task", "resume", TaskName);
        Assert.NotEqual(0, refused.ExitCode);
        var resumed = await Ferry("task", "resume", TaskName, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await writer.TransactionsAsync(5);
        var committed = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "RUNNING" && Checkpoint(s) >= committed, "RUNNING after resume --clear-error", agent);
        Assert.Equal(0, await agent.StopAsync());
        await AssertRestoresExactlyAsync("app.db");
    }
}
