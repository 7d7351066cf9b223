using System.Runtime.InteropServices;

namespace Ferry.Cli.Wiring;

/// <summary>
/// Turns SIGINT and SIGTERM into a cancellation, so long-running commands ship what they have and exit 0 instead
/// of being killed mid-upload. A second signal is left to the runtime's default (terminate).
/// Built with a forwarder (<c>replicate --exec</c>), every SIGINT and SIGTERM the forwarder takes (it returns true:
/// it passed the signal to the application) cancels nothing: Ferry stops when the application has exited, so it can
/// ship the application's last commits.
/// </summary>
internal sealed class Shutdown : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Func<PosixSignal, bool>? _forward;
    private readonly PosixSignalRegistration[] _registrations;

    public Shutdown(CancellationToken linked, Func<PosixSignal, bool>? forward = null)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _forward = forward;
        _registrations = [Register(PosixSignal.SIGINT), Register(PosixSignal.SIGTERM)];
    }

    public CancellationToken Token => _stop.Token;

    /// <summary>Stops what the token guards, as a first signal would without a forwarder.</summary>
    public void Stop() => _stop.Cancel();

    private PosixSignalRegistration Register(PosixSignal signal) => PosixSignalRegistration.Create(signal, context =>
    {
        // Every one, the second too: the application decides how to take a repeated signal.
        if (_forward?.Invoke(context.Signal) == true)
        {
            context.Cancel = true;
            return;
        }

        if (_stop.IsCancellationRequested) return;
        context.Cancel = true;
        _stop.Cancel();
    });

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}
