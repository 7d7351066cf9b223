using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Replication;

/// <summary>
/// DESIGN §10 with real parts: <c>ferry replicate</c> with a one-minute retention runs for three minutes under a
/// steady Python writer. Storage stays bounded (packing and pruning keep pace), every recorded instant inside the
/// window restores to the <c>sqlite3 .dump</c> taken then, an instant before it fails with a clear code, and
/// <c>ferry storage prune --dry-run</c> lists exactly what a real prune then deletes.
/// </summary>
public sealed partial class RetentionRunTests : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan RunFor = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _dir = new("retention");

    public void Dispose() => _dir.Dispose();

    private string Db => _dir.File("app.db");

    private string Backup => _dir.File("backup");

    private string Home => _dir.File("home");

    [Fact]
    public async Task ReplicateWithShortRetention_ThreeMinutes_StorageBoundedWindowRestoresExactlyOlderInstantRefused()
    {
        Directory.CreateDirectory(Backup);
        using var writer = await PythonWriter.StartAsync(Db);
        await writer.InsertAsync(20);
        using var replicate = FerryCli.Start(["replicate", Db, "--to", Backup, "--flush-interval", "200ms", "--retention", "1m", "--retention-grace", "10s"], Home);
        var recorded = new List<(DateTimeOffset At, string Dump)>();
        var counts = new List<(TimeSpan At, int Objects)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        try
        {
            var nextRecord = TimeSpan.FromSeconds(15);
            while (clock.Elapsed < RunFor)
            {
                if (replicate.HasExited) Assert.Fail($"ferry replicate exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}");
                await writer.TransactionsAsync(10);
                var objects = Objects();
                seen.UnionWith(objects);
                counts.Add((clock.Elapsed, objects.Count));
                if (clock.Elapsed >= nextRecord)
                {
                    // Everything committed so far is durable; the writer waits, so the dump is the state at this instant.
                    await ReplicateCheckpoint.WaitDurableAsync(Home, replicate);
                    recorded.Add((DateTimeOffset.UtcNow, await Sqlite3.DumpAsync(Db)));
                    nextRecord = clock.Elapsed + TimeSpan.FromSeconds(10);
                }

                // The workload's pace (about 50 commits a second), not a wait for anything.
                await Task.Delay(200);
            }

            replicate.Kill(Signal.Term);
            await replicate.WaitForExitAsync();
            Assert.Equal(0, replicate.ExitCode);
        }
        finally
        {
            if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
        }

        // Bounded: most of what was ever written is gone, and the last minute holds no more than the one before,
        // give or take a generation in flight.
        var final = Objects();
        Assert.True(final.Count * 3 < seen.Count, $"storage holds {final.Count} of the {seen.Count} objects ever seen: pruning and packing do not keep pace");
        var lastMinute = counts.Where(c => c.At >= RunFor - TimeSpan.FromMinutes(1)).Max(c => c.Objects);
        var minuteBefore = counts.Where(c => c.At >= RunFor - TimeSpan.FromMinutes(2) && c.At < RunFor - TimeSpan.FromMinutes(1)).Max(c => c.Objects);
        Assert.True(lastMinute <= (minuteBefore * 2) + 20, $"storage keeps growing: at most {minuteBefore} objects in the second minute, {lastMinute} in the third");

        // Inside the window (measured from now, after the stop): each recorded instant restores to the dump taken then.
        var stoppedAt = DateTimeOffset.UtcNow;
        var inside = recorded.Where(r => r.At >= stoppedAt - Window + TimeSpan.FromSeconds(10)).ToList();
        Assert.True(inside.Count >= 3, $"only {inside.Count} recorded instants inside the window");
        foreach (var (at, dump) in inside)
        {
            var output = _dir.File($"at-{at.ToUnixTimeMilliseconds()}.db");
            var restored = await FerryCli.RunAsync(["restore", "--from", Backup, "--db", "app.db", "--out", output, "--time", at.ToString("O")], Home);
            Assert.True(restored.ExitCode == 0, restored.ToString());
            Assert.Equal(dump, await Sqlite3.DumpAsync(output));
        }

        // The first instant, two minutes before the window, was pruned away: a clear code, and nothing written.
        var before = FerryCli.RunAsync(["restore", "--from", Backup, "--db", "app.db", "--out", _dir.File("old.db"), "--time", recorded[0].At.ToString("O")], Home);
        var refused = await before;
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("FERRY:Restore:TimeBeforeFirstSnapshot", refused.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("old.db")));

        // A dry run lists what a real prune then deletes (no grace now, so the packed-away segments are due too).
        var dryStartedAt = DateTimeOffset.UtcNow;
        var dry = await FerryCli.RunAsync(["storage", "prune", "--from", Backup, "--retention", "1m", "--retention-grace", "0s", "--dry-run"], Home);
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Equal(final, Objects());
        var real = await FerryCli.RunAsync(["storage", "prune", "--from", Backup, "--retention", "1m", "--retention-grace", "0s"], Home);
        var realEndedAt = DateTimeOffset.UtcNow;
        Assert.True(real.ExitCode == 0, real.ToString());
        var wouldDelete = Listed(dry.Stdout, "would delete");
        var deleted = Listed(real.Stdout, "deleted");
        Assert.NotEmpty(wouldDelete);
        Assert.All(wouldDelete.Keys, name => Assert.True(deleted.ContainsKey(name), $"the dry run listed {name}, the prune did not delete it"));
        foreach (var (name, reason) in deleted.Where(d => !wouldDelete.ContainsKey(d.Key)))
        {
            // Only a generation whose window edge passed between the two runs may be deleted by the second alone.
            var edge = EdgePattern().Match(reason);
            Assert.True(edge.Success, $"the prune deleted {name} ({reason}), which the dry run did not list");
            var at = DateTimeOffset.Parse(edge.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.InRange(at, dryStartedAt.AddSeconds(-1), realEndedAt.AddSeconds(1));
        }

        var after = Objects();
        Assert.All(deleted.Keys, name => Assert.DoesNotContain(name, after));
        Assert.Equal(final.Count - deleted.Count, after.Count);
    }

    private HashSet<string> Objects() =>
        Directory.EnumerateFiles(Backup, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Backup, f))
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>The objects named in lines "  VERB NAME: REASON", with their reasons (names relative to the storage root).</summary>
    private static Dictionary<string, string> Listed(string stdout, string verb) =>
        stdout.Split('\n')
            .Where(l => l.StartsWith($"  {verb} ", StringComparison.Ordinal))
            .Select(l => l[(verb.Length + 3)..])
            .ToDictionary(l => l[..l.IndexOf(": ", StringComparison.Ordinal)], l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..], StringComparer.Ordinal);

    [GeneratedRegex(@"moved past that at (\S+Z)$")]
    private static partial Regex EdgePattern();
}
