using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Fencing;

/// <summary>
/// The only metadata store runners see (DESIGN §5): every write is a transaction that also compares the store's
/// fence key with this process's token, so no write path can skip the guard. When the compare fails, the token
/// is read back and the write fails with <c>FERRY:Fence:DeployGeneration</c> or <c>FERRY:Fence:Epoch</c>.
/// Reads, leases and watches pass through.
/// </summary>
public sealed class FencedMetaStore(IMetaStore inner, MetaKeys keys, long storeId, FenceToken token, byte[] tokenValue) : IMetaStore
{
    private readonly string _fenceKey = keys.Fence(storeId);

    public string Description => inner.Description;

    public FenceToken Token => token;

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default) => inner.RangeAsync(prefix, cancellationToken);

    public async Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        (await GuardedAsync(new TxnRequest([], [TxnOp.Put(key, value, leaseId)]), cancellationToken).ConfigureAwait(false)).Revision;

    public async Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var existed = await inner.GetAsync(key, cancellationToken).ConfigureAwait(false) is not null;
        await GuardedAsync(new TxnRequest([], [TxnOp.Delete(key)]), cancellationToken).ConfigureAwait(false);
        return existed ? 1 : 0;
    }

    public async Task<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var count = (await inner.RangeAsync(prefix, cancellationToken).ConfigureAwait(false)).Kvs.Count;
        await GuardedAsync(new TxnRequest([], [TxnOp.DeletePrefix(prefix)]), cancellationToken).ConfigureAwait(false);
        return count;
    }

    /// <summary>
    /// Runs the transaction with the fence compare added. When it fails, a changed fence is an error; otherwise the
    /// caller's own compares failed and its failure operations run, still under the fence.
    /// </summary>
    public async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // The failure operations run only after the fence is known to hold, and under its compare too.
        var result = await GuardedAsync(request with { Failure = null }, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded || request.Failure is not { Count: > 0 } failureOps) return result;
        var failure = await GuardedAsync(new TxnRequest([], failureOps), cancellationToken).ConfigureAwait(false);
        return failure with { Succeeded = false };
    }

    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => inner.GrantLeaseAsync(ttl, cancellationToken);

    public Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) => inner.KeepAliveOnceAsync(leaseId, cancellationToken);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default) =>
        inner.WatchAsync(prefix, fromRevision, cancellationToken);

    /// <summary>Throws the Fenced error when the fence key no longer holds our token.</summary>
    public async Task ThrowIfFencedAsync(CancellationToken cancellationToken = default)
    {
        var now = await inner.GetAsync(_fenceKey, cancellationToken).ConfigureAwait(false);
        if (now is not null && now.Value.Span.SequenceEqual(tokenValue)) return;
        throw Fence.Lost(storeId, token, now is null ? null : MetaJson.Deserialize<FenceToken>(now));
    }

    /// <summary>The owner disposes the inner store; this view owns nothing.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<TxnResult> GuardedAsync(TxnRequest request, CancellationToken cancellationToken)
    {
        var result = await inner.TxnAsync(request with { Compares = [Compare.ValueIs(_fenceKey, tokenValue), .. request.Compares] }, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded) await ThrowIfFencedAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }
}
