using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Replication;

/// <summary>
/// The main job end to end with real parts: a Python writer (the system's SQLite, not Ferry's) writes the database,
/// the real <c>ferry replicate</c> process ships it and is killed with SIGKILL and restarted, and the real
/// <c>ferry restore</c> gives back the database, compared with the source by <c>sqlite3 .dump</c>.
/// </summary>
public sealed class ReplicateRestoreTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("replicate");

    public void Dispose() => _dir.Dispose();

    private string Db => _dir.File("app.db");

    private string Backup => _dir.File("backup");

    private string Home => _dir.File("home");

    private Process StartReplicate() =>
        FerryCli.Start(["replicate", Db, "--to", Backup, "--flush-interval", "200ms"], Home);

    private async Task<CliResult> RestoreAsync(string output, DateTimeOffset? time = null) =>
        await FerryCli.RunAsync(
            time is null
                ? ["restore", "--from", Backup, "--db", "app.db", "--out", output]
                : ["restore", "--from", Backup, "--db", "app.db", "--out", output, "--time", time.Value.ToString("O")],
            Home);

    [Fact]
    public async Task ReplicateThenRestore_WriterCheckpointsSpillsRollsBackAndFerryIsKilled_RestoreEqualsSource()
    {
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Db, cacheSizePages: 10);
        await writer.InsertAsync(50);
        var replicate = StartReplicate();
        try
        {
            await writer.TransactionsAsync(30);
            await writer.RollbackAsync(20, 200, "ROLLEDBACK");
            await writer.InsertAsync(1200, 4000); // about 5 MB in one transaction: spills a 10-page cache
            await writer.CheckpointAsync("TRUNCATE");
            await writer.TransactionsAsync(20, 300);

            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline);
            var recordedAt = DateTimeOffset.UtcNow;
            var dumpAtRecorded = await Sqlite3.DumpAsync(Db);

            await writer.TransactionsAsync(25);
            replicate.Kill(); // SIGKILL: no flush, no goodbye
            await replicate.WaitForExitAsync();
            await writer.TransactionsAsync(15);
            await writer.CheckpointAsync("TRUNCATE"); // Ferry is down: this resets the WAL behind its back
            await writer.TransactionsAsync(10);

            replicate.Dispose();
            replicate = StartReplicate();
            await writer.TransactionsAsync(40);
            await writer.CheckpointAsync("TRUNCATE"); // Ferry is up and pins the WAL
            await writer.InsertAsync(10);
            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline);
            var finalDump = await Sqlite3.DumpAsync(Db);

            replicate.Kill(Signal.Term);
            await replicate.WaitForExitAsync();
            Assert.Equal(0, replicate.ExitCode);

            var latest = await RestoreAsync(_dir.File("latest.db"));
            var pointInTime = await RestoreAsync(_dir.File("then.db"), recordedAt);

            Assert.True(latest.ExitCode == 0, latest.ToString());
            Assert.True(pointInTime.ExitCode == 0, pointInTime.ToString());
            Assert.Equal(finalDump, await Sqlite3.DumpAsync(_dir.File("latest.db")));
            Assert.Equal(dumpAtRecorded, await Sqlite3.DumpAsync(_dir.File("then.db")));
            Assert.DoesNotContain("ROLLEDBACK", await File.ReadAllTextAsync(_dir.File("latest.db")), StringComparison.Ordinal);
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
            replicate.Dispose();
        }
    }

    [Fact]
    public async Task Replicate_SigtermWhileTheLastShipmentTakesSeconds_WaitsForItAndExitsZero()
    {
        // Regression: System.CommandLine's signal handler forced exit 143 two seconds after SIGTERM, cutting short a
        // stop whose last shipment takes longer (here each shipment's commit is held 4 s by a failpoint).
        Directory.CreateDirectory(Backup);
        var failpoints = _dir.File("failpoints");
        await File.WriteAllTextAsync(failpoints, "# nothing armed yet\n");
        using var writer = await PythonWriter.StartAsync(Db);
        await writer.InsertAsync(10);
        using var replicate = FerryCli.Start(
            ["replicate", Db, "--to", Backup, "--flush-interval", "200ms"], Home, new Dictionary<string, string> { ["FERRY_FAILPOINTS_FILE"] = failpoints });
        var stdout = replicate.StandardOutput.ReadToEndAsync();
        var stderr = replicate.StandardError.ReadToEndAsync();
        try
        {
            await writer.TransactionsAsync(5);
            await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline);
            var temp = failpoints + ".tmp";
            await File.WriteAllTextAsync(temp, "stream.commit=delay(4s)\n");
            File.Move(temp, failpoints, overwrite: true);

            replicate.Kill(Signal.Term);
            using (var deadline = new CancellationTokenSource(Deadline))
            {
                await replicate.WaitForExitAsync(deadline.Token);
            }

            Assert.True(replicate.ExitCode == 0, $"exit {replicate.ExitCode} (143: forced out before the stop ended)\n{await stdout}\n{await stderr}");
            Assert.Contains("stopped:", await stdout, StringComparison.Ordinal);
            var restored = await RestoreAsync(_dir.File("restored.db"));
            Assert.True(restored.ExitCode == 0, restored.ToString());
            Assert.Equal(await Sqlite3.DumpAsync(Db), await Sqlite3.DumpAsync(_dir.File("restored.db")));
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Replicate_OnAPausedTask_SaysItIsPausedWhyAndHowToResume()
    {
        // Regression: started on a task that was paused (here by an operator; after an error the same), replicate
        // ran, shipped nothing and said only "stopped: 0 bytes shipped this run" when stopped.
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Db);
        await writer.InsertAsync(10);
        using (var first = StartReplicate())
        {
            await ReplicateCheckpoint.WaitDurableAsync(Home, first, Deadline);
            first.Kill(Signal.Term);
            using var deadline = new CancellationTokenSource(Deadline);
            await first.WaitForExitAsync(deadline.Token);
        }

        var paused = await FerryCli.RunAsync(["task", "pause", "replicate", "--message", "disk swap"], Home);
        Assert.True(paused.ExitCode == 0, paused.ToString());

        using var again = StartReplicate();
        var stdout = again.StandardOutput.ReadToEndAsync();
        try
        {
            var lines = new List<string>();
            using (var deadline = new CancellationTokenSource(Deadline))
            {
                while (await again.StandardError.ReadLineAsync(deadline.Token) is { } line)
                {
                    lines.Add(line);
                    if (line.Contains("is paused", StringComparison.Ordinal)) break;
                }
            }

            var said = lines.LastOrDefault() ?? "";
            Assert.True(said.Contains("is paused", StringComparison.Ordinal), $"replicate never said the task is paused:\n{string.Join('\n', lines)}");
            Assert.Contains("disk swap", said, StringComparison.Ordinal);
            Assert.Contains("`ferry task resume replicate`", said, StringComparison.Ordinal);
        }
        finally
        {
            again.Kill(Signal.Term);
            using var deadline = new CancellationTokenSource(Deadline);
            await again.WaitForExitAsync(deadline.Token);
            await stdout;
        }
    }

    [Fact]
    public async Task Restore_ExistingOut_RefusesAndLeavesItUntouched()
    {
        Directory.CreateDirectory(Backup);
        using (var writer = await PythonWriter.StartAsync(Db))
        {
            await writer.InsertAsync(10);
        }

        using var replicate = StartReplicate();
        await ReplicateCheckpoint.WaitDurableAsync(Home, replicate, Deadline);
        replicate.Kill(Signal.Term);
        await replicate.WaitForExitAsync();
        await File.WriteAllTextAsync(_dir.File("out.db"), "keep me");

        var result = await RestoreAsync(_dir.File("out.db"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FERRY:Restore:OutputExists", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(_dir.File("out.db")));
    }

    [Fact]
    public async Task Replicate_BackupWipedWhileStopped_StartsANewGenerationAndRestoresEverything()
    {
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Db);
        await writer.InsertAsync(10);
        var first = StartReplicate();
        await ReplicateCheckpoint.WaitDurableAsync(Home, first, Deadline);
        first.Kill(Signal.Term);
        await first.WaitForExitAsync();
        first.Dispose();

        // The saved position still matches the WAL, but its generation is gone from storage.
        foreach (var entry in Directory.EnumerateFileSystemEntries(Backup)) Directory.Delete(entry, recursive: true);
        await writer.TransactionsAsync(5);
        using var second = StartReplicate();
        await ReplicateCheckpoint.WaitDurableAsync(Home, second, Deadline);
        second.Kill(Signal.Term);
        await second.WaitForExitAsync();
        var restored = await RestoreAsync(_dir.File("after-wipe.db"));

        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Equal(await Sqlite3.DumpAsync(Db), await Sqlite3.DumpAsync(_dir.File("after-wipe.db")));
    }
}
