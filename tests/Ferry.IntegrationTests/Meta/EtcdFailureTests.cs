using System.Diagnostics;
using System.Text;
using Ferry.Errors;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.TestKit.Etcd;
using Xunit;

namespace Ferry.IntegrationTests.Meta;

/// <summary>
/// How the etcd store fails against a real etcd that is killed, hung and restarted. These tests own their
/// server (it is killed and paused), so they never disturb the shared one of the contract suite.
/// </summary>
public sealed class EtcdFailureTests : IAsyncLifetime
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(1.5);
    private readonly EtcdServer _etcd = new();
    private readonly string _prefix = $"/failure/{Guid.NewGuid():N}/";
    private IMetaStore _store = null!;

    public async Task InitializeAsync()
    {
        await _etcd.InitializeAsync();
        _store = await EtcdMetaStore.ConnectAsync([_etcd.Endpoint], new EtcdMetaStoreOptions { CallTimeout = CallTimeout });
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _store.DisposeAsync();
        }
        finally
        {
            await _etcd.DisposeAsync();
        }
    }

    private string K(string name) => _prefix + name;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Get_ServerKilled_ThrowsUnavailablePromptly()
    {
        await _store.PutAsync(K("a"), B("1"));
        _etcd.Stop();

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<FerryException>(() => _store.GetAsync(K("a")));

        Assert.True(watch.Elapsed < CallTimeout + Margin, $"took {watch.Elapsed}");
        Assert.Contains(error.Code, new[] { ErrorCodes.MetaUnavailable, ErrorCodes.MetaTimeout });
        Assert.Equal(ErrorClass.Transient, error.Class);
    }

    [Fact]
    public async Task Get_ServerPaused_ThrowsTimeoutWithinDeadline()
    {
        await _store.PutAsync(K("a"), B("1"));
        _etcd.Pause();
        try
        {
            var watch = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<FerryException>(() => _store.GetAsync(K("a")));

            Assert.True(watch.Elapsed < CallTimeout + Margin, $"took {watch.Elapsed}");
            Assert.Same(ErrorCodes.MetaTimeout, error.Code);
        }
        finally
        {
            _etcd.Resume();
        }

        Assert.Equal("1", (await _store.GetAsync(K("a")))!.ValueString);
    }

    [Fact]
    public async Task Get_CallerCancelsWhileServerPaused_ThrowsCancelled()
    {
        _etcd.Pause();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var error = await Assert.ThrowsAsync<FerryException>(() => _store.GetAsync(K("a"), cts.Token));

            Assert.Same(ErrorCodes.Cancelled, error.Code);
        }
        finally
        {
            _etcd.Resume();
        }
    }

    [Fact]
    public async Task Txn_ServerPaused_ThrowsOutcomeUnknownNotBlindRetry()
    {
        var rev = await _store.PutAsync(K("cas"), B("v1"));
        _etcd.Pause();
        try
        {
            var watch = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<FerryException>(() =>
                _store.TxnAsync(new TxnRequest([Compare.ModRevisionIs(K("cas"), rev)], [TxnOp.Put(K("cas"), B("v2"))])));

            Assert.True(watch.Elapsed < CallTimeout + Margin, $"took {watch.Elapsed}");
            Assert.Same(ErrorCodes.MetaOutcomeUnknown, error.Code);
        }
        finally
        {
            _etcd.Resume();
        }
    }

    [Fact]
    public async Task Txn_ServerKilled_ThrowsTransientAndDidNotApply()
    {
        var rev = await _store.PutAsync(K("cas"), B("v1"));
        _etcd.Stop();

        var error = await Assert.ThrowsAsync<FerryException>(() =>
            _store.TxnAsync(new TxnRequest([Compare.ModRevisionIs(K("cas"), rev)], [TxnOp.Put(K("cas"), B("v2"))])));
        await _etcd.RestartAsync();

        // A refused connection is Unavailable; but the client may already hold a connection that the kill resets
        // mid-request (then the outcome is honestly unknown and reading back fails too), or the deadline may fire
        // first on a loaded machine. Whatever it says, it is transient and the write did not apply.
        Assert.Contains(error.Code, new[] { ErrorCodes.MetaUnavailable, ErrorCodes.MetaTimeout, ErrorCodes.MetaOutcomeUnknown });
        Assert.Equal(ErrorClass.Transient, error.Class);
        await WaitUntilAsync(async () => await TryGetAsync(K("cas")) is not null);
        Assert.Equal("v1", (await _store.GetAsync(K("cas")))!.ValueString);
    }

    [Fact]
    public async Task Get_ServerRestarted_SameHandleWorksAgain()
    {
        await _store.PutAsync(K("a"), B("kept"));
        _etcd.Stop();
        await Assert.ThrowsAsync<FerryException>(() => _store.GetAsync(K("a")));

        await _etcd.RestartAsync();

        await WaitUntilAsync(async () => await TryGetAsync(K("a")) is not null);
        Assert.Equal("kept", (await _store.GetAsync(K("a")))!.ValueString);
        await _store.PutAsync(K("b"), B("new"));
    }

    [Fact]
    public async Task KeepAliveOnceAndPut_LeaseExpired_ThrowSessionExpired()
    {
        var lease = await _store.GrantLeaseAsync(TimeSpan.FromMilliseconds(200));
        await _store.PutAsync(K("eph"), B("x"), lease);

        await WaitUntilAsync(async () => await _store.GetAsync(K("eph")) is null);

        var keepAlive = await Assert.ThrowsAsync<FerryException>(() => _store.KeepAliveOnceAsync(lease));
        var put = await Assert.ThrowsAsync<FerryException>(() => _store.PutAsync(K("late"), B("y"), lease));
        var txn = await Assert.ThrowsAsync<FerryException>(() => _store.TxnAsync(new TxnRequest([], [TxnOp.Put(K("late"), B("y"), lease)])));
        Assert.Same(ErrorCodes.MetaSessionExpired, keepAlive.Code);
        Assert.Same(ErrorCodes.MetaSessionExpired, put.Code);
        Assert.Same(ErrorCodes.MetaSessionExpired, txn.Code);
        Assert.Equal(ErrorClass.SessionLost, put.Class);
        await _store.RevokeLeaseAsync(lease);
    }

    [Fact]
    public async Task Watch_ServerRestarted_ResumesWithoutLossOrDuplicates()
    {
        var first = await _store.PutAsync(K("w/1"), B("1"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var events = _store.WatchAsync(K("w/"), first, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(K("w/1"), events.Current.Kv.Key);

        _etcd.Stop();
        await _etcd.RestartAsync();
        await WaitUntilAsync(async () => await TryGetAsync(K("w/1")) is not null);
        await _store.PutAsync(K("w/2"), B("2"));
        await _store.DeleteAsync(K("w/1"));

        Assert.True(await events.MoveNextAsync());
        Assert.Equal((WatchEventType.Put, K("w/2")), (events.Current.Type, events.Current.Kv.Key));
        Assert.True(await events.MoveNextAsync());
        Assert.Equal((WatchEventType.Delete, K("w/1")), (events.Current.Type, events.Current.Kv.Key));
    }

    [Fact]
    public async Task Watch_CallerCancels_EndsWithoutException()
    {
        var rev = await _store.PutAsync(K("c/1"), B("1"));
        using var cts = new CancellationTokenSource();
        var seen = 0;

        await foreach (var _ in _store.WatchAsync(K("c/"), rev, cts.Token))
        {
            seen++;
            await cts.CancelAsync();
        }

        Assert.Equal(1, seen);
    }

    [Fact]
    public async Task Watch_CompactedRevision_ThrowsCompacted()
    {
        var old = await _store.PutAsync(K("k/1"), B("1"));
        var latest = await _store.PutAsync(K("k/1"), B("2"));
        await CompactAsync(latest);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<FerryException>(async () =>
        {
            await foreach (var _ in _store.WatchAsync(K("k/"), old, cts.Token))
            {
                // The compacted start revision fails the watch before any event.
            }
        });

        Assert.Same(ErrorCodes.MetaCompacted, error.Code);
    }

    private async Task<KeyValue?> TryGetAsync(string key)
    {
        try
        {
            return await _store.GetAsync(key);
        }
        catch (FerryException e) when (e.Class == ErrorClass.Transient)
        {
            return null;
        }
    }

    private async Task CompactAsync(long revision)
    {
        using var etcdctl = Process.Start(new ProcessStartInfo("etcdctl")
        {
            ArgumentList = { $"--endpoints={_etcd.Endpoint}", "--command-timeout=5s", "compact", revision.ToString() },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ETCDCTL_API"] = "3" },
        }) ?? throw new InvalidOperationException("could not start etcdctl");
        var stderr = etcdctl.StandardError.ReadToEndAsync();
        await etcdctl.WaitForExitAsync();
        Assert.True(etcdctl.ExitCode == 0, $"etcdctl compact failed: {await stderr}");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(15)) throw new TimeoutException("condition not met within 15 s");
            await Task.Delay(50);
        }
    }
}
