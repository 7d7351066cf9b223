using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// What runners write the metadata store through (DESIGN §5): every write is one transaction that compares the
/// store's fence key with this process's token, the caller's own transaction nested inside it, so no write path can
/// skip the guard and a caller's failure branch is as atomic as its success branch. When the fence no longer holds
/// our token, the write fails with <c>FERRY:Fence:DeployGeneration</c> or <c>FERRY:Fence:Epoch</c>, read in that
/// same transaction. Deliberately not an <see cref="IMetaStore"/>: the raw store can never be passed where the
/// guard belongs. Only <see cref="Fence.AcquireAsync"/> makes one. Reads, watches and leases pass through.
/// </summary>
internal sealed class FencedWriter
{
    private readonly IMetaStore _inner;
    private readonly string _fenceKey;
    private readonly byte[] _tokenValue;

    internal FencedWriter(IMetaStore inner, MetaKeys keys, long storeId, FenceToken token, byte[] tokenValue)
    {
        _inner = inner;
        Keys = keys;
        StoreId = storeId;
        Token = token;
        _tokenValue = tokenValue;
        _fenceKey = keys.Fence(storeId);
    }

    /// <summary>This process's token: every record it writes names its deploy generation and epoch.</summary>
    public FenceToken Token { get; }

    public long StoreId { get; }

    public MetaKeys Keys { get; }

    /// <summary>The metadata store, without credentials.</summary>
    public string Description => _inner.Description;

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) => _inner.GetAsync(key, cancellationToken);

    public Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default) => _inner.RangeAsync(prefix, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default) =>
        _inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public async Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        (await TxnAsync(new TxnRequest([], [TxnOp.Put(key, value, leaseId)]), cancellationToken).ConfigureAwait(false)).Revision;

    public async Task DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        await TxnAsync(new TxnRequest([], [TxnOp.Delete(key)]), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Runs <paramref name="request"/> under the fence, as one transaction: the fence compared outside, the request
    /// nested inside. The result is the request's own (its compares, its branch's gets) at the transaction's revision.
    /// </summary>
    public async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var guarded = new TxnRequest([Compare.ValueIs(_fenceKey, _tokenValue)], [TxnOp.Txn(request)], [TxnOp.Get(_fenceKey)]);
        var result = await _inner.TxnAsync(guarded, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded) throw Lost(result.Gets[0]);
        return result.Nested[0] with { Revision = result.Revision };
    }

    /// <summary>Throws the Fenced error when the fence key no longer holds our token.</summary>
    public async Task ThrowIfFencedAsync(CancellationToken cancellationToken = default)
    {
        var now = await _inner.GetAsync(_fenceKey, cancellationToken).ConfigureAwait(false);
        if (now is null || !now.Value.Span.SequenceEqual(_tokenValue)) throw Lost(now);
    }

    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => _inner.GrantLeaseAsync(ttl, cancellationToken);

    public Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) => _inner.KeepAliveOnceAsync(leaseId, cancellationToken);

    /// <summary>Gives a lease back on the way out, bounded by its own deadline (see <see cref="MetaStoreExtensions.RevokeOnTheWayOutAsync"/>).</summary>
    public Task RevokeOnTheWayOutAsync(long leaseId, string operation, Action<FerryException> failed) =>
        _inner.RevokeOnTheWayOutAsync(leaseId, operation, failed);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => _inner.RevokeLeaseAsync(leaseId, cancellationToken);

    /// <summary>
    /// Raised with the Fenced error each time a write or <see cref="ThrowIfFencedAsync"/> finds that the fence no
    /// longer holds our token, before it is thrown: the guard of this process's storage writes stops them at once.
    /// </summary>
    public event Action<FerryException>? FenceLost;

    private FerryException Lost(KeyValue? now)
    {
        var error = Fence.Lost(StoreId, Token, now is null ? null : MetaJson.Deserialize<FenceToken>(now));
        FenceLost?.Invoke(error);
        return error;
    }
}
