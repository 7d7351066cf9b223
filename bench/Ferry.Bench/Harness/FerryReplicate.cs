using System.Diagnostics;
using System.Text;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit.Cli;

namespace Ferry.Bench.Harness;

/// <summary>
/// A real <c>ferry replicate DB --to DIR --flush-interval …</c> process (ferry.dll next to this program, copied by
/// the project reference to Ferry.Cli), with its own FERRY_HOME, and an in-process reader of the checkpoint it
/// publishes in the embedded metadata store ($FERRY_HOME/meta.db), read the way <c>ferry task status</c> reads it.
/// </summary>
public sealed class FerryReplicate : IAsyncDisposable
{
    public const string TaskName = "bench";

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Task _drainOut;
    private readonly Task _drainErr;
    private IMetaStore? _meta;
    private TaskControl? _control;

    private FerryReplicate(Process process, string home)
    {
        _process = process;
        Home = home;
        _drainOut = DrainAsync(process.StandardOutput);
        _drainErr = DrainAsync(process.StandardError);
    }

    public string Home { get; }

    /// <summary>The ferry process's peak resident set so far (VmHWM), in bytes.</summary>
    public long PeakRssBytes => ProcessMemory.PeakRssBytes(_process.Id);

    /// <summary>CPU time the ferry process has used so far (user + system).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Everything the process printed so far (stdout and stderr interleaved by line).</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    public static FerryReplicate Start(string database, string replicaDirectory, string home, TimeSpan flushInterval)
    {
        Directory.CreateDirectory(replicaDirectory);
        Directory.CreateDirectory(home);
        var interval = $"{(int)flushInterval.TotalMilliseconds}ms";
        var process = FerryCli.Start(["replicate", database, "--to", replicaDirectory, "--flush-interval", interval, "--task", TaskName], home);
        return new FerryReplicate(process, home);
    }

    /// <summary>The task's published global checkpoint (unix ms), or null while there is none (or no task yet).</summary>
    public async Task<long?> CheckpointAsync(CancellationToken cancellationToken)
    {
        if (_process.HasExited) throw new InvalidOperationException($"ferry replicate exited with {_process.ExitCode}:\n{Output}");
        if (_control is null)
        {
            var path = Path.Combine(Home, "meta.db");
            if (!File.Exists(path)) return null;
            _meta = await SqliteMetaStore.OpenAsync(path, cancellationToken: cancellationToken);
            _control = new TaskControl(_meta, new MetaKeys(), TimeProvider.System);
        }

        try
        {
            var status = await _control.StatusAsync(TaskName, cancellationToken);
            return status[0].GlobalCheckpoint is > 0 and var ts ? ts : null;
        }
        catch (FerryException e) when (e.Code == ErrorCodes.TaskNotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Polls the checkpoint every <paramref name="period"/> until it reaches <paramref name="unixMs"/>; returns the
    /// wall time (unix ms) of the first read that showed it.
    /// </summary>
    public async Task<double> WaitForCheckpointAsync(double unixMs, TimeSpan period, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var checkpoint = await CheckpointAsync(cancellationToken);
            var seen = NowMs();
            if (checkpoint >= unixMs) return seen;
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"the checkpoint ({checkpoint}) did not reach {unixMs:0} within {timeout.TotalSeconds:0} s:\n{Output}");
            }

            await Task.Delay(period, cancellationToken);
        }
    }

    /// <summary>Waits for the first checkpoint after the start (the snapshot of a new generation is durable, or the old one continues).</summary>
    public Task<double> WaitUntilRunningAsync(CancellationToken cancellationToken) =>
        WaitForCheckpointAsync(NowMs(), TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(10), cancellationToken);

    /// <summary>SIGTERM (ferry ships what it captured and exits 0); returns the exit code.</summary>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        if (!_process.HasExited) _process.Kill(Signal.Term);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        await _process.WaitForExitAsync(deadline.Token);
        await Task.WhenAll(_drainOut, _drainErr);
        return _process.ExitCode;
    }

    /// <summary>The wall clock in unix milliseconds (fractional), the unit of the checkpoint and of the writer's commit times.</summary>
    public static double NowMs() => (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        if (_meta is not null) await _meta.DisposeAsync();
        _process.Dispose();
    }

    private async Task DrainAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_output) _output.AppendLine(line);
        }
    }
}
