using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Fencing;

/// <summary>
/// <c>{p}/fence/{store_id}</c> (DESIGN §5): which deployment owns a store. A larger deploy generation always
/// wins; within one generation, each start takes the next epoch.
/// </summary>
public sealed record FenceToken(long DeployGeneration, long Epoch)
{
    public override string ToString() => $"generation {DeployGeneration} epoch {Epoch}";
}

/// <summary>Taking a store's fence at start-up, before any other check that could fail.</summary>
public static class Fence
{
    private const int MaxAttempts = 10;

    /// <summary>
    /// Takes the fence of <paramref name="storeId"/> for <paramref name="generation"/>: a stored larger generation
    /// means this process is obsolete (<c>FERRY:Fence:DeployGeneration</c>: exit 0); otherwise writes
    /// <c>{generation, epoch+1}</c> by compare-and-swap and returns the key's value as written, for the guard.
    /// </summary>
    public static async Task<(FenceToken Token, byte[] Value)> AcquireAsync(
        IMetaStore store, MetaKeys keys, long storeId, long generation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(keys);
        var key = keys.Fence(storeId);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var current = await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
            var stored = current is null ? null : MetaJson.Deserialize<FenceToken>(current);
            if (stored is not null && stored.DeployGeneration > generation)
            {
                throw Obsolete(storeId, generation, stored);
            }

            var next = new FenceToken(generation, stored is not null && stored.DeployGeneration == generation ? stored.Epoch + 1 : 1);
            var value = MetaJson.Serialize(next);
            var compare = current is null ? Compare.Absent(key) : Compare.ModRevisionIs(key, current.ModRevision);
            var result = await store.TxnAsync(new TxnRequest([compare], [TxnOp.Put(key, value)]), cancellationToken).ConfigureAwait(false);
            if (result.Succeeded) return (next, value);
        }

        throw new FerryException(ErrorCodes.MetaConflict, $"the fence of store {storeId} kept changing; another agent is starting for it", new ErrorContext(StoreId: storeId, Operation: "fence"));
    }

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
