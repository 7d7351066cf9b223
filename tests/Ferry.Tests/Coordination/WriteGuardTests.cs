using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Ferry.TestKit.Logging;
using Ferry.TestKit.Meta;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Coordination;

/// <summary>
/// The storage write guard of an agent's session (DESIGN §5) on a real embedded metadata store, with the session's
/// clock in the test's hands: a successor's fence stops writing at once when this process learns of it (a refused
/// metadata write, the watch, a check), a renewal overdue past the lease makes a write read the fence first, and a
/// metadata store out of reach never stops a write.
/// </summary>
public sealed class WriteGuardTests : IAsyncLifetime
{
    private const long StoreId = 9;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new("guard");
    private readonly MetaKeys _keys = new();
    private readonly FerryMetrics _metrics = new();
    private readonly CapturingLogger<ErrorReporter> _log = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private IMetaStore _raw = null!;
    private Faulty _store = null!;
    private FencedWriter _fenced = null!;
    private StoreRegistration _registration = null!;
    private WriteGuard _guard = null!;

    public async Task InitializeAsync()
    {
        _raw = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"));
        _store = new Faulty(_raw);
        _fenced = await Fence.AcquireAsync(_store, _keys, StoreId, 1, new FenceOptions { Address = "this-host:1" });
        var record = new StoreRecord("this-host:1", "test", 1, _fenced.Token.Epoch, 0);
        _registration = await StoreRegistration.RegisterAsync(_fenced, record, Reporter, _time, Ttl);
        _guard = new WriteGuard(_fenced, _registration, Reporter, _time);
        _store.FenceReads = 0;
    }

    public async Task DisposeAsync()
    {
        _guard.Dispose();
        await _registration.DisposeAsync();
        await _raw.DisposeAsync();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private ErrorReporter Reporter => new(_log, _metrics);

    /// <summary>A successor of the same deploy generation takes the store at once (epoch + 1), on the raw store.</summary>
    private Task<FencedWriter> SuccessorTakesTheStoreAsync() =>
        Fence.AcquireAsync(_raw, _keys, StoreId, 1, new FenceOptions { Takeover = Takeover.Now, Address = "other-host:2" });

    /// <summary>The lease's renewals fail (the metadata store is away, or this process was stopped) past its TTL.</summary>
    private void RenewalsStopPastTheTtl()
    {
        _store.KeepAlivesFail = true;
        _time.Advance(Ttl + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task CheckAsync_LeaseRenewedInTime_WritesWithoutAskingTheMetadataStore()
    {
        await _guard.CheckAsync();
        await _guard.CheckAsync();

        Assert.Equal(0, _store.FenceReads);
        Assert.False(_guard.Aborted.IsCancellationRequested);
    }

    [Fact]
    public async Task CheckAsync_RenewalOverdueAndASuccessorFencedTheStore_RefusedWithTheEpochFenceAndAbortedForGood()
    {
        await SuccessorTakesTheStoreAsync();
        RenewalsStopPastTheTtl();

        var error = await Assert.ThrowsAsync<FerryException>(() => _guard.CheckAsync());

        Assert.Equal(ErrorCodes.FenceEpoch, error.Code);
        Assert.Contains("storage write refused", error.Message, StringComparison.Ordinal);
        Assert.True(_guard.Aborted.IsCancellationRequested);
        Assert.Equal(ErrorCodes.FenceEpoch, Assert.Throws<FerryException>(_guard.ThrowIfAborted).Code);
        Assert.Equal(1, _store.FenceReads);
    }

    [Fact]
    public async Task CheckAsync_RenewalOverdueAndTheMetadataStoreUnreachable_WriteAllowedCheckReportedOncePerInterval()
    {
        RenewalsStopPastTheTtl();
        _store.FenceReadsFail = true;

        await _guard.CheckAsync();
        await _guard.CheckAsync();
        var readsWithinTheInterval = _store.FenceReads;
        _time.Advance(TimeSpan.FromSeconds(2));
        await _guard.CheckAsync();

        Assert.Equal(1, readsWithinTheInterval);
        Assert.Equal(2, _store.FenceReads);
        Assert.False(_guard.Aborted.IsCancellationRequested);
        Assert.Equal(2, _log.Entries.Count(e => e.Message.Contains("FERRY:Meta:Unavailable", StringComparison.Ordinal) && e.Message.Contains("could not check the fence before a storage write, which goes ahead", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task CheckAsync_RenewalOverdueAndTheFenceStillOurs_Allowed()
    {
        RenewalsStopPastTheTtl();

        await _guard.CheckAsync();

        Assert.Equal(1, _store.FenceReads);
        Assert.False(_guard.Aborted.IsCancellationRequested);
    }

    [Fact]
    public async Task MetadataWriteRefusedByTheFence_AbortsEveryWriteAtOnce()
    {
        await SuccessorTakesTheStoreAsync();

        var refused = await Assert.ThrowsAsync<FerryException>(() => _fenced.PutAsync(_keys.Checkpoint("t", StoreId), "{}"u8.ToArray()));

        Assert.Equal(ErrorCodes.FenceEpoch, refused.Code);
        Assert.True(_guard.Aborted.IsCancellationRequested);
        Assert.Equal(ErrorCodes.FenceEpoch, (await Assert.ThrowsAsync<FerryException>(() => _guard.CheckAsync())).Code);
    }

    [Fact]
    public async Task FenceChanged_ANewerGeneration_AbortsWithItsCode_OurOwnTokenDoesNot()
    {
        var fenceKey = _keys.Fence(StoreId);
        var ours = await _raw.GetAsync(fenceKey);
        _guard.FenceChanged(new WatchEvent(WatchEventType.Put, ours!));
        var stillWriting = !_guard.Aborted.IsCancellationRequested;

        await _raw.PutAsync(fenceKey, MetaJson.Serialize(new FenceToken(2, 1)));
        _guard.FenceChanged(new WatchEvent(WatchEventType.Put, (await _raw.GetAsync(fenceKey))!));

        Assert.True(stillWriting);
        Assert.True(_guard.Aborted.IsCancellationRequested);
        Assert.Equal(ErrorCodes.FenceDeployGeneration, (await Assert.ThrowsAsync<FerryException>(() => _guard.CheckAsync())).Code);
    }

    [Fact]
    public async Task RegistrationLost_AbortsWithSessionLost()
    {
        var lease = (await _raw.GetAsync(_keys.Store(StoreId)))!.LeaseId;
        await _raw.RevokeLeaseAsync(lease);

        // The next renewal finds the lease gone.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!_guard.Aborted.IsCancellationRequested)
        {
            _time.Advance(Ttl / 3);
            await Task.Delay(20, deadline.Token);
        }

        var error = await Assert.ThrowsAsync<FerryException>(() => _guard.CheckAsync());
        Assert.Equal(ErrorCodes.MetaSessionExpired, error.Code);
        Assert.Equal(ErrorClass.SessionLost, error.Class);
    }

    /// <summary>The real store, with renewals and reads of the fence that can be made to fail as in an outage; counts those reads.</summary>
    private sealed class Faulty(IMetaStore inner) : DelegatingMetaStore(inner)
    {
        private int _fenceReads;

        public bool KeepAlivesFail { get; set; }

        public bool FenceReadsFail { get; set; }

        public int FenceReads
        {
            get => Volatile.Read(ref _fenceReads);
            set => Volatile.Write(ref _fenceReads, value);
        }

        public override Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) =>
            KeepAlivesFail ? throw Unreachable("keepalive") : base.KeepAliveOnceAsync(leaseId, cancellationToken);

        public override Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default)
        {
            if (!key.Contains("/fence/", StringComparison.Ordinal)) return base.GetAsync(key, cancellationToken);
            Interlocked.Increment(ref _fenceReads);
            return FenceReadsFail ? throw Unreachable($"get {key}") : base.GetAsync(key, cancellationToken);
        }

        private static FerryException Unreachable(string operation) =>
            new(ErrorCodes.MetaUnavailable, "etcd is unreachable (connection refused)", new ErrorContext(Operation: operation));
    }
}
