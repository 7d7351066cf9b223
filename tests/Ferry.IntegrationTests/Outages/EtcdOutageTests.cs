using System.Diagnostics;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// The metadata store goes away under a running agent shipping to a file:// backup while the application keeps
/// writing: etcd killed (SIGKILL) and restarted on the same port and data, or hung (SIGSTOP) past the agent's lease.
/// Shipping never depends on the metadata store; the checkpoint catches up once it is back.
/// </summary>
[Collection(OutagesCollection.Name)]
public sealed class EtcdOutageTests(ITestOutputHelper output) : OutageTestBase("etcd-outage", output)
{
    private const string MetaLastReachedAtField = "meta_last_reached_at";
    private static readonly TimeSpan KilledFor = TimeSpan.FromSeconds(20);

    /// <summary>How far past the kill a last contact may be stamped: a call in flight then still completes.</summary>
    private const long ReachedSlackMs = 3000;

    [Fact]
    public async Task EtcdKilledForTwentySeconds_StorageKeepsReceivingSegments_CheckpointCatchesUpStatusSaysWhenMetaWasLastReached()
    {
        using var writer = await StartWriterAsync();
        await StartTaskAsync();
        await using var agent = await StartAgentAsync();
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship");
        await using var loop = WriterLoop.Start(writer);
        await ShipsPastALaterCommitAsync(loop, agent, "the agent to ship while the writer keeps writing");

        Etcd.Stop();
        var killedAt = Now();
        var down = Stopwatch.StartNew();
        var reachedWhileDown = new List<(long At, long? Reached)>();
        while (down.Elapsed < KilledFor)
        {
            if (agent.Process.HasExited) Assert.Fail($"the agent exited ({agent.Process.ExitCode}) while etcd was down:\n{agent.Log}");
            using var status = await agent.StatusAsync();
            reachedWhileDown.Add((Now(), MetaLastReachedAt(status.RootElement)));
            await Task.Delay(500);
        }

        await Etcd.RestartAsync();
        var restartedAt = Now();
        var segmentsWhileDown = BackupDirectory.List(Backup)
            .Count(o => o.IsSegment && o.WrittenAt.ToUnixTimeMilliseconds() > killedAt + 1000 && o.WrittenAt.ToUnixTimeMilliseconds() < restartedAt);
        var caughtUp = await CommitAfterAsync(loop, restartedAt);
        var watch = Stopwatch.StartNew();
        await CoversAsync(caughtUp, "the checkpoint to catch up once etcd is back", agent);
        // The checkpoint was written after the restart: the agent reached etcd then.
        using var statusAfter = await agent.StatusAsync();
        var reachedAfter = MetaLastReachedAt(statusAfter.RootElement);
        Output.WriteLine($"etcd down {KilledFor.TotalSeconds:0} s: {segmentsWhileDown} segments shipped meanwhile; checkpoint caught up {watch.Elapsed.TotalSeconds:0.0} s after the restart");

        await loop.StopAsync();
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship the last commit");
        Assert.Equal(0, await agent.StopAsync());
        // At 200 ms flushes and a writer that never stops, 19 s of outage is dozens of segments; a few suffice.
        Assert.True(segmentsWhileDown >= 5, $"storage received {segmentsWhileDown} segments while etcd was down:\n{string.Join('\n', BackupDirectory.List(Backup))}");
        await AssertVerifiesAsync();
        await AssertRestoresExactlyAsync();

        // /status says when the store last reached the metadata store: not since the kill while it is down, after the restart once it is back.
        Output.WriteLine($"{MetaLastReachedAtField} while down (kill at {killedAt}): {string.Join(", ", reachedWhileDown.Select(r => r.Reached?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "absent"))}; after: {reachedAfter?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "absent"}");
        Assert.True(reachedAfter is not null, $"/status has no top-level {MetaLastReachedAtField} (unix ms):\n{statusAfter.RootElement}");

        foreach (var (at, reached) in reachedWhileDown)
        {
            Assert.True(reached is { } r && r <= killedAt + ReachedSlackMs,
                $"at {at}, {ReachedSlackMs / 1000} s or more after etcd was killed at {killedAt}, /status said it was last reached at {reached?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(absent)"}");
        }

        Assert.True(reachedAfter > restartedAt, $"after etcd restarted at {restartedAt} and the checkpoint caught up, /status said it was last reached at {reachedAfter}");
    }

    [Fact]
    public async Task EtcdHungLongerThanTheLeaseTtl_AgentReBootstrapsUnderANewLease_KeepsShippingAndRestoresExactly()
    {
        // The CLI has no flag for it: every agent runs with this default.
        var leaseTtl = new StoreSessionOptions { StoreId = 1 }.LeaseTtl;
        using var writer = await StartWriterAsync();
        await StartTaskAsync();
        await using var agent = await StartAgentAsync();
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship");
        var firstLease = await StoreLeaseAsync();
        Assert.NotEqual(0, firstLease);
        await using var loop = WriterLoop.Start(writer);

        Etcd.Pause();
        // The outage itself: long enough for the lease to expire with no keep-alive answered.
        await Task.Delay(leaseTtl + TimeSpan.FromSeconds(4));
        Etcd.Resume();
        var resumedAt = Now();

        long secondLease = 0;
        await EventuallyAsync(async () => (secondLease = await StoreLeaseAsync()) != 0 && secondLease != firstLease, "a registration under a new lease", agent);
        await CoversAsync(await CommitAfterAsync(loop, Now()), "shipping to go on after the re-bootstrap", agent);
        Output.WriteLine($"lease {firstLease:x} expired while etcd hung for {(leaseTtl + TimeSpan.FromSeconds(4)).TotalSeconds:0} s; registered again under {secondLease:x} within {(Now() - resumedAt) / 1000.0:0.0} s of SIGCONT");

        await loop.StopAsync();
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship the last commit");
        Assert.False(agent.Process.HasExited, agent.Log);
        Assert.Contains("lease) was lost", agent.Log, StringComparison.Ordinal);
        Assert.Equal(0, await agent.StopAsync());
        await AssertVerifiesAsync();
        await AssertRestoresExactlyAsync();
    }

    /// <summary>The top-level <c>meta_last_reached_at</c> (unix ms) of the agent's <c>/status</c>, or null when it has none.</summary>
    private static long? MetaLastReachedAt(JsonElement status) =>
        status.TryGetProperty(MetaLastReachedAtField, out var reached) && reached.ValueKind == JsonValueKind.Number ? reached.GetInt64() : null;
}
