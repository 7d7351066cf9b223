using System.Diagnostics;
using System.Text.Json;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Agent;

/// <summary>A real agent process on a real etcd: it picks up a task, ships, reports, and stops cleanly on SIGTERM.</summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentTests(EtcdServer etcd) : AgentTaskTestBase(etcd, "agent")
{
    [Fact]
    public async Task Agent_TaskStarted_ShipsReportsRunningAndStopsWithExitZero()
    {
        var db = Dir.File("dbs/app.db");
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Dir.File("backup"));
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(20);
        var started = await Ferry("task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Dir.File("backup"), "--flush-interval", "200ms");
        Assert.True(started.ExitCode == 0, started.ToString());

        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        await writer.TransactionsAsync(30);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", TaskName, "--json");
            using var doc = JsonDocument.Parse(status.Stdout);
            var store = doc.RootElement.GetProperty("tasks")[0].GetProperty("stores").EnumerateArray()
                .FirstOrDefault(s => s.GetProperty("store_id").GetInt64() == StoreId);
            return store.ValueKind == JsonValueKind.Object
                && store.GetProperty("state").GetString() == "RUNNING"
                && store.GetProperty("checkpoint").ValueKind == JsonValueKind.Number
                && store.GetProperty("checkpoint").GetInt64() >= committed;
        }, "the store to be RUNNING with a checkpoint past the last commit", agent);

        Assert.Equal(1, await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{TaskName}\"}}"));
        Assert.True(await agent.MetricAsync($"ferry_replicated_bytes_total{{task=\"{TaskName}\"}}") > 0);
        var exit = await agent.StopAsync();
        var restored = await FerryCli.RunAsync(["restore", "--from", Dir.File("backup"), "--db", "app.db", "--out", Dir.File("restored.db")], Dir.Path);

        Assert.Equal(0, exit);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal("50", (await writer.SqlAsync("SELECT count(*) FROM t")).Trim());
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Dir.File("restored.db")};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t";
        Assert.Equal(50L, (long)count.ExecuteScalar()!);
    }

    [Fact]
    public async Task Agent_NewerGenerationStarts_OldAgentIsFencedOutAndExitsZero()
    {
        await using var old = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1);
        await using var newer = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId + 1, Dir.Path, generation: 2);

        // Take over the old one's store with a newer generation: the old agent must notice and exit 0.
        await Etcdctl.PutAsync(Etcd, $"/ferry/v1/fence/{StoreId}", """{"deploy_generation":2,"epoch":1}""");
        using var deadline = new CancellationTokenSource(Deadline);
        await old.WaitForExitAsync(deadline.Token);

        Assert.Equal(0, old.Process.ExitCode);
        Assert.Contains("FERRY:Fence:DeployGeneration", old.Log, StringComparison.Ordinal);
        Assert.False(newer.Process.HasExited);
    }

    [Fact]
    public async Task ResumeWait_AfterManualPause_ReturnsWhenTheStoreWorksAgain()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Dir.File("backup"));
        using (var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db")))
        {
            await writer.InsertAsync(5);
        }

        await Ferry("task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Dir.File("backup"), "--flush-interval", "200ms");
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        await Ferry("task", "pause", TaskName);
        await EventuallyAsync(
            async () => await agent.MetricAsync($"ferry_task_state{{state=\"PAUSED\",task=\"{TaskName}\"}}") == 1,
            "the agent to pause the task", agent);

        var resume = await Ferry("task", "resume", TaskName, "--wait=20s");

        Assert.True(resume.ExitCode == 0, resume.ToString() + agent.Log);
        Assert.Contains($"store {StoreId}: working", resume.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{TaskName}\"}}"));
    }

    [Fact]
    public async Task Agent_CheckpointBehindMaxLag_ReportsLagExceeded()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Dir.File("backup"));
        using (var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db")))
        {
            await writer.InsertAsync(5);
        }

        // A max lag far below the flush interval: the checkpoint is behind it most of the time.
        await Ferry("task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Dir.File("backup"), "--flush-interval", "1s", "--max-lag", "10ms");
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        var series = $"ferry_errors_total{{class=\"Transient\",code=\"FERRY:Task:LagExceeded\",task=\"{TaskName}\"}}";

        await EventuallyAsync(async () => await agent.MetricAsync(series) >= 1, "the lag to be reported", agent);

        Assert.Contains("FERRY:Task:LagExceeded", agent.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_TaskStorageMissing_PausesTheTaskOnceWithStorageNotFound()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        await Ferry("task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Dir.File("no-such-backup-dir"));
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);

        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", TaskName, "--json");
            using var doc = JsonDocument.Parse(status.Stdout);
            return doc.RootElement.GetProperty("tasks")[0].GetProperty("status").GetString() == "PAUSED_DUE_TO_ERROR";
        }, "the task to pause", agent);
        var errors = $"ferry_errors_total{{class=\"Permanent\",code=\"FERRY:Storage:NotFound\",task=\"{TaskName}\"}}";
        var reported = await agent.MetricAsync(errors);
        // Several control rounds later, the paused task is not reported again.
        for (var round = 0; round < 4; round++) await Task.Delay(500);
        var status = await Ferry("task", "status", TaskName);

        var lastError = await Etcdctl.GetAsync(Etcd, $"/ferry/v1/last_error/{TaskName}/{StoreId}");
        var fence = await Etcdctl.GetAsync(Etcd, $"/ferry/v1/fence/{StoreId}");

        Assert.Equal(1, reported);
        Assert.Equal(1, await agent.MetricAsync(errors));
        Assert.Contains("FERRY:Storage:NotFound", status.Stdout, StringComparison.Ordinal);
        using var record = JsonDocument.Parse(lastError!);
        using var token = JsonDocument.Parse(fence!);
        // The record names its writer's deploy generation and epoch, as the fence holds them.
        Assert.Equal(token.RootElement.GetProperty("epoch").GetInt64(), record.RootElement.GetProperty("epoch").GetInt64());
        Assert.Equal(token.RootElement.GetProperty("deploy_generation").GetInt64(), record.RootElement.GetProperty("generation").GetInt64());
        Assert.True(record.RootElement.GetProperty("epoch").GetInt64() >= 1);
    }

    [Fact]
    public async Task Agent_FenceValueCorrupt_FailsWithItsCodeOneLineAndANonZeroExit()
    {
        // Regression: an error the agent does not handle by class ended the host with a logged stack trace and exit 0.
        await Etcdctl.PutAsync(Etcd, $"/ferry/v1/fence/{StoreId}", "not json");

        var result = await Ferry("agent", "--store-id", StoreId.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("FERRY:Meta:CorruptValue", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout, StringComparison.Ordinal);
        await Etcdctl.RunAsync(Etcd, "del", $"/ferry/v1/fence/{StoreId}");
    }

    [Fact]
    public async Task Agent_SameGenerationNewerEpoch_HaltsWithExit75()
    {
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 3);

        await Etcdctl.PutAsync(Etcd, $"/ferry/v1/fence/{StoreId}", """{"deploy_generation":3,"epoch":999}""");
        using var deadline = new CancellationTokenSource(Deadline);
        await agent.WaitForExitAsync(deadline.Token);

        Assert.Equal(75, agent.Process.ExitCode);
        Assert.Contains("FERRY:Fence:Epoch", agent.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_LeaseRevoked_ReBootstrapsWithANewLeaseAndKeepsShipping()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Dir.File("backup"));
        using var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db"));
        await writer.InsertAsync(5);
        await Ferry("task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Dir.File("backup"), "--flush-interval", "200ms");
        await using var agent = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path);
        var storeKey = $"/ferry/v1/stores/{StoreId}";
        var firstLease = await LeaseOfAsync(storeKey);

        await Etcdctl.RunAsync(Etcd, "lease", "revoke", firstLease.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        await EventuallyAsync(async () => await LeaseOfAsync(storeKey) is var lease && lease != 0 && lease != firstLease, "a new registration under a new lease", agent);
        await writer.TransactionsAsync(10);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", TaskName, "--json");
            using var doc = JsonDocument.Parse(status.Stdout);
            var checkpoint = doc.RootElement.GetProperty("tasks")[0].GetProperty("global_checkpoint");
            return checkpoint.ValueKind == JsonValueKind.Number && checkpoint.GetInt64() >= committed;
        }, "shipping to go on after the re-bootstrap", agent);

        Assert.Contains("lease) was lost", agent.Log, StringComparison.Ordinal);
        Assert.False(agent.Process.HasExited);
    }

    /// <summary>The lease a key is bound to (0 when the key is absent), as etcd reports it.</summary>
    private async Task<long> LeaseOfAsync(string key)
    {
        var json = await Etcdctl.RunAsync(Etcd, "get", key, "-w", "json");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty("kvs", out var kvs) && kvs.GetArrayLength() > 0 && kvs[0].TryGetProperty("lease", out var lease)
            ? lease.GetInt64()
            : 0;
    }
}
