using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tests.Coordination;

/// <summary>The store session on a real embedded store: fence first, then one registration after another.</summary>
public sealed class StoreSessionTests : IAsyncLifetime
{
    private const long StoreId = 21;
    private readonly TempDirectory _dir = new("session");
    private readonly MetaKeys _keys = new();
    private readonly FerryMetrics _metrics = new();
    private IMetaStore _store = null!;

    public async Task InitializeAsync() => _store = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"));

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private Task<StoreSession> OpenAsync(long generation = 0) => StoreSession.OpenAsync(
        _store, _keys, new StoreSessionOptions { StoreId = StoreId, Generation = generation, Address = "test-host:1" },
        new ErrorReporter(NullLogger<ErrorReporter>.Instance, _metrics));

    [Fact]
    public async Task RunAsync_WorkMeetsALostSession_RegistersAgainUnderANewLease()
    {
        var session = await OpenAsync();
        using var stop = new CancellationTokenSource();
        var leases = new List<long>();

        var successor = await session.RunAsync(
            async (_, token) =>
            {
                leases.Add((await _store.GetAsync(_keys.Store(StoreId), token))!.LeaseId);
                if (leases.Count == 1) throw new FerryException(ErrorCodes.MetaSessionExpired, "lease gone (test)");
                await stop.CancelAsync();
                return null;
            },
            stop.Token).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(successor);
        Assert.Equal(2, leases.Count);
        Assert.NotEqual(leases[0], leases[1]);
        Assert.Null(await _store.GetAsync(_keys.Store(StoreId)));
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
