using System.Runtime.InteropServices;
using Ferry.Agent;
using Ferry.Capture;
using Ferry.Cli.Wiring;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Streams;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry replicate DB --to URL --exec "APP ARGS"</c>: Ferry as a container's main process, the application its child.
/// <list type="number">
/// <item>The application starts (or the command fails with <c>FERRY:Exec:StartFailed</c>, exit 1). From then on
/// every SIGINT and SIGTERM goes to it; Ferry itself never stops on one.</item>
/// <item>Ferry waits until each database named exists in WAL mode (on a first boot the application creates it), then
/// replicates as <c>ferry replicate</c> does.</item>
/// <item>When the application exits, Ferry waits (up to <see cref="DrainTimeout"/>) until everything it committed is
/// durable in storage, stops (shipping what it captured) and exits with the application's exit code.</item>
/// <item>When Ferry fails for good while the application runs, the application keeps running: Ferry says so on
/// stderr, in a line that names the error, keeps forwarding signals, and when the application exits, exits with its
/// code or, if that is 0, with Ferry's own error code, so a supervisor sees that the backup had stopped.</item>
/// </list>
/// </summary>
internal sealed class ReplicateExec
{
    /// <summary>How long the application's last commits may take to become durable after it exited.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan DatabasePollInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _commandLine;
    private readonly TextWriter _output;
    private ChildProcess? _child;
    private volatile bool _interrupted;

    public ReplicateExec(string commandLine, TextWriter output)
    {
        _commandLine = commandLine;
        _output = output;
        // Malformed quoting is a usage error before anything starts.
        _ = ChildProcess.Split(commandLine);
    }

    /// <summary>
    /// What Ferry's signal registrations call: true when the application took the signal; false before it runs and
    /// after it exited, and then Ferry stops as a plain <c>replicate</c> would (a signal while Ferry ships the last
    /// commits stops waiting for them).
    /// </summary>
    public bool Forward(PosixSignal signal)
    {
        if (Volatile.Read(ref _child) is not { } child)
        {
            _interrupted = true;
            return false;
        }

        if (child.Exited.IsCompleted) return false;

        child.Signal(signal);
        return true;
    }

    /// <summary>Starts the application and replicates <paramref name="databases"/> while it runs; returns the exit code.</summary>
    public async Task<int> RunAsync(Microsoft.Extensions.Hosting.IHost host, IMetaStore meta, string task, long storeId, IReadOnlyList<string> databases, Shutdown shutdown)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(shutdown);
        if (_interrupted) return Interrupted();
        using var child = ChildProcess.Start(_commandLine);
        Volatile.Write(ref _child, child);
        await _output.WriteLineAsync($"running {_commandLine} (pid {child.Id}); SIGINT and SIGTERM go to it, and replication stops after it exits");

        Task<int>? run = null;
        try
        {
            if (!await WaitForDatabasesAsync(databases, child).ConfigureAwait(false))
            {
                var code = await child.Exited.ConfigureAwait(false);
                await _output.WriteLineAsync($"the application exited with code {code} before its databases were ready; nothing was replicated");
                return code;
            }

            // Resolved before the run: running the host disposes its services.
            var agent = host.Agent();
            run = host.RunAsync(shutdown.Token);
            await Task.WhenAny(child.Exited, run).ConfigureAwait(false);
            if (run.IsCompleted)
            {
                // Ferry ended first, with the application still running: it keeps running, unprotected, and is told nothing.
                var ferryCode = await ExitCodeOfAsync(run).ConfigureAwait(false);
                await Console.Error.WriteLineAsync($"ferry: REPLICATION STOPPED (exit {ferryCode}) while the application runs: its new commits are not backed up. "
                    + "The application keeps running; Ferry waits for it to exit.");
                var appCode = await child.Exited.ConfigureAwait(false);
                await _output.WriteLineAsync($"the application exited with code {appCode}");
                return appCode != 0 ? appCode : ferryCode;
            }

            var exitCode = await child.Exited.ConfigureAwait(false);
            await _output.WriteLineAsync($"the application exited with code {exitCode}; shipping what it committed");
            var drained = await DrainAsync(meta, task, storeId, databases, run).ConfigureAwait(false);
            shutdown.Stop();
            var stopped = await ExitCodeOfAsync(run).ConfigureAwait(false);
            await _output.WriteLineAsync($"stopped: {agent.BytesShipped} bytes shipped this run");
            return exitCode != 0 ? exitCode : drained != ExitCodes.Ok ? drained : stopped;
        }
        catch (FerryException e) when (run is null)
        {
            // Ferry could not start replicating: the application runs on regardless, as it would after a later failure.
            await Console.Error.WriteLineAsync($"ferry: {e.ToOneLine()}");
            await Console.Error.WriteLineAsync("ferry: REPLICATION NOT STARTED: the application runs without backup; Ferry waits for it to exit.");
            var appCode = await child.Exited.ConfigureAwait(false);
            return appCode != 0 ? appCode : ExitCodes.For(e);
        }
    }

    /// <summary>True once every database exists in WAL mode; false when the application exited first.</summary>
    private async Task<bool> WaitForDatabasesAsync(IReadOnlyList<string> databases, ChildProcess child)
    {
        string? said = null;
        foreach (var database in databases)
        {
            while (true)
            {
                // Taken before the look: an application that made its database and committed just before it exited
                // (within one poll) still has those commits shipped; only one that exited without it gives up.
                var exited = child.Exited.IsCompleted;
                try
                {
                    DatabasePreflight.EnsureReplicable(database);
                    break;
                }
                catch (FerryException e) when (e.Code == ErrorCodes.DatabaseNotFound || e.Code == ErrorCodes.DatabaseNotWalMode || e.Code == ErrorCodes.DatabaseCorrupt)
                {
                    if (exited) return false;

                    // Being created: missing, empty, a header half written, or not switched to WAL yet.
                    if (said != e.Message)
                    {
                        said = e.Message;
                        await _output.WriteLineAsync($"waiting for the application: {e.Message}");
                    }
                }

                await Task.WhenAny(child.Exited, Task.Delay(DatabasePollInterval)).ConfigureAwait(false);
            }
        }

        return true;
    }

    /// <summary>
    /// Waits until what the application committed is durable in storage, as <c>ferry wait</c> does; a timeout, or Ferry
    /// ending meanwhile, is said on stderr and returned as an exit code (0 when everything is durable).
    /// </summary>
    private async Task<int> DrainAsync(IMetaStore meta, string task, long storeId, IReadOnlyList<string> databases, Task<int> run)
    {
        using var stop = new CancellationTokenSource();
        var all = Task.WhenAll(databases.Select(d => DurableWait.WaitAsync(meta, new MetaKeys(), d, DrainTimeout, task, storeId, TimeProvider.System, stop.Token)));
        if (await Task.WhenAny(all, run).ConfigureAwait(false) != all)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Console.Error.WriteLineAsync("ferry: replication stopped before the application's last commits were durable");
            try
            {
                await all.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Cancelled just above: replication ended, which ExitCodeOfAsync reports.
            }
            catch (FerryException e)
            {
                await Console.Error.WriteLineAsync($"ferry: {e.ToOneLine()}");
            }

            return ExitCodes.Failure;
        }

        try
        {
            await all.ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (FerryException e)
        {
            await Console.Error.WriteLineAsync($"ferry: {e.ToOneLine()}");
            return ExitCodes.For(e);
        }
    }

    /// <summary>The run's exit code; an error it ended with is printed as the one line every command prints.</summary>
    private static async Task<int> ExitCodeOfAsync(Task<int> run)
    {
        try
        {
            return await run.ConfigureAwait(false);
        }
        catch (FerryException e)
        {
            await Console.Error.WriteLineAsync($"ferry: {e.ToOneLine()}");
            return ExitCodes.For(e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var bug = new FerryException(ErrorCodes.Internal, $"unexpected {e.GetType().Name}: {e.Message}", innerException: e);
            await Console.Error.WriteLineAsync($"ferry: {bug.ToOneLine()}");
            return ExitCodes.Internal;
        }
    }

    private static int Interrupted()
    {
        Console.Error.WriteLine("ferry: interrupted");
        return ExitCodes.Interrupted;
    }
}
