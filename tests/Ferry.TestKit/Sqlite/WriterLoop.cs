namespace Ferry.TestKit.Sqlite;

/// <summary>
/// Keeps a <see cref="PythonWriter"/> committing small transactions, one command after the other, until stopped: an
/// application that goes on writing through whatever the test does to Ferry and its peers. The writer is the
/// loop's alone while it runs. <see cref="StopAsync"/> ends the loop and rethrows what broke it, if anything.
/// </summary>
public sealed class WriterLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly Task _loop;
    private long _transactions;
    private (long StartedAt, long AckedAt) _lastCommand;

    private WriterLoop(PythonWriter writer, int perCommand)
    {
        _loop = Task.Run(() => RunAsync(writer, perCommand), CancellationToken.None);
    }

    /// <summary>Transactions committed (acknowledged by the writer) so far.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>
    /// The last acknowledged command (unix ms): each of its transactions committed after <c>StartedAt</c> and by
    /// <c>AckedAt</c>. Zeros before the first.
    /// </summary>
    public (long StartedAt, long AckedAt) LastCommand
    {
        get
        {
            lock (_lock) return _lastCommand;
        }
    }

    /// <summary>Starts committing <paramref name="perCommand"/> one-row transactions per writer command, back to back.</summary>
    public static WriterLoop Start(PythonWriter writer, int perCommand = 3)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentOutOfRangeException.ThrowIfLessThan(perCommand, 1);
        return new WriterLoop(writer, perCommand);
    }

    /// <summary>Stops after the command in flight; returns the transactions committed. Throws what stopped the loop early.</summary>
    public async Task<long> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        return Transactions;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _stop.Dispose();
        }
    }

    private async Task RunAsync(PythonWriter writer, int perCommand)
    {
        while (!_stop.IsCancellationRequested)
        {
            // Not cancelled mid-command: a half-read reply would desynchronise the writer for whoever uses it next.
            var startedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await writer.TransactionsAsync(perCommand).ConfigureAwait(false);
            Interlocked.Add(ref _transactions, perCommand);
            var ackedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            lock (_lock) _lastCommand = (startedAt, ackedAt);
            await Task.Delay(TimeSpan.FromMilliseconds(20)).ConfigureAwait(false);
        }
    }
}
