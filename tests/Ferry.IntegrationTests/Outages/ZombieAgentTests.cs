using System.Diagnostics;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.Replica;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// A zombie (DESIGN §5): agent A is stopped (SIGSTOP) holding transactions it captured but has not shipped, its lease
/// expires, agent B of the same deploy generation (waiting as a standby) takes the store and ships; then A runs again
/// (SIGCONT). It must stop without adding anything to the chain B is extending, and nothing committed may be lost.
/// </summary>
[Collection(OutagesCollection.Name)]
public sealed class ZombieAgentTests(ITestOutputHelper output) : OutageTestBase("zombie", output)
{
    [Fact]
    public async Task StoppedAgentLosesItsStoreToAStandby_ResumedItExitsWithoutExtendingTheChain_LatestAndPointInTimeRestoresAreExact()
    {
        using var writer = await StartWriterAsync();
        // Long flushes: what A captures stays unshipped for seconds, time enough to stop A while it holds some.
        await StartTaskAsync(null, "--flush-interval", "5s");
        await using var zombie = await StartAgentAsync(generation: 1);
        await ShipsPastANewCommitAsync(writer, zombie, "agent A to ship");
        var zombieToken = await FenceTokenAsync();

        // Right after one of A's flushes (seen on its own /status at once), commit, let A capture it, stop A.
        var shippedAt = await StreamCheckpointAsync(zombie);
        await EventuallyAsync(async () => await StreamCheckpointAsync(zombie) != shippedAt, "agent A to flush", zombie);
        var beforeCommit = Names(BackupDirectory.List(Backup));
        await writer.TransactionsAsync(10);
        await WalReadSinceLastWriteAsync(zombie);
        zombie.Process.Kill(Signal.Stop);
        var unshipped = Names(BackupDirectory.List(Backup));
        Assert.True(beforeCommit.SetEquals(unshipped), "setup: agent A flushed before it was stopped, so it holds nothing unshipped (a slow machine?)");

        await using var loop = WriterLoop.Start(writer);
        await using var successor = await StartAgentAsync(generation: 1);
        var takeover = Stopwatch.StartNew();
        await EventuallyAsync(async () => await successor.StateAsync() == "running", "agent B to take the store once A's lease expired", successor);
        var successorToken = await FenceTokenAsync();
        Output.WriteLine($"agent B took the store {takeover.Elapsed.TotalSeconds:0.0} s after it started; fence {zombieToken} -> {successorToken}");
        await ShipsPastALaterCommitAsync(loop, successor, "agent B to ship what A held and what came after");
        await ShipsPastALaterCommitAsync(loop, successor, "agent B to ship again");

        // A point in time B has shipped everything before, just before A runs again: the writer rests (only) from
        // here until A is gone, so the rows at that time are known exactly.
        var writtenWhileAStopped = await loop.StopAsync();
        var rowsAtT = (await writer.SqlAsync("SELECT count(*) FROM t")).Trim();
        await CoversAsync(Now(), "agent B to ship every commit so far", successor);
        var t = DateTimeOffset.UtcNow;

        var beforeResume = BackupDirectory.List(Backup);
        var chainEnds = BackupDirectory.ChainEnds(beforeResume);
        zombie.Process.Kill(Signal.Cont);
        var exitCode = await ExitCodeWithinAsync(zombie, Deadline, "agent A resumed after losing its store");
        await using (var after = WriterLoop.Start(writer))
        {
            await ShipsPastALaterCommitAsync(after, successor, "agent B to keep shipping after A is gone");
        }

        await ShipsPastANewCommitAsync(writer, successor, "agent B to ship the last commit");
        Assert.Equal(0, await successor.StopAsync());
        Output.WriteLine($"agent A exited {exitCode}; {writtenWhileAStopped} transactions written while A was stopped; {rowsAtT} rows at {t:HH:mm:ss.fff}");

        Assert.True(exitCode is 0 or 75, $"agent A exited {exitCode}, not 0 or 75 (fenced by epoch):\n{zombie.Log}");
        Assert.Equal(new FenceToken(1, zombieToken.Epoch + 1), successorToken);
        await AssertVerifiesAsync();
        await AssertRestoresExactlyAsync();
        var restoredAtT = Dir.File("restored-at-t.db");
        await StorageChecks.RestoreAtAsync(Backup, Database, restoredAtT, t, Dir.Path);
        var rowsRestoredAtT = Sqlite3.Run(restoredAtT, "SELECT count(*) FROM t").Trim();

        // What A wrote after SIGCONT: B only extends its chain past where it stood then, and starts no generation
        // under A's token; anything else new in storage is the zombie's.
        var known = Names(beforeResume);
        var added = BackupDirectory.List(Backup).Where(o => !known.Contains(o.Name)).ToList();
        var zombieWrites = added.Where(o => chainEnds.TryGetValue(o.Parsed.Generation.Value, out var end)
            ? !o.IsSegment || o.Parsed.First <= end
            : GenerationToken(added, o) == zombieToken).ToList();
        Output.WriteLine("objects written after SIGCONT:\n" + string.Join('\n', added));
        List<string> problems = [];
        if (zombieWrites.Count > 0) problems.Add("agent A wrote to storage after its store was taken:\n" + string.Join('\n', zombieWrites));
        if (rowsRestoredAtT != rowsAtT)
        {
            problems.Add($"restored as of {t:O}, when B had shipped all {rowsAtT} rows of the source and before A ran again, the database has {rowsRestoredAtT} rows");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems) + "\nagent A's log:\n" + zombie.Log);
    }

    private static HashSet<string> Names(IEnumerable<StoredObject> objects) => [.. objects.Select(o => o.Name)];

    private async Task<FenceToken> FenceTokenAsync()
    {
        using var token = JsonDocument.Parse((await Etcdctl.GetAsync(Etcd, FenceKey))!);
        return new FenceToken(token.RootElement.GetProperty("deploy_generation").GetInt64(), token.RootElement.GetProperty("epoch").GetInt64());
    }

    /// <summary>The token in the manifest of <paramref name="o"/>'s generation, or null when that manifest is not among <paramref name="objects"/>.</summary>
    private FenceToken? GenerationToken(IEnumerable<StoredObject> objects, StoredObject o) =>
        objects.FirstOrDefault(m => m.Parsed.Kind == ReplicaObjectKind.Manifest && m.Parsed.Generation.Value == o.Parsed.Generation.Value) is { } manifest
            ? BackupDirectory.ManifestToken(Backup, manifest)
            : null;

    /// <summary>When the agent's one stream last shipped, as its <c>/status</c> says (changes with every flush).</summary>
    private static async Task<string?> StreamCheckpointAsync(AgentProcess agent)
    {
        using var status = await agent.StatusAsync();
        var tasks = status.RootElement.GetProperty("tasks");
        if (tasks.GetArrayLength() == 0 || tasks[0].GetProperty("streams").GetArrayLength() == 0) return null;
        return tasks[0].GetProperty("streams")[0].GetProperty("checkpoint_at").ToString();
    }

    /// <summary>
    /// Waits until someone reads the database's WAL after its last write: on relatime mounts the first read after a
    /// write moves the file's access time past its modification time. The writer never reads its WAL back, so with
    /// one agent on the database that reader is the agent's capture, which has then read the last commit.
    /// </summary>
    private async Task WalReadSinceLastWriteAsync(AgentProcess agent)
    {
        var wal = Database + "-wal";
        await EventuallyAsync(
            () => Task.FromResult(File.GetLastAccessTimeUtc(wal) > File.GetLastWriteTimeUtc(wal)), "the agent's capture to read the WAL after the last commit", agent);
    }
}
