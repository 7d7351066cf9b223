using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Ferry.Errors;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Container;

/// <summary>
/// The container patterns with real processes and signals: the sample entrypoint (samples/container/entrypoint.sh)
/// run by sh with the real ferry, a Python application as <c>replicate --exec</c>'s child, and <c>ferry wait</c>
/// against a running <c>ferry replicate</c>. Each boot gets a fresh FERRY_HOME, as a new container would.
/// </summary>
public sealed class ContainerPatternTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The application: creates its database in WAL mode, says how many rows it found, inserts on command from stdin,
    /// and on SIGTERM commits a last row and exits 7 (a code of its own, to see that ferry passes it on).
    /// </summary>
    private const string App = """
        import signal, sqlite3, sys
        con = sqlite3.connect(sys.argv[1], isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
        def say(line):
            sys.stdout.write("app: " + line + "\n")
            sys.stdout.flush()
        def stop(signum, frame):
            con.execute("INSERT INTO t (note) VALUES ('last words')")
            con.close()
            say("stopping")
            sys.exit(7)
        signal.signal(signal.SIGTERM, stop)
        say("ready %d" % con.execute("SELECT count(*) FROM t").fetchone()[0])
        for line in sys.stdin:
            words = line.split()
            if words and words[0] == "insert":
                con.execute("BEGIN")
                for i in range(int(words[1])):
                    con.execute("INSERT INTO t (note) VALUES (?)", ("row %d" % i,))
                con.execute("COMMIT")
                say("ok")
        """;

    private readonly TempDirectory _dir = new("container");

    public ContainerPatternTests()
    {
        Directory.CreateDirectory(_dir.File("data"));
        File.WriteAllText(_dir.File("app.py"), App);
    }

    public void Dispose() => _dir.Dispose();

    private string Db => _dir.File("data/app.db");

    private string Backup => _dir.File("backup");

    [Fact]
    public async Task Entrypoint_FirstBootThenBootOnALostVolume_CreatesThenRestoresAndEveryCommitOfTheAppIsKept()
    {
        // First boot of a new application: no replica (not even the backup directory), the application creates the database.
        await using (var first = Running.Entrypoint(this, "home1"))
        {
            await first.LineAsync("nothing to do: storage directory");
            await first.LineAsync("app: ready 0");
            await first.SendAsync("insert 5");
            await first.LineAsync("app: ok");

            Assert.Equal(7, await first.StopAsync());
            await first.LineAsync("app: stopping");
            Assert.Contains("the application exited with code 7; shipping what it committed", first.Output, StringComparison.Ordinal);
        }

        // The volume is lost: a new container restores the database, application's last row included, and goes on.
        DeleteDatabase();
        await using (var second = Running.Entrypoint(this, "home2"))
        {
            await second.LineAsync("restored ");
            await second.LineAsync("app: ready 6");
            await second.SendAsync("insert 3");
            await second.LineAsync("app: ok");
            Assert.Equal(7, await second.StopAsync());
        }

        await RestoreAsync(_dir.File("check.db"));
        Assert.Equal(await Sqlite3.DumpAsync(Db), await Sqlite3.DumpAsync(_dir.File("check.db")));
        Assert.Equal("10\n", Sqlite3.Run(_dir.File("check.db"), "SELECT count(*) FROM t"));

        // Only where no database is: an existing one is kept, and a WAL left by a deleted one is never replayed onto a restore.
        var existing = await FerryCli.RunAsync(["restore", "--if-db-not-exists", "--from", Backup, "-o", Db], _dir.File("home3"));
        File.Move(Db, _dir.File("moved.db"));
        await File.WriteAllTextAsync(Db + "-wal", "a stale WAL");
        var staleWal = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(Db));

        Assert.True(existing.ExitCode == 0, existing.ToString());
        Assert.Contains("nothing to do", existing.Stdout, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.RestoreOutputExists, staleWal.Code);
        Assert.False(File.Exists(Db));
    }

    [Fact]
    public async Task Wait_ReplicateRunning_ReturnsOnlyOnceTheLastCommitIsInStorageAndTimesOutWhenNothingReplicates()
    {
        Directory.CreateDirectory(Backup);
        var home = _dir.File("home");
        using var writer = await PythonWriter.StartAsync(Db);
        await writer.InsertAsync(10);
        // A long flush interval: a wait that returned at once would find the last transactions not shipped yet.
        using var replicate = FerryCli.Start(["replicate", Db, "--to", Backup, "--flush-interval", "3s"], home);
        try
        {
            await writer.TransactionsAsync(20);
            var wait = await FerryCli.RunAsync(["wait", Db, "--timeout", "60s"], home);
            replicate.Kill(); // SIGKILL: whatever it had not shipped when wait returned stays unshipped
            await replicate.WaitForExitAsync();

            Assert.True(wait.ExitCode == 0, wait.ToString());
            Assert.Contains("durable: ", wait.Stdout, StringComparison.Ordinal);
            await RestoreAsync(_dir.File("after-wait.db"));
            Assert.Equal(await Sqlite3.DumpAsync(Db), await Sqlite3.DumpAsync(_dir.File("after-wait.db")));

            // Nothing replicates now: a commit after the last published position is never durable.
            await writer.TransactionsAsync(1);
            var timedOut = await FerryCli.RunAsync(["wait", Db, "--timeout", "1s"], home);

            Assert.True(timedOut.ExitCode == 69, timedOut.ToString());
            Assert.Contains("FERRY:Task:WaitTimedOut", timedOut.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task ReplicateExec_FencedOutWhileTheAppRuns_TheAppKeepsRunningAndItsExitCodeIsKept()
    {
        Directory.CreateDirectory(Backup);
        var home = _dir.File("home");
        await using var ferry = new Running(FerryCli.Start(["replicate", Db, "--to", Backup, "--exec", $"python3 {_dir.File("app.py")} {Db}"], home));
        await ferry.LineAsync("app: ready 0");
        await ReplicateCheckpoint.WaitDurableAsync(home, ferry.Process, Deadline, () => ferry.Output);

        // A newer deployment takes the store: replication in this process ends for good, the application must not.
        await using var newer = await AgentProcess.StartAsync($"file:{Path.Combine(home, "meta.db")}", 1, home, generation: 1);
        await ferry.LineAsync("ferry: REPLICATION STOPPED (exit 0)");
        await ferry.SendAsync("insert 2");
        await ferry.LineAsync("app: ok");

        Assert.Equal(7, await ferry.StopAsync());
        Assert.Contains("app: stopping", ferry.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicateExec_ApplicationCannotStart_CodedErrorAndNothingRuns()
    {
        var result = await FerryCli.RunAsync(["replicate", Db, "--to", Backup, "--exec", _dir.File("no-such-app") + " --flag"], _dir.File("home"));

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("FERRY:Exec:StartFailed", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("no-such-app", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicateExec_ApplicationCreatesCommitsAndExitsWithinOnePoll_ItsCommitsAreShipped()
    {
        // Regression: ferry looked for the databases every 100 ms and gave up as soon as the application had exited,
        // so an application that created its database, committed and exited between two looks (a container job,
        // or a loaded machine) was told "nothing was replicated" and its commits were never backed up.
        var job = _dir.File("job.py");
        await File.WriteAllTextAsync(job, """
            import sqlite3, sys
            con = sqlite3.connect(sys.argv[1], isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
            for i in range(5):
                con.execute("INSERT INTO t (note) VALUES (?)", ("row %d" % i,))
            con.close()
            sys.exit(3)
            """);

        var result = await FerryCli.RunAsync(["replicate", Db, "--to", Backup, "--exec", $"python3 {job} {Db}"], _dir.File("home"));

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("the application exited with code 3; shipping what it committed", result.Stdout, StringComparison.Ordinal);
        var restored = _dir.File("restored.db");
        await RestoreAsync(restored);
        Assert.Equal(await Sqlite3.DumpAsync(Db), await Sqlite3.DumpAsync(restored));
    }

    /// <summary>A restore of the database from the backup directory, in this process: what `ferry restore` runs.</summary>
    private async Task RestoreAsync(string output)
    {
        await using var storage = new FileStorage(Backup);
        await DatabaseRestore.RunAsync(storage, new RestoreRequest(Db, output));
    }

    private void DeleteDatabase()
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(Db + suffix);
    }

    /// <summary>A process whose output lines (stdout and stderr) a test awaits: a container boot, or ferry itself.</summary>
    private sealed class Running : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly StringBuilder _output = new();
        private readonly Task _stdout;
        private readonly Task _stderr;

        public Running(Process process)
        {
            _process = process;
            _stdout = PumpAsync(process.StandardOutput);
            _stderr = PumpAsync(process.StandardError);
        }

        public Process Process => _process;

        public string Output
        {
            get
            {
                lock (_output) return _output.ToString();
            }
        }

        /// <summary>One container boot: the sample entrypoint run by sh, with ferry as FERRY and the test's app.</summary>
        public static Running Entrypoint(ContainerPatternTests test, string home)
        {
            var info = new ProcessStartInfo("sh")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.ArgumentList.Add(Path.Combine(RepoRoot.Path, "samples", "container", "entrypoint.sh"));
            info.ArgumentList.Add("python3");
            info.ArgumentList.Add(test._dir.File("app.py"));
            info.ArgumentList.Add(test.Db);
            info.Environment["FERRY"] = $"dotnet {FerryCli.DllPath}";
            info.Environment["FERRY_HOME"] = test._dir.File(home);
            info.Environment.Remove("FERRY_META");
            info.Environment["DB"] = test.Db;
            info.Environment["REPLICA_URL"] = test.Backup;
            return new Running(Process.Start(info) ?? throw new InvalidOperationException("could not start sh"));
        }

        /// <summary>Waits for the next line that starts with <paramref name="prefix"/> (ferry's and the app's share stdout and stderr).</summary>
        public async Task LineAsync(string prefix)
        {
            using var deadline = new CancellationTokenSource(Deadline);
            try
            {
                while (true)
                {
                    var line = await _lines.Reader.ReadAsync(deadline.Token);
                    if (line.StartsWith(prefix, StringComparison.Ordinal)) return;
                }
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no line starting with '{prefix}' (exited: {_process.HasExited}):\n{Output}");
            }
        }

        /// <summary>A line to the application, which reads ferry's stdin.</summary>
        public async Task SendAsync(string command)
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
        }

        /// <summary>SIGTERM to the process the entrypoint exec'd into (ferry), as `docker stop` sends it; returns the exit code.</summary>
        public async Task<int> StopAsync()
        {
            _process.Kill(Signal.Term);
            using var deadline = new CancellationTokenSource(Deadline);
            await _process.WaitForExitAsync(deadline.Token);
            await Task.WhenAll(_stdout, _stderr).WaitAsync(deadline.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            await Task.WhenAll(_stdout, _stderr);
            _process.Dispose();
        }

        private async Task PumpAsync(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (_output) _output.AppendLine(line);
                _lines.Writer.TryWrite(line);
            }
        }
    }
}
