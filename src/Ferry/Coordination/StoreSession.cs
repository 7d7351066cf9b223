using Ferry.Errors;
using Ferry.Meta;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Coordination;

public sealed record StoreSessionOptions
{
    /// <summary>The store's id (positive).</summary>
    public required long StoreId { get; init; }

    /// <summary>This process's deploy generation (DESIGN §5): a process of a larger one fences this one out.</summary>
    public long Generation { get; init; }

    /// <summary>This process, as "host:pid".</summary>
    public string Address { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>The Ferry version recorded with the registration.</summary>
    public string Version { get; init; } = "0.0.0";

    /// <summary>The registration's lease: how long a dead process keeps the store before another may take it.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How to treat a live holder of the store at start-up.</summary>
    public Takeover Takeover { get; init; }

    /// <summary>How long <see cref="Takeover.WhenReady"/> waits for the holder to hand over before fencing it at once.</summary>
    public TimeSpan HandoverTimeout { get; init; } = TimeSpan.FromMinutes(2);

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Called with the session's state as it changes: fencing, standby, handover, registering, running.</summary>
    public Action<string>? StateChanged { get; init; }
}

/// <summary>
/// One store's life with the metadata store, in one place (DESIGN §4, §5): it takes the store's fence before
/// anything else, registers the store under a lease of its own (waiting as a standby while a live process of the same
/// generation holds it), tells of a handover asked of it, and when the lease is lost (SessionLost) registers again
/// once the fence is known to be still its own. What it hands the work is the <see cref="FencedWriter"/>, the only
/// way runners reach the store.
/// </summary>
internal sealed class StoreSession
{
    private readonly StoreSessionOptions _options;
    private readonly ErrorReporter _reporter;
    private readonly ILogger _logger;

    private StoreSession(FencedWriter writer, StoreSessionOptions options, ErrorReporter reporter, ILogger logger)
    {
        Writer = writer;
        _options = options;
        _reporter = reporter;
        _logger = logger;
    }

    /// <summary>The guarded writer of this process; its token is the fence this session took.</summary>
    public FencedWriter Writer { get; }

    /// <summary>
    /// Takes the fence (an obsolete process fails with <c>FERRY:Fence:DeployGeneration</c> before anything else can
    /// fail; a live holder is waited for or fenced as <see cref="StoreSessionOptions.Takeover"/> says).
    /// </summary>
    public static async Task<StoreSession> OpenAsync(
        IMetaStore meta, MetaKeys keys, StoreSessionOptions options, ErrorReporter reporter, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var log = logger ?? NullLogger.Instance;
        options.StateChanged?.Invoke("fencing");
        var fenceOptions = new FenceOptions
        {
            Takeover = options.Takeover,
            Address = options.Address,
            HandoverTimeout = options.HandoverTimeout,
            LeaseTtl = options.LeaseTtl,
            Time = options.Time,
            Reporter = reporter,
            Waiting = (holder, why) =>
            {
                options.StateChanged?.Invoke(why);
                if (why == "handover") Log.HandoverRequested(log, options.StoreId, holder.Address, holder.Generation);
                else Log.Standby(log, options.StoreId, holder.Address);
            },
            HandoverTimedOut = holder => Log.HandoverTimedOut(log, options.StoreId, holder.Address, options.HandoverTimeout.TotalSeconds),
        };
        var writer = await Fence.AcquireAsync(meta, keys, options.StoreId, options.Generation, fenceOptions, cancellationToken).ConfigureAwait(false);
        Log.FenceTaken(log, options.StoreId, writer.Token.DeployGeneration, writer.Token.Epoch);
        return new StoreSession(writer, options, reporter, log);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on one registration after another until <paramref name="stop"/>, or until the work
    /// returns the successor of a handover it carried out (returned). A registration whose lease was lost ends the
    /// work's token; the fence is checked (a lost one throws the Fenced error) and the store registered again.
    /// </summary>
    public async Task<HandoverRequest?> RunAsync(Func<StoreRegistration, CancellationToken, Task<HandoverRequest?>> work, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(work);
        while (!stop.IsCancellationRequested)
        {
            _options.StateChanged?.Invoke("registering");
            var record = new StoreRecord(_options.Address, _options.Version, _options.Generation, Writer.Token.Epoch, _options.Time.GetUtcNow().ToUnixTimeMilliseconds());
            await using var registration = await StoreRegistration.RegisterAsync(
                Writer, record, _reporter, _options.Time, _options.LeaseTtl, standby: true,
                waiting: holder => Log.Standby(_logger, _options.StoreId, holder.Address),
                cancellationToken: stop).ConfigureAwait(false);
            using var session = CancellationTokenSource.CreateLinkedTokenSource(stop, registration.Lost);
            _options.StateChanged?.Invoke("running");
            HandoverRequest? successor;
            var lost = false;
            try
            {
                successor = await work(registration, session.Token).ConfigureAwait(false);
            }
            catch (FerryException e) when (e.Class == ErrorClass.SessionLost && !stop.IsCancellationRequested)
            {
                // The work met the lost session before the lease loop did: the same bootstrap.
                _reporter.Report(e);
                successor = null;
                lost = true;
            }

            if (successor is not null)
            {
                // Everything captured is shipped and committed; releasing the registration lets the successor fence.
                Log.HandedOver(_logger, _options.StoreId, successor.Address, successor.Generation);
                return successor;
            }

            if (!stop.IsCancellationRequested && (lost || registration.Lost.IsCancellationRequested))
            {
                // SessionLost: the library never recovers by itself; the session bootstraps again, if still ours.
                Log.SessionLost(_logger, _options.StoreId);
                await Writer.ThrowIfFencedAsync(stop).ConfigureAwait(false);
            }
        }

        return null;
    }

    /// <summary>A handover asked of this store by another process of this or a newer deploy generation, if any.</summary>
    public async Task<HandoverRequest?> HandoverRequestedAsync(CancellationToken cancellationToken)
    {
        var kv = await Writer.GetAsync(Writer.Keys.Handover(_options.StoreId), cancellationToken).ConfigureAwait(false);
        if (kv is null) return null;
        var request = MetaJson.Deserialize<HandoverRequest>(kv);
        return request.Generation >= _options.Generation && request.Address != _options.Address ? request : null;
    }
}
