using System.Net;
using System.Net.Sockets;
using Ferry.TestKit;
using Ferry.TestKit.Cli;

namespace Ferry.IntegrationTests.Cli;

/// <summary>Bad input through the real process: one line naming the problem, the right exit code, no stack trace.</summary>
public sealed class CliBadInputTests : IDisposable
{
    private readonly TempDirectory _home = new("cli-bad");

    public void Dispose() => _home.Dispose();

    private Task<CliResult> Ferry(params string[] args) => FerryCli.RunAsync(args, _home.Path);

    private static void AssertOneLineNoTrace(CliResult result)
    {
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
        Assert.True(result.Stderr.Trim().Split('\n').Length <= 2, result.ToString());
    }

    [Theory]
    [InlineData("task", "start", "t1", "--to", "/tmp/x")]                        // missing --db
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "/x", "--bogus")] // unknown flag
    [InlineData("task", "pause")]                                                // missing NAME
    [InlineData("task", "status", "--meta", "redis://localhost")]               // malformed meta URL
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "ftp://host/x")] // malformed storage URL
    [InlineData("task", "start", "bad/name", "--db", "a.db", "--to", "/x")]     // invalid task name
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "/x", "--flush-interval", "soon")]
    [InlineData("agent", "--store-id", "1", "--takeover", "later")]                 // not now or when-ready
    [InlineData("agent", "--store-id", "1", "--takeover", "when-ready", "--takeover-timeout", "5")]
    public async Task Command_BadInput_UsageExitCodeOneLine(params string[] args)
    {
        var result = await Ferry(args);

        Assert.True(result.ExitCode == 64, result.ToString());
        AssertOneLineNoTrace(result);
    }

    [Fact]
    public async Task Status_EtcdUnreachable_TransientMetaCodeExit69()
    {
        // A port nobody listens on: bind one, note it, release it.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = await Ferry("task", "status", "--meta", $"etcd://127.0.0.1:{port}");

        Assert.True(result.ExitCode == 69, result.ToString());
        Assert.Matches("FERRY:Meta:(Unavailable|Timeout)", result.Stderr);
        AssertOneLineNoTrace(result);
    }

    [Fact]
    public async Task Status_EmbeddedStoreIsGarbage_CorruptStoreOneLine()
    {
        var meta = _home.File("garbage.db");
        await File.WriteAllTextAsync(meta, new string('x', 8192));

        var result = await Ferry("task", "status", "--meta", $"file:{meta}");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Meta:CorruptStore", result.Stderr, StringComparison.Ordinal);
        AssertOneLineNoTrace(result);
    }

    [Fact]
    public async Task TaskLifecycle_EmbeddedDefault_WorksWithoutConfiguration()
    {
        var start = await Ferry("task", "start", "app", "--db", "/data/app.db", "--to", _home.File("backup"));
        var status = await Ferry("task", "status");
        var missing = await Ferry("task", "resume", "nope");

        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.True(File.Exists(Path.Combine(_home.Path, "meta.db")), "the embedded store lives in FERRY_HOME");
        Assert.Contains("app", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("RUNNING", status.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("FERRY:Task:NotFound", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_ListsEveryCodeWithClassAndHint()
    {
        var result = await Ferry("errors");

        Assert.Equal(0, result.ExitCode);
        foreach (var code in global::Ferry.Errors.ErrorCodes.All)
        {
            Assert.Contains(code.Code, result.Stdout, StringComparison.Ordinal);
        }
    }
}
