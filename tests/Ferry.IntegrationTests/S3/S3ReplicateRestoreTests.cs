using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.S3;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.S3;

/// <summary>
/// End to end against s3rver with real processes: a Python writer writes, <c>ferry replicate --to s3://…</c> ships
/// (and is stopped and started again), <c>ferry restore --from s3://…</c> gives back the database (compared by
/// <c>sqlite3 .dump</c>), and <c>ferry storage verify</c> and <c>ls</c> read the bucket. The endpoint and the dummy
/// credentials reach ferry through FERRY_S3_ENDPOINT and the AWS environment variables only.
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

    private Process StartReplicate(string url) =>
        FerryCli.Start(["replicate", Db, "--to", url, "--flush-interval", "200ms"], Home, _server.Environment);


    private async Task WaitDurableAsync(Process replicate)
    {
        var target = DateTimeOffset.UtcNow;
        await using var meta = await SqliteMetaStore.OpenAsync(Path.Combine(Home, "meta.db"));
        var control = new TaskControl(meta, new MetaKeys(), TimeProvider.System);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (replicate.HasExited) Assert.Fail($"ferry replicate exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}\ns3rver:\n{_server.Log}");
            var status = (await control.StatusAsync()).SingleOrDefault();
            if (status?.GlobalCheckpoint is { } checkpoint && checkpoint >= target.ToUnixTimeMilliseconds()) return;
            if (watch.Elapsed > Deadline) Assert.Fail($"checkpoint never reached {target:O}");
            await Task.Delay(50);
        }
    }

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
            await WaitDurableAsync(replicate);
            await StopAsync(replicate);
            replicate.Dispose();

            await writer.TransactionsAsync(10);
            replicate = StartReplicate(url);
            await writer.TransactionsAsync(25);
            await WaitDurableAsync(replicate);
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

    [Fact]
    public async Task StorageLs_MissingBucket_NamesTheBucketNotTheSecret()
    {
        var result = await FerryCli.RunAsync(["storage", "ls", "--from", "s3://no-such-bucket-ferry/x"], Home, _server.Environment);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Storage:NotFound", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(S3rverServer.SecretKey, result.Stderr, StringComparison.Ordinal);
    }
}
