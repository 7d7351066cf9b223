using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Meta;

namespace Ferry.Tests.Coordination;

/// <summary>The store session on a real embedded store: fence first, then one registration after another.</summary>
public sealed class StoreSessionTests() : EmbeddedStoreTest("session")
{
    private const long StoreId = 21;

    private Task<StoreSession> OpenAsync(long generation = 0) => StoreSession.OpenAsync(
        Store, Keys, new StoreSessionOptions { StoreId = StoreId, Generation = generation, Address = "test-host:1" },
        Reporter());

    [Fact]
    public async Task RunAsync_WorkMeetsALostSession_RegistersAgainUnderANewLease()
    {
        var session = await OpenAsync();
        using var stop = new CancellationTokenSource();
        var leases = new List<long>();

        var successor = await session.RunAsync(
            async (_, token) =>
            {
                leases.Add((await Store.GetAsync(Keys.Store(StoreId), token))!.LeaseId);
                if (leases.Count == 1) throw new FerryException(ErrorCodes.MetaSessionExpired, "lease gone (test)");
                await stop.CancelAsync();
                return null;
            },
            stop.Token).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(successor);
        Assert.Equal(2, leases.Count);
        Assert.NotEqual(leases[0], leases[1]);
        Assert.Null(await Store.GetAsync(Keys.Store(StoreId)));
    }

    [Fact]
    public async Task RunAsync_FenceTakenByANewerGeneration_FencedBeforeAnyWork()
    {
        var session = await OpenAsync(generation: 1);
        await OpenAsync(generation: 2);
        var worked = false;

        var error = await Assert.ThrowsAsync<FerryException>(() => session.RunAsync(
            (_, _) =>
            {
                worked = true;
                return Task.FromResult<HandoverRequest?>(null);
            },
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(ErrorCodes.FenceDeployGeneration, error.Code);
        Assert.False(worked);
    }
}
