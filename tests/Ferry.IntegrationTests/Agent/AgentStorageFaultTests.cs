using System.Diagnostics;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// Real storage faults under a real agent on a real etcd, with a separate writer process: a full file system and an
/// immutable directory each pause the task with their code (status, LastError, /metrics), leave the agent's other
/// task shipping, and after the operator fixes the cause and resumes with --clear-error nothing committed is lost.
/// Needs root (mount, chattr).
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentStorageFaultTests(EtcdServer etcd, ITestOutputHelper output) : IAsyncLifetime
{
    private const string QuotaExceeded = "FERRY:Storage:QuotaExceeded";
    private const string PermissionDenied = "FERRY:Storage:PermissionDenied";

    /// <summary>How long an error may take to show as a pause (the agent reads and publishes every 500 ms).</summary>
    private static readonly TimeSpan PauseDeadline = TimeSpan.FromSeconds(5);

    private readonly TempDirectory _dir = new("agent-faults");
    private readonly string _taskA = $"a{Guid.NewGuid():N}"[..12];
    private readonly string _taskB = $"b{Guid.NewGuid():N}"[..12];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The etcd is shared: remove this test's tasks so later agents don't pick them up.</summary>
    public async Task DisposeAsync()
    {
        await Harness.RemoveTasksAsync(_taskA, _taskB);
        _dir.Dispose();
    }

    private AgentHarness Harness => new(etcd.MetaUrl, _dir.Path, _storeId);

    [Fact]
    public async Task StorageFull_PausesOnlyThatTaskWithQuotaExceeded_ResumeAfterGrowingLosesNothing()
    {
        var h = Harness;
        var watch = Stopwatch.StartNew();
        Directory.CreateDirectory(_dir.File("a"));
        Directory.CreateDirectory(_dir.File("b"));
        Directory.CreateDirectory(_dir.File("backup-b"));
        using var tmpfs = await TmpfsMount.MountAsync(_dir.File("backup-a"), "2m");
        using var writerA = await PythonWriter.StartAsync(_dir.File("a/a.db"));
        using var writerB = await PythonWriter.StartAsync(_dir.File("b/b.db"));
        await writerA.InsertAsync(20);
        await writerB.InsertAsync(20);
        await h.StartTaskAsync(_taskA, _dir.File("a/*.db"), tmpfs.Path);
        await h.StartTaskAsync(_taskB, _dir.File("b/*.db"), _dir.File("backup-b"));
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);

        var first = Now();
        await h.WaitForStatusAsync(_taskA, v => v.CoversCommit(first), "task A to ship into the tmpfs", agent);

        // About 4 MB of incompressible rows into a 2 MB file system, in 64 KB transactions.
        for (var i = 0; i < 64; i++) await writerA.InsertAsync(16, 4000);
        var filled = Stopwatch.StartNew();
        var paused = await h.WaitForStatusAsync(
            _taskA, v => v.Status == "PAUSED_DUE_TO_ERROR", "task A to pause with the storage full", agent, PauseDeadline);
        var pausedAfter = filled.Elapsed;

        Assert.Equal(QuotaExceeded, paused.PauseCode);
        Assert.True(paused.ErrorCode == QuotaExceeded, paused.Json);
        await AgentHarness.WaitForAsync(
            async () => await agent.MetricAsync($"ferry_task_state{{state=\"PAUSED_DUE_TO_ERROR\",task=\"{_taskA}\"}}") == 1,
            "ferry_task_state PAUSED_DUE_TO_ERROR for A in /metrics", agent, PauseDeadline);
        // One error, one count, under the task it broke (not task="").
        Assert.True(await AgentHarness.ErrorsTotalAsync(agent, QuotaExceeded, _taskA) == 1, await agent.MetricsAsync());
        Assert.Contains(QuotaExceeded, agent.Log, StringComparison.Ordinal);

        // B, on the same agent with its storage on the normal disk, goes on shipping.
        await writerB.InsertAsync(50, 1000);
        var committedB = Now();
        var b = await h.WaitForStatusAsync(_taskB, v => v.CoversCommit(committedB), "task B to keep shipping while A is paused", agent);
        Assert.Null(b.ErrorCode);
        Assert.Equal(1, await agent.MetricAsync($"ferry_task_state{{state=\"RUNNING\",task=\"{_taskB}\"}}"));
        Assert.Equal("PAUSED_DUE_TO_ERROR", (await h.StatusAsync(_taskA)).Status);

        // The operator makes room and resumes: everything written meanwhile, and after, reaches storage.
        await tmpfs.ResizeAsync("64m");
        var resumed = await h.FerryAsync("task", "resume", _taskA, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await writerA.InsertAsync(30, 1000);
        await writerA.TransactionsAsync(20);
        var last = Now();
        var shipped = await h.WaitForStatusAsync(_taskA, v => v.CoversCommit(last), "task A to ship again after resume --clear-error", agent);
        Assert.Null(shipped.ErrorCode);

        Assert.Equal(0, await agent.StopAsync());
        await h.AssertRestoreMatchesAsync(tmpfs.Path, _dir.File("a/a.db"), _dir.File("restored-a.db"));
        Assert.Equal("1094", (await writerA.SqlAsync("SELECT count(*) FROM t")).Trim());
        output.WriteLine($"storage full: paused {pausedAfter.TotalMilliseconds:0} ms after the fill; whole test {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task ImmutableStorage_PausesWithPermissionDenied_ShipsAgainAfterClearing()
    {
        var h = Harness;
        var watch = Stopwatch.StartNew();
        Directory.CreateDirectory(_dir.File("a"));
        Directory.CreateDirectory(_dir.File("backup-a"));
        using var immutable = new ImmutableTree(_dir.File("backup-a"));
        using var writer = await PythonWriter.StartAsync(_dir.File("a/a.db"));
        await writer.InsertAsync(20);
        await h.StartTaskAsync(_taskA, _dir.File("a/*.db"), immutable.Path);
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        var first = Now();
        await h.WaitForStatusAsync(_taskA, v => v.CoversCommit(first), "task A to ship", agent);

        // Every directory and object of the storage tree becomes immutable: root can't write through that either.
        await immutable.SetAsync();
        var probe = Path.Combine(immutable.Path, "root-can-write");
        Assert.Throws<UnauthorizedAccessException>(() => File.WriteAllText(probe, "x"));
        Assert.False(File.Exists(probe));

        await writer.InsertAsync(10, 1000);
        var written = Stopwatch.StartNew();
        var paused = await h.WaitForStatusAsync(
            _taskA, v => v.Status == "PAUSED_DUE_TO_ERROR", "task A to pause on the immutable storage", agent, PauseDeadline);
        var pausedAfter = written.Elapsed;
        Assert.Equal(PermissionDenied, paused.PauseCode);
        Assert.True(paused.ErrorCode == PermissionDenied, paused.Json);
        await AgentHarness.WaitForAsync(
            async () => await agent.MetricAsync($"ferry_task_state{{state=\"PAUSED_DUE_TO_ERROR\",task=\"{_taskA}\"}}") == 1,
            "ferry_task_state PAUSED_DUE_TO_ERROR for A in /metrics", agent, PauseDeadline);
        Assert.True(await AgentHarness.ErrorsTotalAsync(agent, PermissionDenied, _taskA) == 1, await agent.MetricsAsync());

        // Resume refuses without --clear-error; after clearing the attribute and the error, it ships again.
        var refused = await h.FerryAsync("task", "resume", _taskA);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains(PermissionDenied, refused.Stderr, StringComparison.Ordinal);
        await immutable.ClearAsync();
        var resumed = await h.FerryAsync("task", "resume", _taskA, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await writer.TransactionsAsync(20);
        var last = Now();
        await h.WaitForStatusAsync(_taskA, v => v.CoversCommit(last), "task A to ship again after chattr -i and resume --clear-error", agent);

        Assert.Equal(0, await agent.StopAsync());
        await h.AssertRestoreMatchesAsync(immutable.Path, _dir.File("a/a.db"), _dir.File("restored-a.db"));
        Assert.Equal("50", (await writer.SqlAsync("SELECT count(*) FROM t")).Trim());
        output.WriteLine($"immutable: paused {pausedAfter.TotalMilliseconds:0} ms after the write; whole test {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
