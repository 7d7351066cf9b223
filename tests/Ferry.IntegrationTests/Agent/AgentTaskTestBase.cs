using System.Text.Json;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;

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

    /// <summary>The CLI, waits and restore checks the agent tests share.</summary>
    private protected AgentHarness Harness => new(Etcd.MetaUrl, Dir.Path, StoreId);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every agent runs every task in the shared etcd: leave none behind for the next test's agents.</summary>
    public async Task DisposeAsync()
    {
        await Ferry("task", "stop", TaskName);
        Dir.Dispose();
    }

    protected Task<CliResult> Ferry(params string[] args) => Harness.FerryAsync(args);

    protected Task StartTaskAsync(params string[] options) => Harness.StartTaskAsync(TaskName, Dir.File("dbs/*.db"), Backup, options);

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

    protected static Task EventuallyAsync(Func<Task<bool>> condition, string what, AgentProcess agent, TimeSpan? deadline = null) =>
        AgentHarness.WaitForAsync(condition, what, agent, deadline ?? Deadline);

    /// <summary>Restores <paramref name="database"/> (the agents stopped: everything committed is shipped) and compares <c>.dump</c>s.</summary>
    protected Task AssertRestoresExactlyAsync(string database) =>
        Harness.AssertRestoreMatchesAsync(Backup, Dir.File($"dbs/{database}"), Dir.File($"restored-{database}"));
}
