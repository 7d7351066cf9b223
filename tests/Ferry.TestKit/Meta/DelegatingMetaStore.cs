using Ferry.Meta;

namespace Ferry.TestKit.Meta;

/// <summary>
/// A real metadata store passed through, for tests that change one call of it (a transaction that fails, a rival
/// that writes first). Disposing it leaves the inner store to its owner.
/// </summary>
public abstract class DelegatingMetaStore(IMetaStore inner) : IMetaStore
{
    protected IMetaStore Inner { get; } = inner;

    public string Description => Inner.Description;

    public virtual Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) => Inner.GetAsync(key, cancellationToken);

    public virtual Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default) => Inner.RangeAsync(prefix, cancellationToken);

    public virtual Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        Inner.PutAsync(key, value, leaseId, cancellationToken);

    public virtual Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default) => Inner.DeleteAsync(key, cancellationToken);

    public virtual Task<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default) => Inner.DeletePrefixAsync(prefix, cancellationToken);

    public virtual Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default) => Inner.TxnAsync(request, cancellationToken);

    public virtual Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default) => Inner.GrantLeaseAsync(ttl, cancellationToken);

    public virtual Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) => Inner.KeepAliveOnceAsync(leaseId, cancellationToken);

    public virtual Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => Inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public virtual IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default) =>
        Inner.WatchAsync(prefix, fromRevision, cancellationToken);

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
