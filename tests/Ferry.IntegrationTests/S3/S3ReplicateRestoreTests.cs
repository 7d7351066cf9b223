using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.S3;
using Ferry.Storage;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.S3;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.S3;

/// <summary>
/// End to end against s3rver with real processes: a Python writer writes, <c>ferry replicate --to s3://…</c> ships
/// (and is stopped and started again), <c>ferry restore --from s3://…</c> gives back the database (compared by
/// <c>sqlite3 .dump</c>), and <c>ferry storage verify</c> and <c>ls</c> read the bucket. The endpoint reaches ferry
/// through FERRY_S3_ENDPOINT or the URL's <c>endpoint=</c>, the dummy credentials through the AWS environment variables only.
/// </summary>
public sealed class S3ReplicateRestoreTests : IClassFixture<S3rverServer>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly S3rverServer _server;
    private readonly TempDirectory _dir = new("s3-replicate");

    public S3ReplicateRestoreTests(S3rverServer server) => _server = server;

    public void Dispose() => _dir.Dispose();

    private string Db => _dir.File("app.db");

    private string Home => _dir.File("home");

    private Process StartReplicate(string url, IReadOnlyDictionary<string, string>? environment = null) =>
        FerryCli.Start(["replicate", Db, "--to", url, "--flush-interval", "200ms"], Home, environment ?? _server.Environment);

    private static async Task StopAsync(Process replicate)
    {
        replicate.Kill(Signal.Term);
        await replicate.WaitForExitAsync();
        Assert.True(replicate.ExitCode == 0, $"ferry replicate exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}");
    }

    [Fact]
    public async Task ReplicateToS3ThenRestore_WriterCheckpointsAndFerryRestarts_RestoreEqualsSourceAndVerifyPasses()
    {
        var url = $"s3://{_server.Bucket}/e2e-{Guid.NewGuid():N}/backups";
        using var writer = await PythonWriter.StartAsync(Db, cacheSizePages: 10);
        await writer.InsertAsync(50);
        var replicate = StartReplicate(url);
        try
        {
            await writer.TransactionsAsync(30);
            await writer.InsertAsync(300, 4000); // a bigger transaction: spills the 10-page cache
            await writer.CheckpointAsync("TRUNCATE");
            await writer.TransactionsAsync(20, 300);
            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline, () => $"\ns3rver:\n{_server.Log}");
            await StopAsync(replicate);
            replicate.Dispose();

            await writer.TransactionsAsync(10);
            replicate = StartReplicate(url);
            await writer.TransactionsAsync(25);
            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline, () => $"\ns3rver:\n{_server.Log}");
            var finalDump = await Sqlite3.DumpAsync(Db);
            await StopAsync(replicate);

            var restored = await FerryCli.RunAsync(["restore", "--from", url, "--db", "app.db", "--out", _dir.File("restored.db")], Home, _server.Environment);
            Assert.True(restored.ExitCode == 0, restored.ToString());
            Assert.Equal(finalDump, await Sqlite3.DumpAsync(_dir.File("restored.db")));

            var verify = await FerryCli.RunAsync(["storage", "verify", "--from", url], Home, _server.Environment);
            Assert.True(verify.ExitCode == 0, verify.ToString());

            var list = await FerryCli.RunAsync(["storage", "ls", "--from", url], Home, _server.Environment);
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Contains(Db, list.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(S3rverServer.SecretKey, list.Stdout + list.Stderr + verify.Stdout + verify.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
            replicate.Dispose();
        }
    }

    /// <summary>
    /// The URL's endpoint decides the server, over FERRY_S3_ENDPOINT and without it. Regression: an s3:// URL with a
    /// query string was refused, so the server came from FERRY_S3_ENDPOINT only and one agent could use one S3 server.
    /// </summary>
    [Fact]
    public async Task ReplicateAndRestore_UrlNamesAnotherServer_ObjectsOnThatServerOnlyAndRestoreEqualsSource()
    {
        var other = new S3rverServer();
        await other.InitializeAsync();
        try
        {
            var prefix = $"url-{Guid.NewGuid():N}";
            var url = $"s3://{_server.Bucket}/{prefix}?endpoint={other.Endpoint.ToString().TrimEnd('/')}&region=eu-west-3";
            // FERRY_S3_ENDPOINT names the fixture's server, which has the same bucket: writing there would succeed too.
            using var writer = await PythonWriter.StartAsync(Db);
            await writer.InsertAsync(200, 500);
            var replicate = StartReplicate(url, _server.Environment);
            try
            {
                await writer.TransactionsAsync(20);
                await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline, () => $"\ns3rver:\n{_server.Log}");
                await StopAsync(replicate);
            }
            finally
            {
                if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
                replicate.Dispose();
            }

            Assert.NotEmpty(await ListAsync(other, prefix));
            Assert.Empty(await ListAsync(_server, prefix));

            // No FERRY_S3_ENDPOINT at all (an empty variable is unset): the URL alone names the server.
            var noEndpoint = new Dictionary<string, string>(_server.Environment) { ["FERRY_S3_ENDPOINT"] = "" };
            await StorageChecks.AssertRestoreMatchesAsync(url, Db, _dir.File("restored.db"), Home, noEndpoint);
            await StorageChecks.AssertVerifiesAsync(url, Home, noEndpoint);

            // Without the URL's endpoint, the same bucket and prefix on the environment's server hold no backup.
            var elsewhere = await FerryCli.RunAsync(["restore", "--from", $"s3://{_server.Bucket}/{prefix}", "--db", "app.db", "--out", _dir.File("elsewhere.db")], Home, _server.Environment);
            Assert.True(elsewhere.ExitCode != 0, elsewhere.ToString());
        }
        finally
        {
            await other.DisposeAsync();
        }
    }

    /// <summary>Every object under <paramref name="prefix"/> of the test bucket on <paramref name="server"/>, read with its own client.</summary>
    private static async Task<IReadOnlyList<ObjectInfo>> ListAsync(S3rverServer server, string prefix)
    {
        var options = new S3StorageOptions
        {
            Endpoint = server.Endpoint,
            AccessKeyId = S3rverServer.AccessKey,
            SecretAccessKey = new S3Secret(S3rverServer.SecretKey),
        };
        await using var storage = new S3ObjectStorage(StorageUrl.Parse($"s3://{server.Bucket}/{prefix}"), options);
        return await storage.ListAsync("");
    }

    [Fact]
    public async Task StorageLs_MissingBucket_NamesTheBucketNotTheSecret()
    {
        var result = await FerryCli.RunAsync(["storage", "ls", "--from", "s3://no-such-bucket-ferry/x"], Home, _server.Environment);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Storage:NotFound", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(S3rverServer.SecretKey, result.Stderr, StringComparison.Ordinal);
    }
}
