using System.Diagnostics;

namespace Ferry.Bench.Harness;

/// <summary>
/// Samples the bytes under a replica directory in the background, to tell when data last arrived in storage,
/// independently of the checkpoint Ferry publishes. Growth below <see cref="ThresholdBytes"/> is not counted as
/// data arriving: with a -wal file that once grew past its checkpoint threshold, Ferry runs a checkpoint cycle about
/// once a flush interval even when the application is idle, and ships each cycle's one-transaction segment (a couple
/// of hundred bytes).
/// </summary>
public sealed class StorageWatch : IAsyncDisposable
{
    public const long ThresholdBytes = 64 * 1024;

    private readonly string _directory;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _level;
    private double _lastGrowthMs;

    private StorageWatch(string directory, TimeSpan period)
    {
        _directory = directory;
        _level = DiskSpeed.DirectoryBytes(directory);
        _lastGrowthMs = FerryReplicate.NowMs();
        _loop = Task.Run(() => LoopAsync(period));
    }

    /// <summary>Starts sampling <paramref name="directory"/> every <paramref name="period"/>.</summary>
    public static StorageWatch Start(string directory, TimeSpan period) => new(directory, period);

    /// <summary>The wall time (unix ms) of the last sample that showed growth of <see cref="ThresholdBytes"/> or more.</summary>
    public double LastGrowthMs => Volatile.Read(ref _lastGrowthMs);

    /// <summary>Waits until no data has arrived for <paramref name="quiet"/>; returns the wall time (unix ms) data last arrived.</summary>
    public async Task<double> WaitQuietAsync(TimeSpan quiet, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (FerryReplicate.NowMs() - LastGrowthMs < quiet.TotalMilliseconds)
        {
            if (_loop.IsFaulted) await _loop;
            if (deadline.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException($"storage under {_directory} kept growing for 30 min");
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }

        return LastGrowthMs;
    }

    private async Task LoopAsync(TimeSpan period)
    {
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var bytes = DiskSpeed.DirectoryBytes(_directory);
                if (bytes - _level < ThresholdBytes) continue;
                _level = bytes;
                Volatile.Write(ref _lastGrowthMs, FerryReplicate.NowMs());
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
