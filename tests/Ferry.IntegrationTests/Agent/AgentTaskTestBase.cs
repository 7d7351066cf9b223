using System.Diagnostics;
using System.Text.Json;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// One task of databases under <c>dbs/</c> backed up to <c>backup/</c>, run by real agent processes on the shared
/// etcd, and seen the way an operator sees it: through <c>ferry task status --json</c>. Every wait polls a
/// condition under a deadline.
/// </summary>
public abstract class AgentTaskTestBase(EtcdServer etcd, string name) : IAsyncLifetime
{
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    protected EtcdServer Etcd { get; } = etcd;

    protected TempDirectory Dir { get; } = new(name);

    protected string TaskName { get; } = $"{name[0]}{Guid.NewGuid():N}"[..12];

    protected long StoreId { get; } = Random.Shared.NextInt64(1000, 1_000_000);

    protected string Backup => Dir.File("backup");

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every agent runs every task in the shared etcd: leave none behind for the next test's agents.</summary>
    public async Task DisposeAsync()
    {
        await Ferry("task", "stop", TaskName);
        Dir.Dispose();
    }

    protected Task<CliResult> Ferry(params string[] args) => FerryCli.RunAsync([.. args, "--meta", Etcd.MetaUrl], Dir.Path);

    protected async Task StartTaskAsync(params string[] options)
    {
        var started = await Ferry(["task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", Backup, "--flush-interval", "200ms", .. options]);
        Assert.True(started.ExitCode == 0, started.ToString());
    }

    protected async Task<JsonElement> StatusAsync()
    {
        var result = await Ferry("task", "status", TaskName, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.GetProperty("tasks")[0].Clone();
    }

    protected JsonElement? FindStore(JsonElement task)
    {
        foreach (var store in task.GetProperty("stores").EnumerateArray())
        {
            if (store.GetProperty("store_id").GetInt64() == StoreId) return store;
        }

        return null;
    }

    protected async Task<JsonElement?> StoreAsync() => FindStore(await StatusAsync());

    protected static string? State(JsonElement store) => store.GetProperty("state").GetString();

    protected static long Checkpoint(JsonElement store) =>
        store.GetProperty("checkpoint").ValueKind == JsonValueKind.Number ? store.GetProperty("checkpoint").GetInt64() : 0;

    protected static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    protected static async Task EventuallyAsync(Func<Task<bool>> condition, string what, AgentProcess agent, TimeSpan? deadline = null)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > (deadline ?? Deadline)) Assert.Fail($"timed out after {watch.Elapsed.TotalSeconds:0.0} s waiting for {what}; agent log:\n{agent.Log}");
            await Task.Delay(50);
        }
    }

    /// <summary>Restores <paramref name="database"/> (the agents stopped: everything committed is shipped) and compares <c>.dump</c>s.</summary>
    protected async Task AssertRestoresExactlyAsync(string database)
    {
        var output = Dir.File($"restored-{database}");
        var restored = await FerryCli.RunAsync(["restore", "--from", Backup, "--db", database, "--out", output], Dir.Path);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal(await Sqlite3.DumpAsync(Dir.File($"dbs/{database}")), await Sqlite3.DumpAsync(output));
    }
}
