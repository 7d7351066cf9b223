using Ferry.IntegrationTests.Agent;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Azure;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Azure;

/// <summary>
/// Permanent Azure failures under a real agent on the shared etcd, with a separate writer process, against one
/// Azurite: a missing container and a wrong account key each pause the task with their code (status, LastError,
/// /metrics), the key shows in no output, and after the operator fixes the cause (creates the container; restarts
/// the agent with the right key) <c>ferry task resume NAME --clear-error</c> ships again and nothing committed is lost.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AzureAgentFaultTests(EtcdServer etcd, AzuriteServer azurite) : IClassFixture<AzuriteServer>, IAsyncLifetime
{
    private const string NotFound = "FERRY:Storage:NotFound";
    private const string PermissionDenied = "FERRY:Storage:PermissionDenied";

    /// <summary>A valid base64 key of the right length that is not the account's.</summary>
    private const string WrongKey = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0s=";

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("az-agent-faults");
    private readonly string _task = $"z{Guid.NewGuid():N}"[..12];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    private AgentHarness Harness => new(etcd.MetaUrl, _dir.Path, _storeId);

    private string Database => _dir.File("dbs/app.db");

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>The etcd is shared: remove this test's task so later agents don't pick it up.</summary>
    public async Task DisposeAsync()
    {
        await Harness.RemoveTasksAsync(_task);
        _dir.Dispose();
    }

    [Fact]
    public async Task MissingContainer_TaskPausesWithStorageNotFound_CreatingItAndResumeClearErrorShipsAndRestoresExactly()
    {
        var h = Harness;
        var container = $"c{Guid.NewGuid():N}"[..20];
        var url = azurite.Url("backups", container);
        using var writer = await StartWriterAsync();
        await h.StartTaskAsync(_task, _dir.File("dbs/*.db"), url);
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path, AzuriteServer.KeyEnvironment());

        var paused = await h.WaitForStatusAsync(_task, v => v.Status == "PAUSED_DUE_TO_ERROR", "the task to pause on the missing container", agent, Deadline);
        Assert.True(paused.PauseCode == NotFound, paused.Json);
        Assert.True(paused.ErrorCode == NotFound, paused.Json);
        Assert.Contains("ContainerNotFound", paused.Json, StringComparison.Ordinal);
        await AgentHarness.WaitForAsync(
            async () => await AgentHarness.ErrorsTotalAsync(agent, NotFound, _task) >= 1, "ferry_errors_total for NotFound in /metrics", agent, Deadline);

        await azurite.CreateContainerAsync(container);
        await writer.TransactionsAsync(10);
        var resumed = await h.FerryAsync("task", "resume", _task, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await writer.TransactionsAsync(5);
        var committed = Now();
        var shipped = await h.WaitForStatusAsync(_task, v => v.CoversCommit(committed), "the task to ship after the container was created and resume --clear-error", agent, Deadline);
        Assert.Null(shipped.ErrorCode);

        Assert.Equal(0, await agent.StopAsync());
        await StorageChecks.AssertRestoreMatchesAsync(url, Database, _dir.File("restored.db"), _dir.Path, AzuriteServer.KeyEnvironment());
    }

    [Fact]
    public async Task WrongAccountKey_TaskPausesWithPermissionDeniedAndTheKeyInNoOutput_RightKeyAndResumeClearErrorShipsAndRestoresExactly()
    {
        var h = Harness;
        var url = azurite.Url($"key-{Guid.NewGuid():N}");
        using var writer = await StartWriterAsync();
        await h.StartTaskAsync(_task, _dir.File("dbs/*.db"), url);
        var wrong = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path, AzuriteServer.KeyEnvironment(WrongKey));
        TaskView paused;
        string wrongLog;
        await using (wrong)
        {
            paused = await h.WaitForStatusAsync(_task, v => v.Status == "PAUSED_DUE_TO_ERROR", "the task to pause on the wrong key", wrong, Deadline);
            Assert.True(await AgentHarness.ErrorsTotalAsync(wrong, PermissionDenied, _task) >= 1, await wrong.MetricsAsync());
            Assert.Equal(0, await wrong.StopAsync());
            wrongLog = wrong.Log;
        }

        Assert.True(paused.PauseCode == PermissionDenied, paused.Json);
        Assert.True(paused.ErrorCode == PermissionDenied, paused.Json);
        Assert.Contains("AZURE_STORAGE_KEY", paused.Json, StringComparison.Ordinal);
        Assert.Contains(PermissionDenied, wrongLog, StringComparison.Ordinal);
        var refused = await h.FerryAsync("task", "resume", _task);
        Assert.NotEqual(0, refused.ExitCode);
        var status = await h.FerryAsync("task", "status", _task);
        foreach (var output in new[] { paused.Json, wrongLog, refused.Stdout + refused.Stderr, status.Stdout + status.Stderr })
        {
            Assert.DoesNotContain(WrongKey, output, StringComparison.Ordinal);
            Assert.DoesNotContain(WrongKey[..16], output, StringComparison.Ordinal);
        }

        // The operator restarts the agent with the right key and clears the error: everything written meanwhile ships.
        await writer.TransactionsAsync(10);
        await using var right = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path, AzuriteServer.KeyEnvironment());
        var resumed = await h.FerryAsync("task", "resume", _task, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        await writer.TransactionsAsync(5);
        var committed = Now();
        var shipped = await h.WaitForStatusAsync(_task, v => v.CoversCommit(committed), "the task to ship with the right key after resume --clear-error", right, Deadline);
        Assert.Null(shipped.ErrorCode);

        Assert.Equal(0, await right.StopAsync());
        Assert.DoesNotContain(AzuriteServer.AccountKey, right.Log, StringComparison.Ordinal);
        await StorageChecks.AssertRestoreMatchesAsync(url, Database, _dir.File("restored.db"), _dir.Path, AzuriteServer.KeyEnvironment());
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private async Task<PythonWriter> StartWriterAsync()
    {
        Directory.CreateDirectory(_dir.File("dbs"));
        var writer = await PythonWriter.StartAsync(Database);
        await writer.InsertAsync(20);
        return writer;
    }
}
