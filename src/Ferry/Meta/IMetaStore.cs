namespace Ferry.Meta;

/// <summary>
/// The metadata store, in etcd's shape: a revisioned key-value store with transactions, leases and watch.
/// Implementations: the embedded SQLite file (one host) and etcd (a cluster). Both pass the same contract suite.
/// Every failure is a <see cref="Ferry.Errors.FerryException"/> with a <c>FERRY:Meta:*</c> code; every call has a
/// deadline of its own, so a hung server surfaces as <c>FERRY:Meta:Timeout</c>, never as a hang.
/// An expired lease is reported as <c>FERRY:Meta:SessionExpired</c> and never recovered from silently.
/// </summary>
public interface IMetaStore : IAsyncDisposable
{
    /// <summary>A human-readable description without credentials, e.g. <c>etcd://127.0.0.1:2379</c>.</summary>
    string Description { get; }

    /// <summary>Reads one key; <c>null</c> when it does not exist.</summary>
    Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Reads every key starting with <paramref name="prefix"/>, in key order, with the store's revision.</summary>
    Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Writes a key unconditionally (idempotent); returns the new revision.</summary>
    Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default);

    /// <summary>Deletes one key (idempotent); returns how many keys were deleted (0 or 1).</summary>
    Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Deletes every key starting with <paramref name="prefix"/>; returns how many were deleted.</summary>
    Task<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a transaction: if every compare holds, the success operations apply atomically, else the failure
    /// operations. A transaction whose outcome is unknown (connection lost mid-call) is never retried blindly.
    /// </summary>
    Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default);

    /// <summary>Grants a lease; keys put with it are deleted when it expires or is revoked.</summary>
    Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>
    /// Renews a lease once and returns its remaining TTL. Throws <c>FERRY:Meta:SessionExpired</c> when the lease is
    /// gone (expired or revoked): that is checked here, not left to the caller.
    /// </summary>
    Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>Revokes a lease and deletes its keys (idempotent: revoking a lease that is gone is not an error).</summary>
    Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams every change to keys under <paramref name="prefix"/> with a revision at or after
    /// <paramref name="fromRevision"/>, in revision order, until cancelled. Events of one transaction share a revision.
    /// A revision that has been compacted away gives <c>FERRY:Meta:Compacted</c>.
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, CancellationToken cancellationToken = default);
}
