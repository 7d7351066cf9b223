using Ferry.Errors;

namespace Ferry.Tasks;

/// <summary>
/// Catches a stuck step (DESIGN §6): the step calls <see cref="Progress"/> on every non-error transition; when
/// nothing happens for <see cref="StallTimeout"/>, the watchdog cancels the step's token and the step fails with
/// <c>FERRY:Task:Stalled</c> (Transient), which the caller retries like any transient error.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stalled = new();
    private readonly ITimer _timer;
    private long _lastProgressTicks;

    public Watchdog(TimeSpan stallTimeout, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stallTimeout, TimeSpan.Zero);
        StallTimeout = stallTimeout;
        _time = time;
        _lastProgressTicks = time.GetTimestamp();
        // Check several times per timeout so a stall is caught within ~1.25 × the timeout.
        var period = stallTimeout / 4;
        _timer = time.CreateTimer(_ => Check(), null, period, period);
    }

    public TimeSpan StallTimeout { get; }

    /// <summary>Cancelled when the step stalls.</summary>
    public CancellationToken Token => _stalled.Token;

    public bool HasStalled => _stalled.IsCancellationRequested;

    /// <summary>Records a non-error transition.</summary>
    public void Progress() => Interlocked.Exchange(ref _lastProgressTicks, _time.GetTimestamp());

    /// <summary>The error a stalled step fails with.</summary>
    public FerryException StalledError(ErrorContext context, string step) => new(
        ErrorCodes.TaskStalled,
        $"{step} made no progress for {StallTimeout.TotalSeconds:0.#} s and was cancelled",
        context);

    private void Check()
    {
        var idle = _time.GetElapsedTime(Interlocked.Read(ref _lastProgressTicks));
        if (idle >= StallTimeout && !_stalled.IsCancellationRequested) _stalled.Cancel();
    }

    public void Dispose()
    {
        _timer.Dispose();
        _stalled.Dispose();
    }
}
