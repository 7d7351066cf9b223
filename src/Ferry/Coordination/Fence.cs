using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// <c>{p}/fence/{store_id}</c> (DESIGN §5): which deployment owns a store. A larger deploy generation always
/// wins; within one generation, each start takes the next epoch.
/// </summary>
public sealed record FenceToken(long DeployGeneration, long Epoch)
{
    public override string ToString() => $"generation {DeployGeneration} epoch {Epoch}";
}

/// <summary>How a starting process treats a live holder of its store (DESIGN §5).</summary>
public enum Takeover
{
    /// <summary>A live holder of the same deploy generation: wait as a standby until it is gone. An older one: fence it at once.</summary>
    Default,

    /// <summary>Fence any live holder at once: it stops writing on its next write, or sooner when its watch sees the fence.</summary>
    Now,

    /// <summary>Ask the live holder to ship what it captured, commit its position and release the store; then fence.</summary>
    WhenReady,
}

/// <summary><c>{p}/handover/{store_id}</c>: a starting process asks the live holder to hand the store over. Bound to the asker's lease.</summary>
internal sealed record HandoverRequest(long Generation, string Address, long RequestedAt);

internal sealed record FenceOptions
{
    public Takeover Takeover { get; init; }

    /// <summary>This process, as "host:pid": a holder never hands over to itself.</summary>
    public string Address { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>How long <see cref="Takeover.WhenReady"/> waits for the holder before it fences at once.</summary>
    public TimeSpan HandoverTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How often a waiting process looks at the holder again.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The handover request's lease, and how long a sibling of the same generation that just took the fence has to
    /// register before it counts as gone.
    /// </summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Called once per holder we wait for, with why ("standby" or "handover").</summary>
    public Action<StoreRecord, string>? Waiting { get; init; }

    /// <summary>Called when the holder did not hand over within <see cref="HandoverTimeout"/> and is fenced at once.</summary>
    public Action<StoreRecord>? HandoverTimedOut { get; init; }

    /// <summary>Where a failure that does not stop the start (a request lease not given back) is reported.</summary>
    public ErrorReporter? Reporter { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>Taking a store's fence at start-up, before any other check that could fail.</summary>
internal static class Fence
{
    private const int MaxConflicts = 10;

    /// <summary>
    /// Takes the fence of <paramref name="storeId"/> for <paramref name="generation"/>. A stored larger generation
    /// means this process is obsolete (<c>FERRY:Fence:DeployGeneration</c>: exit 0). A live holder is waited for
    /// or fenced as <see cref="FenceOptions.Takeover"/> says, so two processes configured alike never fence each
    /// other in a loop. Then writes <c>{generation, epoch+1}</c> by compare-and-swap and returns the guard that every
    /// later write of this process goes through.
    /// </summary>
    public static async Task<FencedWriter> AcquireAsync(
        IMetaStore store, MetaKeys keys, long storeId, long generation, FenceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(keys);
        options ??= new FenceOptions();
        var fenceKey = keys.Fence(storeId);
        var storeKey = keys.Store(storeId);
        var time = options.Time;
        var conflicts = 0;
        long handoverLease = 0;
        long? handoverStarted = null;
        long? siblingFencedAt = null;
        string? announced = null;
        try
        {
            while (true)
            {
                var current = await store.GetAsync(fenceKey, cancellationToken).ConfigureAwait(false);
                var stored = current is null ? null : MetaJson.Deserialize<FenceToken>(current);
                if (stored is not null && stored.DeployGeneration > generation) throw Obsolete(storeId, generation, stored);

                var held = await store.GetAsync(storeKey, cancellationToken).ConfigureAwait(false);
                var holder = held is null ? null : MetaJson.Deserialize<StoreRecord>(held);
                if (holder is not null && StoreRegistration.DeadHolderRemoval(held!, holder) is { } removal)
                {
                    await store.TxnAsync(removal, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                // A sibling that won the fence and registered is waited for as any holder; once gone, it is gone.
                if (holder is not null) siblingFencedAt = null;
                var wait = WhyWait(options, generation, holder, siblingFencedAt, time);
                if (wait == "handover")
                {
                    handoverStarted ??= time.GetTimestamp();
                    if (time.GetElapsedTime(handoverStarted.Value) >= options.HandoverTimeout)
                    {
                        options.HandoverTimedOut?.Invoke(holder!);
                        wait = null;
                    }
                    else
                    {
                        handoverLease = await RequestHandoverAsync(store, keys.Handover(storeId), handoverLease, generation, options, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (wait is not null)
                {
                    var key = $"{wait}:{holder?.Address}";
                    if (holder is not null && announced != key)
                    {
                        options.Waiting?.Invoke(holder, wait);
                        announced = key;
                    }

                    await Task.Delay(options.PollInterval, time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var next = new FenceToken(generation, stored is not null && stored.DeployGeneration == generation ? stored.Epoch + 1 : 1);
                var value = MetaJson.Serialize(next);
                var compare = current is null ? Compare.Absent(fenceKey) : Compare.ModRevisionIs(fenceKey, current.ModRevision);
                var result = await store.TxnAsync(new TxnRequest([compare], [TxnOp.Put(fenceKey, value)]), cancellationToken).ConfigureAwait(false);
                if (result.Succeeded) return new FencedWriter(store, keys, storeId, next, value);

                // Someone else wrote the fence first. A sibling of our own generation that won is about to register:
                // give it the time a lease lives before taking the store from it.
                if (++conflicts >= MaxConflicts)
                {
                    throw new FerryException(ErrorCodes.MetaConflict, $"the fence of store {storeId} kept changing; another agent is starting for it", new ErrorContext(StoreId: storeId, Operation: "fence"));
                }

                if (options.Takeover != Takeover.Now) siblingFencedAt = time.GetTimestamp();
            }
        }
        finally
        {
            // Taken or given up: the request goes with its lease.
            if (handoverLease != 0) await ReleaseHandoverLeaseAsync(store, handoverLease, options.Reporter).ConfigureAwait(false);
        }
    }

    /// <summary>Why to wait for <paramref name="holder"/> rather than fence now: "standby", "handover", or null.</summary>
    private static string? WhyWait(FenceOptions options, long generation, StoreRecord? holder, long? siblingFencedAt, TimeProvider time)
    {
        if (options.Takeover == Takeover.Now) return null;
        if (holder is null)
        {
            return siblingFencedAt is { } at && time.GetElapsedTime(at) < options.LeaseTtl ? "standby" : null;
        }

        if (options.Takeover == Takeover.WhenReady) return "handover";
        return holder.Generation == generation ? "standby" : null;
    }

    /// <summary>Writes the handover request under its own lease on the first call; keeps that lease alive on the next.</summary>
    private static async Task<long> RequestHandoverAsync(IMetaStore store, string key, long lease, long generation, FenceOptions options, CancellationToken cancellationToken)
    {
        if (lease != 0)
        {
            await store.KeepAliveOnceAsync(lease, cancellationToken).ConfigureAwait(false);
            return lease;
        }

        lease = await store.GrantLeaseAsync(options.LeaseTtl, cancellationToken).ConfigureAwait(false);
        var request = new HandoverRequest(generation, options.Address, options.Time.GetUtcNow().ToUnixTimeMilliseconds());
        try
        {
            await store.PutAsync(key, MetaJson.Serialize(request), lease, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FerryException or OperationCanceledException)
        {
            await ReleaseHandoverLeaseAsync(store, lease, options.Reporter).ConfigureAwait(false);
            throw;
        }

        return lease;
    }

    private static Task ReleaseHandoverLeaseAsync(IMetaStore store, long lease, ErrorReporter? reporter) =>
        store.RevokeOnTheWayOutAsync(lease, "revoke the handover request's lease", e => reporter?.Report(e));

    /// <summary>The Fenced error for a token that is no longer ours.</summary>
    public static FerryException Lost(long storeId, FenceToken ours, FenceToken? now) => now is null || now.DeployGeneration > ours.DeployGeneration
        ? Obsolete(storeId, ours.DeployGeneration, now)
        : new FerryException(
            ErrorCodes.FenceEpoch,
            $"another process of deploy generation {ours.DeployGeneration} took store {storeId} (epoch {now.Epoch} > ours {ours.Epoch}); stopping",
            new ErrorContext(StoreId: storeId, Operation: "fence"));

    private static FerryException Obsolete(long storeId, long generation, FenceToken? now) => new(
        ErrorCodes.FenceDeployGeneration,
        now is null
            ? $"the fence of store {storeId} was removed; this process (generation {generation}) stops"
            : $"store {storeId} belongs to deploy generation {now.DeployGeneration}; this process (generation {generation}) is obsolete",
        new ErrorContext(StoreId: storeId, Operation: "fence"));
}
