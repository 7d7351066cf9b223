using Ferry.TestKit;
using Ferry.TestKit.Azure;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Azure;

/// <summary>
/// End to end against Azurite with real processes: a Python writer writes, <c>ferry replicate --to az://…</c> ships,
/// <c>ferry restore --from az://…</c> gives back the database (compared by <c>sqlite3 .dump</c>), and
/// <c>ferry storage verify</c> and <c>ls</c> read the container. The credentials reach ferry through the environment
/// only: the connection string, or the account and key with the endpoint in the URL.
/// </summary>
public sealed class AzureReplicateRestoreTests : IClassFixture<AzuriteServer>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly AzuriteServer _server;
    private readonly TempDirectory _dir = new("az-replicate");

    public AzureReplicateRestoreTests(AzuriteServer server) => _server = server;

    public void Dispose() => _dir.Dispose();

    private string Db => _dir.File("app.db");

    private string Home => _dir.File("home");

    [Fact]
    public async Task ReplicateToAzureThenRestore_WriterCheckpoints_RestoreEqualsSourceAndVerifyAndLsReadIt()
    {
        // The connection string names the endpoint; abs:// is the same as az://.
        var url = $"abs://{_server.Container}/e2e-{Guid.NewGuid():N}/backups";
        using var writer = await PythonWriter.StartAsync(Db, cacheSizePages: 10);
        await writer.InsertAsync(50);
        var replicate = FerryCli.Start(["replicate", Db, "--to", url, "--flush-interval", "200ms"], Home, _server.Environment);
        try
        {
            await writer.TransactionsAsync(30);
            await writer.InsertAsync(300, 4000); // a bigger transaction: spills the 10-page cache
            await writer.CheckpointAsync("TRUNCATE");
            await writer.TransactionsAsync(20, 300);
            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline, () => $"\nazurite:\n{_server.Log}");
            replicate.Kill(Signal.Term);
            await replicate.WaitForExitAsync();
            Assert.True(replicate.ExitCode == 0, $"ferry replicate exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}");
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
            replicate.Dispose();
        }

        await StorageChecks.AssertRestoreMatchesAsync(url, Db, _dir.File("restored.db"), Home, _server.Environment);
        await StorageChecks.AssertVerifiesAsync(url, Home, _server.Environment);

        // The same backup through the account and key, the endpoint in the URL.
        var byKey = _server.Url(url[(url.IndexOf('/', "abs://".Length) + 1)..]);
        var list = await FerryCli.RunAsync(["storage", "ls", "--from", byKey], Home, AzuriteServer.KeyEnvironment());
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(Db, list.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(AzuriteServer.AccountKey, list.Stdout + list.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StorageLs_MissingContainer_NotFoundNamingTheContainerNotTheKey()
    {
        var result = await FerryCli.RunAsync(["storage", "ls", "--from", _server.Url("x", container: "no-such-container")], Home, AzuriteServer.KeyEnvironment());

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Storage:NotFound", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ContainerNotFound", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(AzuriteServer.AccountKey, result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StorageLs_NoCredentials_InvalidStorageCredentialsNamingTheVariables()
    {
        var result = await FerryCli.RunAsync(["storage", "ls", "--from", _server.Url("x")], Home);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Config:InvalidStorageCredentials", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("AZURE_STORAGE_ACCOUNT", result.Stderr, StringComparison.Ordinal);
    }
}
