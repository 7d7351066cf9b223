using System.Diagnostics;
using System.Text;
using Ferry.Errors;
using Ferry.Meta;
using Xunit;

namespace Ferry.TestKit.Meta;

/// <summary>
/// The behaviour every <see cref="IMetaStore"/> must have. Each implementation's test class derives from this
/// and says how to open a fresh, empty store and how another process reaches it.
/// </summary>
public abstract class MetaStoreContractTests : IAsyncLifetime
{
    private readonly string _prefix = $"/contract/{Guid.NewGuid():N}/";

    protected IMetaStore Store { get; private set; } = null!;

    /// <summary>Opens the store under test (the same one each call: a second handle on the same data).</summary>
    protected abstract Task<IMetaStore> OpenStoreAsync();

    /// <summary>The --meta URL by which another process reaches the same store.</summary>
    protected abstract string MetaUrl { get; }

    public virtual async Task InitializeAsync() => Store = await OpenStoreAsync();

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    private string K(string name) => _prefix + name;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static CancellationToken Deadline(int seconds = 20) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Fact]
    public async Task Get_MissingKey_ReturnsNull()
    {
        Assert.Null(await Store.GetAsync(K("missing"), Deadline()));
    }

    [Fact]
    public async Task Put_ThenGet_ReturnsValueAndRevisions()
    {
        var rev1 = await Store.PutAsync(K("a"), B("one"), cancellationToken: Deadline());
        var rev2 = await Store.PutAsync(K("a"), B("two"), cancellationToken: Deadline());

        var kv = await Store.GetAsync(K("a"), Deadline());

        Assert.NotNull(kv);
        Assert.Equal("two", kv.ValueString);
        Assert.True(rev2 > rev1);
        Assert.Equal(rev1, kv.CreateRevision);
        Assert.Equal(rev2, kv.ModRevision);
        Assert.Equal(2, kv.Version);
        Assert.Equal(0, kv.LeaseId);
    }

    [Fact]
    public async Task Put_BinaryValueWithWhitespace_ReadBackByteForByte()
    {
        byte[] value = [0x20, 0x00, 0xff, 0x0a, 0x20];
        await Store.PutAsync(K("bin"), value, cancellationToken: Deadline());

        var kv = await Store.GetAsync(K("bin"), Deadline());

        Assert.Equal(value, kv!.Value.ToArray());
    }

    [Fact]
    public async Task Range_Prefix_ReturnsOnlyThatPrefixInKeyOrder()
    {
        await Store.PutAsync(K("r/b"), B("2"), cancellationToken: Deadline());
        await Store.PutAsync(K("r/a"), B("1"), cancellationToken: Deadline());
        await Store.PutAsync(K("r/c/d"), B("3"), cancellationToken: Deadline());
        var last = await Store.PutAsync(K("rx"), B("other"), cancellationToken: Deadline());

        var range = await Store.RangeAsync(K("r/"), Deadline());

        Assert.Equal([K("r/a"), K("r/b"), K("r/c/d")], range.Kvs.Select(kv => kv.Key));
        Assert.Equal(["1", "2", "3"], range.Kvs.Select(kv => kv.ValueString));
        Assert.True(range.Revision >= last);
    }

    [Fact]
    public async Task Delete_ExistingAndMissing_ReturnsCount()
    {
        await Store.PutAsync(K("d"), B("x"), cancellationToken: Deadline());

        Assert.Equal(1, await Store.DeleteAsync(K("d"), Deadline()));
        Assert.Equal(0, await Store.DeleteAsync(K("d"), Deadline()));
        Assert.Null(await Store.GetAsync(K("d"), Deadline()));
    }

    [Fact]
    public async Task DeletePrefix_RemovesOnlyThatPrefix()
    {
        await Store.PutAsync(K("p/1"), B("1"), cancellationToken: Deadline());
        await Store.PutAsync(K("p/2"), B("2"), cancellationToken: Deadline());
        await Store.PutAsync(K("q"), B("3"), cancellationToken: Deadline());

        Assert.Equal(2, await Store.DeletePrefixAsync(K("p/"), Deadline()));

        Assert.Empty((await Store.RangeAsync(K("p/"), Deadline())).Kvs);
        Assert.NotNull(await Store.GetAsync(K("q"), Deadline()));
    }

    [Fact]
    public async Task Txn_CreateIfAbsent_SecondCreateFails()
    {
        var create = new TxnRequest([Compare.Absent(K("c"))], [TxnOp.Put(K("c"), B("first"))]);
        var first = await Store.TxnAsync(create, Deadline());
        var second = await Store.TxnAsync(create with { Success = [TxnOp.Put(K("c"), B("second"))] }, Deadline());

        Assert.True(first.Succeeded);
        Assert.False(second.Succeeded);
        Assert.Equal("first", (await Store.GetAsync(K("c"), Deadline()))!.ValueString);
    }

    [Fact]
    public async Task Txn_CompareAndSwapOnStaleRevision_FailsAndRunsFailureBranch()
    {
        var rev = await Store.PutAsync(K("cas"), B("v1"), cancellationToken: Deadline());
        await Store.PutAsync(K("cas"), B("v2"), cancellationToken: Deadline());

        var result = await Store.TxnAsync(
            new TxnRequest([Compare.ModRevisionIs(K("cas"), rev)], [TxnOp.Put(K("cas"), B("v3"))], [TxnOp.Get(K("cas"))]),
            Deadline());

        Assert.False(result.Succeeded);
        Assert.Single(result.Gets);
        Assert.Equal("v2", result.Gets[0]!.ValueString);
        Assert.Equal("v2", (await Store.GetAsync(K("cas"), Deadline()))!.ValueString);
    }

    [Fact]
    public async Task Txn_CompareAndSwapOnCurrentRevision_AppliesAllOpsAtOneRevision()
    {
        var rev = await Store.PutAsync(K("t/cas"), B("v1"), cancellationToken: Deadline());
        await Store.PutAsync(K("t/gone"), B("x"), cancellationToken: Deadline());

        var result = await Store.TxnAsync(
            new TxnRequest(
                [Compare.ModRevisionIs(K("t/cas"), rev)],
                [TxnOp.Put(K("t/cas"), B("v2")), TxnOp.Put(K("t/new"), B("n")), TxnOp.Delete(K("t/gone")), TxnOp.Get(K("t/cas"))]),
            Deadline());

        Assert.True(result.Succeeded);
        var kvs = (await Store.RangeAsync(K("t/"), Deadline())).Kvs;
        Assert.Equal([K("t/cas"), K("t/new")], kvs.Select(kv => kv.Key));
        Assert.All(kvs, kv => Assert.Equal(result.Revision, kv.ModRevision));
        Assert.Equal("v2", result.Gets[0]!.ValueString);
    }

    [Fact]
    public async Task Txn_CompareOnValue_MatchesExactBytesOnly()
    {
        await Store.PutAsync(K("val"), B("abc"), cancellationToken: Deadline());

        var wrong = await Store.TxnAsync(new TxnRequest([Compare.ValueIs(K("val"), B("abd"))], [TxnOp.Put(K("val"), B("x"))]), Deadline());
        var right = await Store.TxnAsync(new TxnRequest([Compare.ValueIs(K("val"), B("abc"))], [TxnOp.Put(K("val"), B("y"))]), Deadline());
        var missing = await Store.TxnAsync(new TxnRequest([Compare.ValueIs(K("nokey"), B("abc"))], [TxnOp.Put(K("nokey"), B("z"))]), Deadline());

        Assert.False(wrong.Succeeded);
        Assert.True(right.Succeeded);
        Assert.False(missing.Succeeded);
        Assert.Equal("y", (await Store.GetAsync(K("val"), Deadline()))!.ValueString);
    }

    [Fact]
    public async Task Txn_DeletePrefixAndVersionCompare_AppliesAtomically()
    {
        await Store.PutAsync(K("dp/a"), B("1"), cancellationToken: Deadline());
        await Store.PutAsync(K("dp/b"), B("2"), cancellationToken: Deadline());
        await Store.PutAsync(K("flag"), B("f"), cancellationToken: Deadline());

        var result = await Store.TxnAsync(
            new TxnRequest(
                [new Compare(K("flag"), CompareTarget.Version, CompareOp.Equal, 1)],
                [TxnOp.DeletePrefix(K("dp/")), TxnOp.Delete(K("flag"))]),
            Deadline());

        Assert.True(result.Succeeded);
        Assert.Empty((await Store.RangeAsync(K("dp/"), Deadline())).Kvs);
        Assert.Null(await Store.GetAsync(K("flag"), Deadline()));
    }

    [Fact]
    public async Task Txn_NestedFailureBranch_RunsInTheOuterTransactionAtOneRevision()
    {
        // The guard's shape (a fence compared outside, the caller's own compares inside): when the caller's compare
        // fails, its failure branch runs in the same transaction as the outer branch, never as a second one.
        await Store.PutAsync(K("n/fence"), B("token"), cancellationToken: Deadline());
        await Store.PutAsync(K("n/pause"), B("theirs"), cancellationToken: Deadline());
        var inner = new TxnRequest(
            [Compare.Absent(K("n/pause"))],
            [TxnOp.Put(K("n/error"), B("e")), TxnOp.Put(K("n/pause"), B("ours"))],
            [TxnOp.Put(K("n/error"), B("e")), TxnOp.Get(K("n/pause"))]);

        var result = await Store.TxnAsync(
            new TxnRequest([Compare.ValueIs(K("n/fence"), B("token"))], [TxnOp.Put(K("n/outer"), B("o")), TxnOp.Txn(inner)], [TxnOp.Get(K("n/fence"))]),
            Deadline());

        Assert.True(result.Succeeded);
        var nested = Assert.Single(result.Nested);
        Assert.False(nested.Succeeded);
        Assert.Equal("theirs", Assert.Single(nested.Gets)!.ValueString);
        var error = await Store.GetAsync(K("n/error"), Deadline());
        var outer = await Store.GetAsync(K("n/outer"), Deadline());
        Assert.Equal(result.Revision, error!.ModRevision);
        Assert.Equal(result.Revision, outer!.ModRevision);
        Assert.Equal("theirs", (await Store.GetAsync(K("n/pause"), Deadline()))!.ValueString);
    }

    [Fact]
    public async Task Txn_OuterCompareFails_NestedTransactionNeverRuns()
    {
        await Store.PutAsync(K("m/fence"), B("newer"), cancellationToken: Deadline());
        var inner = new TxnRequest([], [TxnOp.Put(K("m/a"), B("1"))], [TxnOp.Put(K("m/b"), B("2"))]);

        var result = await Store.TxnAsync(
            new TxnRequest([Compare.ValueIs(K("m/fence"), B("token"))], [TxnOp.Txn(inner)], [TxnOp.Get(K("m/fence"))]),
            Deadline());

        Assert.False(result.Succeeded);
        Assert.Empty(result.Nested);
        Assert.Equal("newer", Assert.Single(result.Gets)!.ValueString);
        Assert.Equal([K("m/fence")], (await Store.RangeAsync(K("m/"), Deadline())).Kvs.Select(kv => kv.Key));
    }

    [Fact]
    public async Task Lease_Revoked_DeletesItsKeys()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), Deadline());
        await Store.PutAsync(K("leased"), B("x"), lease, Deadline());
        Assert.Equal(lease, (await Store.GetAsync(K("leased"), Deadline()))!.LeaseId);

        await Store.RevokeLeaseAsync(lease, Deadline());

        Assert.Null(await Store.GetAsync(K("leased"), Deadline()));
        await Store.RevokeLeaseAsync(lease, Deadline());
    }

    [Fact]
    public async Task Lease_NotKeptAlive_ExpiresAndDeletesKeysAndKeepAliveSaysSessionExpired()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(2), Deadline());
        await Store.PutAsync(K("ephemeral"), B("x"), lease, Deadline());
        await Store.PutAsync(K("durable"), B("y"), cancellationToken: Deadline());

        await WaitUntilAsync(async () => await Store.GetAsync(K("ephemeral"), Deadline()) is null, TimeSpan.FromSeconds(15));

        Assert.NotNull(await Store.GetAsync(K("durable"), Deadline()));
        var error = await Assert.ThrowsAsync<FerryException>(() => Store.KeepAliveOnceAsync(lease, Deadline()));
        Assert.Same(ErrorCodes.MetaSessionExpired, error.Code);
        Assert.Equal(ErrorClass.SessionLost, error.Class);
        var putError = await Assert.ThrowsAsync<FerryException>(() => Store.PutAsync(K("late"), B("z"), lease, Deadline()));
        Assert.Same(ErrorCodes.MetaSessionExpired, putError.Code);
    }

    [Fact]
    public async Task Lease_KeptAlive_OutlivesItsTtl()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(2), Deadline());
        await Store.PutAsync(K("kept"), B("x"), lease, Deadline());
        var until = Stopwatch.StartNew();

        while (until.Elapsed < TimeSpan.FromSeconds(4))
        {
            var ttl = await Store.KeepAliveOnceAsync(lease, Deadline());
            Assert.True(ttl > TimeSpan.Zero);
            await Task.Delay(TimeSpan.FromMilliseconds(400));
        }

        Assert.NotNull(await Store.GetAsync(K("kept"), Deadline()));
        await Store.RevokeLeaseAsync(lease, Deadline());
    }

    [Fact]
    public async Task Watch_FromRevision_DeliversHistoryThenLiveEventsInOrder()
    {
        var first = await Store.PutAsync(K("w/a"), B("1"), cancellationToken: Deadline());
        await Store.PutAsync(K("w/b"), B("2"), cancellationToken: Deadline());
        await Store.PutAsync(K("unwatched"), B("u"), cancellationToken: Deadline());
        await Store.DeleteAsync(K("w/a"), Deadline());

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = new List<WatchEvent>();
        await using var enumerator = Store.WatchAsync(K("w/"), first, cts.Token).GetAsyncEnumerator(cts.Token);

        // History first.
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await enumerator.MoveNextAsync());
            events.Add(enumerator.Current);
        }

        // Then a change made after the watch started.
        var live = await Store.PutAsync(K("w/c"), B("3"), cancellationToken: Deadline());
        Assert.True(await enumerator.MoveNextAsync());
        events.Add(enumerator.Current);

        Assert.Equal(
            [(WatchEventType.Put, K("w/a")), (WatchEventType.Put, K("w/b")), (WatchEventType.Delete, K("w/a")), (WatchEventType.Put, K("w/c"))],
            events.Select(e => (e.Type, e.Kv.Key)));
        Assert.Equal(first, events[0].Kv.ModRevision);
        Assert.Equal(live, events[3].Kv.ModRevision);
        Assert.Equal("3", events[3].Kv.ValueString);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Kv.ModRevision < p.Second.Kv.ModRevision));
    }

    [Fact]
    public async Task Watch_LeaseExpiry_DeliversDelete()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(2), Deadline());
        var rev = await Store.PutAsync(K("wl/k"), B("x"), lease, Deadline());

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var seen = new List<WatchEventType>();
        await foreach (var e in Store.WatchAsync(K("wl/"), rev, cts.Token))
        {
            seen.Add(e.Type);
            if (e.Type == WatchEventType.Delete) break;
        }

        Assert.Equal([WatchEventType.Put, WatchEventType.Delete], seen);
    }

    [Fact]
    public async Task Txn_CompareAndSwapRacingAnotherProcess_EveryIncrementCountedOnce()
    {
        const int perWorker = 100;
        var key = K("counter");
        await Store.PutAsync(key, B("0"), cancellationToken: Deadline());

        // One racer in another process, one in this one, on the same key at the same time.
        using var other = MetaRacer.Start(MetaUrl, key, perWorker);
        await WaitUntilAsync(async () => await Store.GetAsync(key + "/ready", Deadline()) is not null, TimeSpan.FromSeconds(30));
        await Store.PutAsync(key + "/go", B("1"), cancellationToken: Deadline());
        var mine = await MetaRacer.IncrementAsync(Store, key, perWorker, Deadline(60));
        var theirs = await other.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(perWorker, mine.Increments);
        Assert.Equal(perWorker, theirs.Increments);
        Assert.Equal((2 * perWorker).ToString(), (await Store.GetAsync(key, Deadline()))!.ValueString);
        // Both really raced: at least one side lost a compare-and-swap and re-read.
        Assert.True(mine.Conflicts + theirs.Conflicts > 0, "the two racers never conflicted; the test proved nothing");
    }

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout) throw new TimeoutException($"condition not met within {timeout}");
            await Task.Delay(50);
        }
    }
}
