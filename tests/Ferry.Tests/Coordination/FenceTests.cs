using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Meta;

namespace Ferry.Tests.Coordination;

/// <summary>
/// Taking a store's fence at start-up (DESIGN §5) on a real embedded store: an obsolete generation stops at once,
/// a live holder of the same generation is waited for, never fenced in a loop; <c>--takeover</c> changes that.
/// </summary>
public sealed class FenceTests : IAsyncLifetime
{
    private const long StoreId = 7;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("fence");
    private readonly MetaKeys _keys = new();
    private IMetaStore _store = null!;

    public async Task InitializeAsync() => _store = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"));

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private static FenceOptions Options(Takeover takeover = Takeover.Default, TaskCompletionSource<string>? waiting = null) => new()
    {
        Takeover = takeover,
        Address = "this-host:1",
        PollInterval = TimeSpan.FromMilliseconds(20),
        Waiting = (_, why) => waiting?.TrySetResult(why),
    };

    private async Task<FenceToken?> StoredTokenAsync() =>
        await _store.GetAsync(_keys.Fence(StoreId)) is { } kv ? MetaJson.Deserialize<FenceToken>(kv) : null;

    /// <summary>A live holder on another host, bound to a lease as an agent's registration is; returns the lease.</summary>
    private async Task<long> RegisterHolderAsync(long generation, string address = "other-host:42")
    {
        var lease = await _store.GrantLeaseAsync(TimeSpan.FromMinutes(1));
        var record = new StoreRecord(address, "test", generation, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await _store.PutAsync(_keys.Store(StoreId), MetaJson.Serialize(record), lease);
        return lease;
    }

    private async Task PutFenceAsync(long generation, long epoch) =>
        await _store.PutAsync(_keys.Fence(StoreId), MetaJson.Serialize(new FenceToken(generation, epoch)));

    [Fact]
    public async Task Acquire_NoFence_TakesEpochOneThenTheNextEpoch()
    {
        var first = (await Fence.AcquireAsync(_store, _keys, StoreId, 3, Options())).Token;
        var second = (await Fence.AcquireAsync(_store, _keys, StoreId, 3, Options())).Token;

        Assert.Equal(new FenceToken(3, 1), first);
        Assert.Equal(new FenceToken(3, 2), second);
        Assert.Equal(second, await StoredTokenAsync());
    }

    [Fact]
    public async Task Acquire_NewerGenerationStored_IsObsoleteAndWritesNothing()
    {
        await PutFenceAsync(5, 2);

        var error = await Assert.ThrowsAsync<FerryException>(() => Fence.AcquireAsync(_store, _keys, StoreId, 4, Options()));

        Assert.Equal(ErrorCodes.FenceDeployGeneration, error.Code);
        Assert.Equal(new FenceToken(5, 2), await StoredTokenAsync());
    }

    [Fact]
    public async Task Acquire_LiveHolderOfTheSameGeneration_WaitsAsStandbyUntilItIsGone()
    {
        await PutFenceAsync(1, 1);
        var holder = await RegisterHolderAsync(1);
        var waiting = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var acquire = Fence.AcquireAsync(_store, _keys, StoreId, 1, Options(waiting: waiting));
        var why = await waiting.Task.WaitAsync(Deadline);
        // Decided to wait: the holder keeps its fence, so the two never take it from each other in turns.
        var whileWaiting = await StoredTokenAsync();
        var completedWhileHeld = acquire.IsCompleted;
        await _store.RevokeLeaseAsync(holder);
        var token = (await acquire.WaitAsync(Deadline)).Token;

        Assert.Equal("standby", why);
        Assert.False(completedWhileHeld);
        Assert.Equal(new FenceToken(1, 1), whileWaiting);
        Assert.Equal(new FenceToken(1, 2), token);
    }

    [Fact]
    public async Task Acquire_LiveHolderOfAnOlderGeneration_IsFencedAtOnce()
    {
        await PutFenceAsync(1, 4);
        await RegisterHolderAsync(1);
        var waiting = new TaskCompletionSource<string>();

        var token = (await Fence.AcquireAsync(_store, _keys, StoreId, 2, Options(waiting: waiting)).WaitAsync(Deadline)).Token;

        Assert.Equal(new FenceToken(2, 1), token);
        Assert.False(waiting.Task.IsCompleted);
    }

    [Fact]
    public async Task Acquire_TakeoverNow_FencesALiveHolderOfTheSameGenerationAtOnce()
    {
        await PutFenceAsync(1, 1);
        await RegisterHolderAsync(1);

        var token = (await Fence.AcquireAsync(_store, _keys, StoreId, 1, Options(Takeover.Now)).WaitAsync(Deadline)).Token;

        Assert.Equal(new FenceToken(1, 2), token);
    }

    [Fact]
    public async Task Acquire_WhenReady_AsksTheHolderUnderALeaseAndFencesOnceItLetGo()
    {
        await PutFenceAsync(1, 1);
        var holder = await RegisterHolderAsync(1);
        var waiting = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var acquire = Fence.AcquireAsync(_store, _keys, StoreId, 2, Options(Takeover.WhenReady, waiting));
        var why = await waiting.Task.WaitAsync(Deadline);
        var request = await EventuallyAsync(() => _store.GetAsync(_keys.Handover(StoreId)));
        var fenceWhileAsking = await StoredTokenAsync();
        await _store.RevokeLeaseAsync(holder);
        var token = (await acquire.WaitAsync(Deadline)).Token;

        Assert.Equal("handover", why);
        var asked = MetaJson.Deserialize<HandoverRequest>(request);
        Assert.Equal((2L, "this-host:1"), (asked.Generation, asked.Address));
        Assert.NotEqual(0, request.LeaseId);
        Assert.Equal(new FenceToken(1, 1), fenceWhileAsking);
        Assert.Equal(new FenceToken(2, 1), token);
        Assert.Null(await _store.GetAsync(_keys.Handover(StoreId)));
    }

    [Fact]
    public async Task Acquire_WhenReadyHolderNeverLetsGo_FencesAfterTheTimeoutAndTakesTheRequestBack()
    {
        await PutFenceAsync(1, 1);
        await RegisterHolderAsync(1);
        var timedOut = new TaskCompletionSource<StoreRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Options(Takeover.WhenReady) with
        {
            HandoverTimeout = TimeSpan.FromMilliseconds(300),
            HandoverTimedOut = holder => timedOut.TrySetResult(holder),
        };

        var token = (await Fence.AcquireAsync(_store, _keys, StoreId, 2, options).WaitAsync(Deadline)).Token;

        Assert.Equal("other-host:42", (await timedOut.Task.WaitAsync(Deadline)).Address);
        Assert.Equal(new FenceToken(2, 1), token);
        Assert.Null(await _store.GetAsync(_keys.Handover(StoreId)));
    }

    [Fact]
    public async Task Acquire_HolderIsADeadProcessOfThisHost_IsReplacedWithoutWaiting()
    {
        using var exited = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        await exited.WaitForExitAsync();
        await PutFenceAsync(1, 1);
        await RegisterHolderAsync(1, $"{Environment.MachineName}:{exited.Id}");

        var token = (await Fence.AcquireAsync(_store, _keys, StoreId, 1, Options()).WaitAsync(Deadline)).Token;

        Assert.Equal(new FenceToken(1, 2), token);
        Assert.Null(await _store.GetAsync(_keys.Store(StoreId)));
    }

    [Fact]
    public async Task Acquire_SiblingOfTheSameGenerationWinsTheRace_WaitsForItInsteadOfFencingIt()
    {
        await PutFenceAsync(1, 1);
        var sibling = new SiblingWinsTheFirstSwap(_store, _keys);
        var waiting = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var acquire = Fence.AcquireAsync(sibling, _keys, StoreId, 1, Options(waiting: waiting));
        // The sibling took epoch 2 just before our swap; it registers a moment later, then stops.
        await sibling.Swapped.Task.WaitAsync(Deadline);
        var holder = await RegisterHolderAsync(1);
        var why = await waiting.Task.WaitAsync(Deadline);
        var whileWaiting = await StoredTokenAsync();
        await _store.RevokeLeaseAsync(holder);
        var token = (await acquire.WaitAsync(Deadline)).Token;

        Assert.Equal("standby", why);
        Assert.Equal(new FenceToken(1, 2), whileWaiting);
        Assert.Equal(new FenceToken(1, 3), token);
    }

    [Fact]
    public async Task FencedWriter_FailureOperationsOfAFencedOutWriter_NeverRun()
    {
        // Regression: the failure operations of a transaction went to the store with the caller's compares only, so
        // a writer fenced out meanwhile still wrote them.
        var fenced = await Fence.AcquireAsync(_store, _keys, StoreId, 1, Options());
        await PutFenceAsync(2, 1);
        var request = new TxnRequest([Compare.Absent("/t/exists")], [TxnOp.Put("/t/success", "s"u8.ToArray())], [TxnOp.Put("/t/failure", "f"u8.ToArray())]);
        await _store.PutAsync("/t/exists", "x"u8.ToArray());

        var error = await Assert.ThrowsAsync<FerryException>(() => fenced.TxnAsync(request));

        Assert.Equal(ErrorCodes.FenceDeployGeneration, error.Code);
        Assert.Null(await _store.GetAsync("/t/failure"));
        Assert.Null(await _store.GetAsync("/t/success"));
    }

    [Fact]
    public async Task FencedWriter_CallersCompareFails_FailureOperationsRunUnderTheFence()
    {
        var fenced = await Fence.AcquireAsync(_store, _keys, StoreId, 1, Options());
        await _store.PutAsync("/t/exists", "x"u8.ToArray());

        var result = await fenced.TxnAsync(new TxnRequest([Compare.Absent("/t/exists")], [TxnOp.Put("/t/success", "s"u8.ToArray())], [TxnOp.Get("/t/exists")]));

        Assert.False(result.Succeeded);
        Assert.Equal("x", Assert.Single(result.Gets)!.ValueString);
        Assert.Null(await _store.GetAsync("/t/success"));
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> read)
        where T : class
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await read() is { } value) return value;
            Assert.True(watch.Elapsed < Deadline, "timed out");
            await Task.Delay(10);
        }
    }

    /// <summary>The real store, where another process of the same generation takes the fence just before our first swap.</summary>
    private sealed class SiblingWinsTheFirstSwap(IMetaStore inner, MetaKeys keys) : DelegatingMetaStore(inner)
    {
        public TaskCompletionSource Swapped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
        {
            if (!Swapped.Task.IsCompleted && request.Success.Any(op => op.Key == keys.Fence(StoreId)))
            {
                await Inner.PutAsync(keys.Fence(StoreId), MetaJson.Serialize(new FenceToken(1, 2)), cancellationToken: cancellationToken);
                Swapped.SetResult();
            }

            return await Inner.TxnAsync(request, cancellationToken);
        }
    }
}
