namespace Ferry.Bench.Harness;

/// <summary>
/// Samples one file's length every few milliseconds on a background task and keeps the largest seen: the peak size
/// of a database's -wal file during a run (SQLite never shrinks it by itself, but a checkpoint TRUNCATE before the
/// run makes its growth this run's own).
/// </summary>
public sealed class FilePeak : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private long _peak;

    private FilePeak(string path, TimeSpan period)
    {
        _sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(period);
            do
            {
                var info = new FileInfo(path);
                if (info.Exists && info.Length > Volatile.Read(ref _peak)) Volatile.Write(ref _peak, info.Length);
            }
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false));
        });
    }

    public long PeakBytes => Volatile.Read(ref _peak);

    public static FilePeak Start(string path, TimeSpan period) => new(path, period);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _sampler;
        }
        catch (OperationCanceledException)
        {
            // The sampler's own stop.
        }

        _stop.Dispose();
    }
}
