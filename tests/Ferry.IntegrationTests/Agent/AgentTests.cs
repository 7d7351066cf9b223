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
public sealed class AgentTests(EtcdServer etcd) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("agent");
    private readonly string _task = $"a{Guid.NewGuid():N}"[..12];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every agent runs every task in the shared etcd: leave none behind for the next test's agents.</summary>
    public async Task DisposeAsync()
    {
        await Ferry("task", "stop", _task);
        _dir.Dispose();
    }

    private Task<CliResult> Ferry(params string[] args) => FerryCli.RunAsync([.. args, "--meta", etcd.MetaUrl], _dir.Path);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what, AgentProcess agent)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > Deadline) Assert.Fail($"timed out waiting for {what}; agent log:\n{agent.Log}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Agent_TaskStarted_ShipsReportsRunningAndStopsWithExitZero()
    {
        var db = _dir.File("dbs/app.db");
        Directory.CreateDirectory(_dir.File("dbs"));
        Directory.CreateDirectory(_dir.File("backup"));
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(20);
        var started = await Ferry("task", "start", _task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("backup"), "--flush-interval", "200ms");
        Assert.True(started.ExitCode == 0, started.ToString());

        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        await writer.TransactionsAsync(30);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", _task, "--json");
            using var doc = JsonDocument.Parse(status.Stdout);
            var store = doc.RootElement.GetProperty("tasks")[0].GetProperty("stores").EnumerateArray()
                .FirstOrDefault(s => s.GetProperty("store_id").GetInt64() == _storeId);
            return store.ValueKind == JsonValueKind.Object
                && store.GetProperty("state").GetString() == "RUNNING"
                && store.GetProperty("checkpoint").ValueKind == JsonValueKind.Number
                && store.GetProperty("checkpoint").GetInt64() >= committed;
        }, "the store to be RUNNING with a checkpoint past the last commit", agent);

        Assert.Equal(1, await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{_task}\"}}"));
        Assert.True(await agent.MetricAsync($"ferry_replicated_bytes_total{{task=\"{_task}\"}}") > 0);
        var exit = await agent.StopAsync();
        var restored = await FerryCli.RunAsync(["restore", "--from", _dir.File("backup"), "--db", "app.db", "--out", _dir.File("restored.db")], _dir.Path);

        Assert.Equal(0, exit);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal("50", (await writer.SqlAsync("SELECT count(*) FROM t")).Trim());
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_dir.File("restored.db")};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t";
        Assert.Equal(50L, (long)count.ExecuteScalar()!);
    }

    [Fact]
    public async Task Agent_NewerGenerationStarts_OldAgentIsFencedOutAndExitsZero()
    {
        await using var old = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path, generation: 1);
        await using var newer = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId + 1, _dir.Path, generation: 2);

        // Take over the old one's store with a newer generation: the old agent must notice and exit 0.
        await Etcdctl.PutAsync(etcd, $"/ferry/v1/fence/{_storeId}", """{"deploy_generation":2,"epoch":1}""");
        using var deadline = new CancellationTokenSource(Deadline);
        await old.WaitForExitAsync(deadline.Token);

        Assert.Equal(0, old.Process.ExitCode);
        Assert.Contains("FERRY:Fence:DeployGeneration", old.Log, StringComparison.Ordinal);
        Assert.False(newer.Process.HasExited);
    }

    [Fact]
    public async Task ResumeWait_AfterManualPause_ReturnsWhenTheStoreWorksAgain()
    {
        Directory.CreateDirectory(_dir.File("dbs"));
        Directory.CreateDirectory(_dir.File("backup"));
        using (var writer = await PythonWriter.StartAsync(_dir.File("dbs/app.db")))
        {
            await writer.InsertAsync(5);
        }

        await Ferry("task", "start", _task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("backup"), "--flush-interval", "200ms");
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        await Ferry("task", "pause", _task);
        await EventuallyAsync(
            async () => await agent.MetricAsync($"ferry_task_state{{state=\"PAUSED\",task=\"{_task}\"}}") == 1,
            "the agent to pause the task", agent);

        var resume = await Ferry("task", "resume", _task, "--wait=20s");

        Assert.True(resume.ExitCode == 0, resume.ToString() + agent.Log);
        Assert.Contains($"store {_storeId}: working", resume.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{_task}\"}}"));
    }

    [Fact]
    public async Task Agent_CheckpointBehindMaxLag_ReportsLagExceeded()
    {
        Directory.CreateDirectory(_dir.File("dbs"));
        Directory.CreateDirectory(_dir.File("backup"));
        using (var writer = await PythonWriter.StartAsync(_dir.File("dbs/app.db")))
        {
            await writer.InsertAsync(5);
        }

        // A max lag far below the flush interval: the checkpoint is behind it most of the time.
        await Ferry("task", "start", _task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("backup"), "--flush-interval", "1s", "--max-lag", "10ms");
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        var series = $"ferry_errors_total{{class=\"Transient\",code=\"FERRY:Task:LagExceeded\",task=\"{_task}\"}}";

        await EventuallyAsync(async () => await agent.MetricAsync(series) >= 1, "the lag to be reported", agent);

        Assert.Contains("FERRY:Task:LagExceeded", agent.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_TaskStorageMissing_PausesTheTaskOnceWithStorageNotFound()
    {
        Directory.CreateDirectory(_dir.File("dbs"));
        await Ferry("task", "start", _task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("no-such-backup-dir"));
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);

        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", _task, "--json");
            using var doc = JsonDocument.Parse(status.Stdout);
            return doc.RootElement.GetProperty("tasks")[0].GetProperty("status").GetString() == "PAUSED_DUE_TO_ERROR";
        }, "the task to pause", agent);
        var errors = $"ferry_errors_total{{class=\"Permanent\",code=\"FERRY:Storage:NotFound\",task=\"{_task}\"}}";
        var reported = await agent.MetricAsync(errors);
        // Several control rounds later, the paused task is not reported again.
        for (var round = 0; round < 4; round++) await Task.Delay(500);
        var status = await Ferry("task", "status", _task);

        var lastError = await Etcdctl.GetAsync(etcd, $"/ferry/v1/last_error/{_task}/{_storeId}");
        var fence = await Etcdctl.GetAsync(etcd, $"/ferry/v1/fence/{_storeId}");

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
    public async Task Agent_SameGenerationNewerEpoch_HaltsWithExit75()
    {
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path, generation: 3);

        await Etcdctl.PutAsync(etcd, $"/ferry/v1/fence/{_storeId}", """{"deploy_generation":3,"epoch":999}""");
        using var deadline = new CancellationTokenSource(Deadline);
        await agent.WaitForExitAsync(deadline.Token);

        Assert.Equal(75, agent.Process.ExitCode);
        Assert.Contains("FERRY:Fence:Epoch", agent.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_LeaseRevoked_ReBootstrapsWithANewLeaseAndKeepsShipping()
    {
        Directory.CreateDirectory(_dir.File("dbs"));
        Directory.CreateDirectory(_dir.File("backup"));
        using var writer = await PythonWriter.StartAsync(_dir.File("dbs/app.db"));
        await writer.InsertAsync(5);
        await Ferry("task", "start", _task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("backup"), "--flush-interval", "200ms");
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        var storeKey = $"/ferry/v1/stores/{_storeId}";
        var firstLease = await LeaseOfAsync(storeKey);

        await Etcdctl.RunAsync(etcd, "lease", "revoke", firstLease.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        await EventuallyAsync(async () => await LeaseOfAsync(storeKey) is var lease && lease != 0 && lease != firstLease, "a new registration under a new lease", agent);
        await writer.TransactionsAsync(10);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await EventuallyAsync(async () =>
        {
            var status = await Ferry("task", "status", _task, "--json");
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
        var json = await Etcdctl.RunAsync(etcd, "get", key, "-w", "json");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty("kvs", out var kvs) && kvs.GetArrayLength() > 0 && kvs[0].TryGetProperty("lease", out var lease)
            ? lease.GetInt64()
            : 0;
    }
}
