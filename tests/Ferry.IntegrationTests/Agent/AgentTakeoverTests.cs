using System.Text.Json;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// Two agent processes for one store (DESIGN §5), on a real etcd with a real writer: alike, the second waits as a
/// standby and never fences the first in a loop; <c>--takeover now</c> fences it at once; a newer deploy generation
/// with <c>--takeover when-ready</c> has it ship what it captured and hand over, losing nothing.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class AgentTakeoverTests(EtcdServer etcd) : AgentTaskTestBase(etcd, "takeover")
{
    private async Task<(long Generation, long Epoch)> FenceAsync()
    {
        using var token = JsonDocument.Parse((await Etcdctl.GetAsync(Etcd, $"/ferry/v1/fence/{StoreId}"))!);
        return (token.RootElement.GetProperty("deploy_generation").GetInt64(), token.RootElement.GetProperty("epoch").GetInt64());
    }

    private async Task<PythonWriter> ShippingAsync()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        var writer = await PythonWriter.StartAsync(Dir.File("dbs/app.db"));
        await writer.InsertAsync(20);
        await StartTaskAsync();
        return writer;
    }

    private async Task ShipsPastANewCommitAsync(PythonWriter writer, AgentProcess agent)
    {
        await writer.TransactionsAsync(10);
        var committed = Now();
        await EventuallyAsync(async () => await StoreAsync() is { } s && State(s) == "RUNNING" && Checkpoint(s) >= committed, "the store to ship past a new commit", agent);
    }

    [Fact]
    public async Task SameGenerationStartedTwice_SecondIsAStandbyUntilTheFirstIsKilled_ThenTakesOverAndLosesNothing()
    {
        using var writer = await ShippingAsync();
        await using var first = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1);
        await ShipsPastANewCommitAsync(writer, first);
        var fenceOfFirst = await FenceAsync();

        await using var second = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1);
        await EventuallyAsync(async () => await second.StateAsync() == "standby", "the second agent to be a standby", second);
        // Standing by, it took nothing: the first keeps its fence and keeps shipping.
        Assert.Equal(fenceOfFirst, await FenceAsync());
        await ShipsPastANewCommitAsync(writer, first);
        Assert.False(first.Process.HasExited, first.Log);
        Assert.Contains("waiting as a standby", second.Log, StringComparison.Ordinal);

        first.Process.Kill(); // SIGKILL: no goodbye, its lease still alive
        await EventuallyAsync(async () => await second.StateAsync() == "running", "the standby to take over", second);
        await ShipsPastANewCommitAsync(writer, second);

        Assert.Equal((1L, fenceOfFirst.Epoch + 1), await FenceAsync());
        Assert.Equal(0, await second.StopAsync());
        await AssertRestoresExactlyAsync("app.db");
        // Storage writes carry the token: the generation the first agent started names it.
        var manifest = Assert.Single(Directory.GetFiles(Backup, "manifest.json", SearchOption.AllDirectories));
        using var written = JsonDocument.Parse(await File.ReadAllTextAsync(manifest));
        Assert.Equal(fenceOfFirst, (written.RootElement.GetProperty("deploy_generation").GetInt64(), written.RootElement.GetProperty("epoch").GetInt64()));
    }

    [Fact]
    public async Task TakeoverNow_FencesTheLiveAgentOfTheSameGenerationWhichHaltsWith75()
    {
        using var writer = await ShippingAsync();
        await using var first = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1);
        await ShipsPastANewCommitAsync(writer, first);
        var fenceOfFirst = await FenceAsync();

        await using var second = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1, arguments: ["--takeover", "now"]);
        using (var deadline = new CancellationTokenSource(Deadline)) await first.WaitForExitAsync(deadline.Token);
        await EventuallyAsync(async () => await second.StateAsync() == "running", "the new agent to run", second);
        await ShipsPastANewCommitAsync(writer, second);

        Assert.Equal(75, first.Process.ExitCode);
        Assert.Contains("FERRY:Fence:Epoch", first.Log, StringComparison.Ordinal);
        Assert.Equal((1L, fenceOfFirst.Epoch + 1), await FenceAsync());
        Assert.Equal(0, await second.StopAsync());
        await AssertRestoresExactlyAsync("app.db");
    }

    [Fact]
    public async Task NewerGenerationWhenReady_OldAgentShipsWhatItCapturedHandsOverAndExitsZero()
    {
        using var writer = await ShippingAsync();
        await using var old = await AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, generation: 1);
        await ShipsPastANewCommitAsync(writer, old);
        // Committed just before the handover, so only the old agent can have shipped them.
        await writer.TransactionsAsync(25);
        var beforeHandover = Now();

        await using var successor = await AgentProcess.StartAsync(
            Etcd.MetaUrl, StoreId, Dir.Path, generation: 2, arguments: ["--takeover", "when-ready", "--takeover-timeout", "30s"]);
        using (var deadline = new CancellationTokenSource(Deadline)) await old.WaitForExitAsync(deadline.Token);
        var checkpointAtHandover = Checkpoint((await StoreAsync())!.Value);
        await EventuallyAsync(async () => await successor.StateAsync() == "running", "the successor to run", successor);
        await ShipsPastANewCommitAsync(writer, successor);

        Assert.Equal(0, old.Process.ExitCode);
        Assert.Contains("handed the store over", old.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("FERRY:Fence:", old.Log, StringComparison.Ordinal);
        Assert.Contains("asked it to hand over", successor.Log, StringComparison.Ordinal);
        Assert.True(checkpointAtHandover >= beforeHandover, $"the old agent left at checkpoint {checkpointAtHandover}, before the commits of {beforeHandover}");
        Assert.Equal((2L, 1L), await FenceAsync());
        Assert.Null(await Etcdctl.GetAsync(Etcd, $"/ferry/v1/handover/{StoreId}"));
        Assert.Equal(0, await successor.StopAsync());
        await AssertRestoresExactlyAsync("app.db");
    }
}
