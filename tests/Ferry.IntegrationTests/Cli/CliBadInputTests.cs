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
    [InlineData("replicate", "a.db", "--to", "/x", "--flush-interval", "5ms")]                 // below the range (replicate skipped the check)
    [InlineData("replicate", "a.db", "--to", "/x", "--stall-timeout", "100ms")]
    [InlineData("replicate", "a.db", "--to", "/x", "--retention", "30s")]                      // shorter than a minute
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "/x", "--retention", "1w")]      // not a duration
    [InlineData("storage", "prune", "--from", "/x", "--retention", "59s")]
    [InlineData("agent", "--store-id", "1", "--takeover", "later")]                 // not now or when-ready
    [InlineData("agent", "--store-id", "1", "--takeover", "when-ready", "--takeover-timeout", "5")]
    [InlineData("replicate", "a.db", "--to", "/x", "--exec", "app 'unclosed")]     // can't be split into words
    [InlineData("wait", "a.db", "--timeout", "soon")]
    public async Task Command_BadInput_UsageExitCodeOneLine(params string[] args)
    {
        var result = await Ferry(args);

        Assert.True(result.ExitCode == 64, result.ToString());
        AssertOneLineNoTrace(result);
    }

    /// <summary>
    /// An unknown option is a usage error on every command, wherever it stands. Regression: after a variadic argument
    /// (replicate DB...), in a NAME slot, or where an option takes a value (--db a.db --bogus, --message --bogus),
    /// the parser bound it as a value and the command ran with it (replicate looked for a database "./--bogus").
    /// </summary>
    [Theory]
    [InlineData("ferry replicate", "replicate", "app.db", "--to", "./b", "--bogus", "1")]
    [InlineData("ferry replicate", "replicate", "--bogus", "app.db", "--to", "./b")]
    [InlineData("ferry replicate", "replicate", "app.db", "--bogus", "--to", "./b")]
    [InlineData("ferry restore", "restore", "--bogus", "--from", "./b", "--db", "app.db", "--out", "r.db")]
    [InlineData("ferry restore", "restore", "--from", "./b", "--db", "app.db", "--out", "r.db", "--bogus")]
    [InlineData("ferry storage ls", "storage", "ls", "--bogus", "--from", "./b")]
    [InlineData("ferry storage ls", "storage", "ls", "--from", "./b", "--bogus")]
    [InlineData("ferry storage verify", "storage", "verify", "--bogus", "--from", "./b")]
    [InlineData("ferry storage verify", "storage", "verify", "--from", "./b", "--db", "--bogus")]
    [InlineData("ferry demo", "demo", "--bogus")]
    [InlineData("ferry demo", "demo", "--seconds", "1", "--bogus")]
    [InlineData("ferry agent", "agent", "--bogus", "--store-id", "1")]
    [InlineData("ferry agent", "agent", "--store-id", "1", "--bogus")]
    [InlineData("ferry task start", "task", "start", "--bogus", "t1", "--db", "a.db", "--to", "./b")]
    [InlineData("ferry task start", "task", "start", "t1", "--bogus", "--db", "a.db", "--to", "./b")]
    [InlineData("ferry task start", "task", "start", "t1", "--db", "a.db", "--bogus", "--to", "./b")]
    [InlineData("ferry task start", "task", "start", "t1", "--db", "a.db", "--to", "./b", "--bogus")]
    [InlineData("ferry task status", "task", "status", "--bogus")]
    [InlineData("ferry task status", "task", "status", "--bogus", "t1")]
    [InlineData("ferry task status", "task", "status", "t1", "--bogus")]
    [InlineData("ferry task pause", "task", "pause", "--bogus", "t1")]
    [InlineData("ferry task pause", "task", "pause", "t1", "--bogus")]
    [InlineData("ferry task pause", "task", "pause", "t1", "--message", "--bogus")]
    [InlineData("ferry task resume", "task", "resume", "--bogus", "t1")]
    [InlineData("ferry task resume", "task", "resume", "t1", "--bogus")]
    [InlineData("ferry task resume", "task", "resume", "t1", "--wait", "--bogus")]
    [InlineData("ferry task stop", "task", "stop", "--bogus", "t1")]
    [InlineData("ferry task stop", "task", "stop", "t1", "--bogus")]
    [InlineData("ferry errors", "errors", "--bogus")]
    [InlineData("ferry errors", "errors", "--markdown", "--bogus")]
    [InlineData("ferry task", "task", "--bogus")]
    [InlineData("ferry storage", "storage", "--bogus")]
    [InlineData("ferry", "--bogus")]
    public async Task Command_UnknownOption_UsageErrorNamingIt(string command, params string[] args)
    {
        var result = await Ferry(args);

        Assert.True(result.ExitCode == 64, result.ToString());
        Assert.Equal(
            ["ferry: unrecognized option '--bogus'", $"See '{command} --help'."],
            result.Stderr.TrimEnd().Split('\n'));
        Assert.True(result.Stdout.Length == 0, result.ToString());
    }

    /// <summary>
    /// What still reaches the command although it starts with '-': a negative number, a value attached with '=',
    /// and anything after '--'.
    /// </summary>
    [Fact]
    public async Task Command_DashValuesThatAreNotOptions_ReachTheCommand()
    {
        var negative = await Ferry("agent", "--store-id", "1", "--generation", "-1");
        // A relative name, so the argument itself starts with '-' (ferry runs in this process's directory).
        var afterDoubleDash = await Ferry("replicate", "--to", _home.File("b"), "--", "--x.db");
        var start = await Ferry("task", "start", "t1", "--db", "a.db", "--to", _home.File("b"));
        var attached = await Ferry("task", "pause", "t1", "--message=--urgent");
        var status = await Ferry("task", "status", "t1");

        Assert.True(negative.ExitCode == 64, negative.ToString());
        Assert.Contains("--generation must be 0 or more", negative.Stderr, StringComparison.Ordinal);
        Assert.True(afterDoubleDash.ExitCode == 1, afterDoubleDash.ToString());
        Assert.Contains($"FERRY:Database:NotFound: database {Path.GetFullPath("--x.db")} does not exist", afterDoubleDash.Stderr, StringComparison.Ordinal);
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.True(attached.ExitCode == 0, attached.ToString());
        Assert.Contains("--urgent", status.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("unrecognized", negative.Stderr + afterDoubleDash.Stderr + attached.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Credentials written into a URL are a usage error that never shows them. Regression: a malformed --meta was
    /// echoed whole, password included; an s3:// URL with a signed query string was recorded and printed as is.
    /// </summary>
    [Theory]
    [InlineData("task", "status", "--meta", "etcd://user:s3cr3t@host:port/x")]
    [InlineData("task", "status", "--meta", "etcd://user:s3cr3t@127.0.0.1:1")]
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "s3://AKIAEXAMPLE:s3cr3t@my-bucket/x")]
    [InlineData("task", "start", "t1", "--db", "a.db", "--to", "s3://my-bucket/x?X-Amz-Signature=s3cr3t")]
    [InlineData("task", "status", "t1", "etcd://user:s3cr3t@host:2379")]   // a stray argument the parser names
    [InlineData("task", "status", "--mta=etcd://user:s3cr3t@host:2379")]   // a misspelt option with its value
    public async Task Command_CredentialsInUrl_UsageErrorWithoutTheSecret(params string[] args)
    {
        var result = await Ferry(args);

        Assert.True(result.ExitCode == 64, result.ToString());
        Assert.DoesNotContain("s3cr3t", result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.Contains("***", result.Stderr, StringComparison.Ordinal);
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
