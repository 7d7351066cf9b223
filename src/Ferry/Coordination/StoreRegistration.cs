using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// A live store's <c>{p}/stores/{id}</c> key, bound to its own lease and kept alive by its own loop (the etcd
/// client's keep-alive dies silently, NOTES-etcd.md). While it lives, <c>ferry task status</c> shows the store;
/// when the process dies, the lease expires and the store shows OFFLINE. A second process that tries to register
/// the same store id while the first is alive is refused. <see cref="Lost"/> fires when the lease is gone.
/// </summary>
internal sealed class StoreRegistration : IAsyncDisposable
{
    private readonly FencedWriter _store;
    private readonly long _leaseId;
    private readonly TimeSpan _ttl;
    private readonly ErrorReporter _reporter;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly Task _keepAlive;
    private long _renewedAt;

    private StoreRegistration(FencedWriter store, long leaseId, TimeSpan ttl, ErrorReporter reporter, TimeProvider time, long grantedAt)
    {
        _store = store;
        _leaseId = leaseId;
        _ttl = ttl;
        _reporter = reporter;
        _time = time;
        _renewedAt = grantedAt;
        _keepAlive = Task.Run(KeepAliveAsync);
    }

    /// <summary>Cancelled when the lease expired (the session is lost): the owner must stop and register again.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>The lease's time to live: once <see cref="SinceRenewed"/> passes it, the lease may have expired and a standby taken the store.</summary>
    public TimeSpan Ttl => _ttl;

    /// <summary>How long ago the lease was last granted or renewed, counted from before the request was sent.</summary>
    public TimeSpan SinceRenewed => _time.GetElapsedTime(Volatile.Read(ref _renewedAt));

    /// <summary>
    /// Registers <paramref name="storeId"/>. When a live process holds it: with <paramref name="standby"/>, waits
    /// (calling <paramref name="waiting"/> once) until that holder's lease is gone, as DESIGN §5 asks of two
    /// processes configured alike; without, fails with <c>FERRY:Fence:StoreInUse</c>. A holder recorded as a
    /// process of this host that no longer exists is stale and is replaced at once.
    /// </summary>
    public static async Task<StoreRegistration> RegisterAsync(
        FencedWriter store,
        StoreRecord record,
        ErrorReporter reporter,
        TimeProvider time,
        TimeSpan? ttl = null,
        bool standby = false,
        Action<StoreRecord>? waiting = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var storeId = store.StoreId;
        var leaseTtl = ttl ?? TimeSpan.FromSeconds(10);
        var key = store.Keys.Store(storeId);
        var announced = false;
        while (true)
        {
            var grantedAt = time.GetTimestamp();
            var leaseId = await store.GrantLeaseAsync(leaseTtl, cancellationToken).ConfigureAwait(false);
            TxnResult result;
            try
            {
                result = await store.TxnAsync(
                    new TxnRequest([Compare.Absent(key)], [TxnOp.Put(key, MetaJson.Serialize(record), leaseId)], [TxnOp.Get(key)]),
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception registering) when (registering is FerryException or OperationCanceledException)
            {
                await RevokeQuietlyAsync(store, leaseId, registering, reporter).ConfigureAwait(false);
                throw;
            }

            if (result.Succeeded) return new StoreRegistration(store, leaseId, leaseTtl, reporter, time, grantedAt);

            await store.RevokeLeaseAsync(leaseId, cancellationToken).ConfigureAwait(false);
            if (result.Gets[0] is not { } held) continue;
            var holder = MetaJson.Deserialize<StoreRecord>(held);
            if (DeadHolderRemoval(held, holder) is { } removal)
            {
                await store.TxnAsync(removal, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!standby)
            {
                throw new FerryException(
                    ErrorCodes.FenceStoreInUse,
                    $"store {storeId} is held by a live Ferry process ({holder.Address}, started {DateTimeOffset.FromUnixTimeMilliseconds(holder.StartedAt):u})",
                    new ErrorContext(StoreId: storeId, Operation: "register"));
            }

            if (!announced)
            {
                waiting?.Invoke(holder);
                announced = true;
            }

            await Task.Delay(leaseTtl / 10, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gives back a lease whose registration failed; if that fails too, the failure is kept as suppressed by the
    /// registration's own error (or reported, when that error is a cancellation).
    /// </summary>
    private static Task RevokeQuietlyAsync(FencedWriter store, long leaseId, Exception registering, ErrorReporter reporter) =>
        store.RevokeOnTheWayOutAsync(leaseId, "revoke the lease of a failed registration", revoking =>
        {
            if (registering is FerryException first) first.AddSuppressed(revoking);
            else reporter.Report(revoking);
        });

    /// <summary>
    /// The transaction that removes <paramref name="held"/>, a store's record, when its holder was a process of this
    /// host that no longer exists (killed without a goodbye: its lease would expire by itself, but a restart need not
    /// wait for it); null when the holder may be alive.
    /// </summary>
    internal static TxnRequest? DeadHolderRemoval(KeyValue held, StoreRecord holder) =>
        IsDeadLocalProcess(holder.Address) ? new TxnRequest([Compare.ModRevisionIs(held.Key, held.ModRevision)], [TxnOp.Delete(held.Key)]) : null;

    /// <summary>True when <paramref name="address"/> is "host:pid" of this host and no such process runs.</summary>
    internal static bool IsDeadLocalProcess(string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || address[..colon] != Environment.MachineName) return false;
        if (!int.TryParse(address[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)) return false;
        if (pid == Environment.ProcessId) return false;
        // /proc is the cheapest honest answer on Linux; elsewhere assume alive and let the lease expire.
        return Directory.Exists("/proc/self") && !Directory.Exists($"/proc/{pid}");
    }

    private async Task KeepAliveAsync()
    {
        var period = _ttl / 3;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, _time, _stop.Token).ConfigureAwait(false);
                var sentAt = _time.GetTimestamp();
                await _store.KeepAliveOnceAsync(_leaseId, _stop.Token).ConfigureAwait(false);
                Volatile.Write(ref _renewedAt, sentAt);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (FerryException e) when (e.Class == ErrorClass.SessionLost)
            {
                _reporter.Report(e);
                await _lost.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (FerryException e)
            {
                // A missed renewal is not yet a lost lease: report it and try again within the TTL.
                _reporter.Report(e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _keepAlive.ConfigureAwait(false);
        try
        {
            // If this fails, the store shows OFFLINE a little later, when the lease expires.
            await _store.RevokeOnTheWayOutAsync(_leaseId, "revoke the store's lease", e => _reporter.Report(e)).ConfigureAwait(false);
        }
        finally
        {
            _stop.Dispose();
            _lost.Dispose();
        }
    }
}
