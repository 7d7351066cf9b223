using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>How <see cref="WriteGuard"/> checks the fence when the lease renewal is overdue.</summary>
internal sealed class WriteGuardOptions
{
    /// <summary>How long that check may take before the write goes ahead without it (default 1 s).</summary>
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one check answers for (default 1 s): writes within it rely on it, so an outage of the metadata store
    /// costs a check a second, not one per write.
    /// </summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The storage write guard of one session of an agent (from its registration to its end). Writing stops at once,
/// for good, when this process learns it is fenced out: a metadata write or check refused by the fence
/// (<see cref="FencedWriter.FenceLost"/>), or the agent's watch seeing the fence key change
/// (<see cref="FenceChanged"/>); and when the registration's lease is lost. While the lease is renewed, no write
/// waits for the metadata store; once the renewal is overdue, a write first reads the fence (see
/// <see cref="IWriteGuard.CheckAsync"/>): a process resumed after a stop longer than its lease learns it lost the
/// store before it uploads what it held.
/// </summary>
internal sealed class WriteGuard : IWriteGuard, IDisposable
{
    private readonly FencedWriter _fenced;
    private readonly StoreRegistration _registration;
    private readonly ErrorReporter _reporter;
    private readonly TimeProvider _time;
    private readonly WriteGuardOptions _options;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _aborted = new();
    private readonly SemaphoreSlim _checking = new(1, 1);
    private readonly CancellationTokenRegistration _onLost;
    private readonly CancellationToken _abortedToken;
    private FerryException? _reason;
    private long? _checkedAt;
    private bool _disposed;

    public WriteGuard(FencedWriter fenced, StoreRegistration registration, ErrorReporter reporter, TimeProvider time, WriteGuardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fenced);
        ArgumentNullException.ThrowIfNull(registration);
        ArgumentNullException.ThrowIfNull(reporter);
        ArgumentNullException.ThrowIfNull(time);
        _fenced = fenced;
        _registration = registration;
        _reporter = reporter;
        _time = time;
        _options = options ?? new WriteGuardOptions();
        _abortedToken = _aborted.Token;
        _fenced.FenceLost += Abort;
        _onLost = registration.Lost.Register(() => Abort(SessionLost()));
    }

    public CancellationToken Aborted => _abortedToken;

    /// <summary>Stops writing for good with <paramref name="reason"/> (the first reason stays); aborts every stream.</summary>
    public void Abort(FerryException reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        lock (_lock)
        {
            if (_disposed) return;
            _reason ??= reason;
            // Under the lock, so the source is not disposed meanwhile; the callbacks only cancel the streams' stages.
            _aborted.Cancel();
        }
    }

    /// <summary>
    /// The agent's watch saw the fence key change: unless it still holds our token, writing stops now rather than
    /// when the control loop next reads it.
    /// </summary>
    public void FenceChanged(WatchEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        FenceToken? now = null;
        if (change.Type == WatchEventType.Put)
        {
            try
            {
                now = MetaJson.Deserialize<FenceToken>(change.Kv);
            }
            catch (FerryException e)
            {
                // Not a token at all: reported; the control loop's own read of the fence decides what follows.
                _reporter.Report(e);
                return;
            }
        }

        if (now != _fenced.Token) Abort(Fence.Lost(_fenced.StoreId, _fenced.Token, now));
    }

    public void ThrowIfAborted()
    {
        FerryException? reason;
        lock (_lock) reason = _reason;
        // The lease's loss is read here too: it is set before any callback of it runs, whatever their order.
        if (reason is null && _registration.Lost.IsCancellationRequested) reason = SessionLost();
        if (reason is not null) throw new FerryException(reason.Code, $"storage write refused: {reason.Message}", reason.Context);
    }

    public async Task CheckAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfAborted();
        if (_registration.SinceRenewed <= _registration.Ttl) return;

        // One check at a time; the writes waiting for it rely on its answer.
        await _checking.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfAborted();
            if (_checkedAt is { } at && _time.GetElapsedTime(at) < _options.CheckInterval) return;
            var context = new ErrorContext(StoreId: _fenced.StoreId, Operation: "check the fence before a storage write (the lease renewal is overdue)");
            try
            {
                await Deadline.RunAsync(_options.CheckTimeout, ErrorArea.Meta, context, _fenced.ThrowIfFencedAsync, cancellationToken).ConfigureAwait(false);
            }
            catch (FerryException e) when (e.Class == ErrorClass.Fenced)
            {
                Abort(e);
                ThrowIfAborted();
            }
            catch (FerryException e) when (e.Class != ErrorClass.Cancelled)
            {
                // Out of reach (or unreadable): the write goes ahead, as shipping does through an outage; the
                // segment's writer token keeps it out of a restore should this process be a zombie.
                _reporter.Report(new FerryException(e.Code, $"could not check the fence before a storage write, which goes ahead: {e.Message}", context, e));
            }

            _checkedAt = _time.GetTimestamp();
        }
        finally
        {
            _checking.Release();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }

        _fenced.FenceLost -= Abort;
        _onLost.Dispose();
        _aborted.Dispose();
        _checking.Dispose();
    }

    private FerryException SessionLost() => new(
        ErrorCodes.MetaSessionExpired,
        $"the registration (lease) of store {_fenced.StoreId} was lost: this process stops writing until it holds the store again",
        new ErrorContext(StoreId: _fenced.StoreId, Operation: "guard storage writes"));
}
