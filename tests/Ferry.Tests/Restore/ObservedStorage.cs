using System.Collections.Concurrent;
using Ferry.Storage;

namespace Ferry.Tests.Restore;

/// <summary>
/// A real storage watched from outside, for unit tests of how a restore reads: counts the reads in flight (from the
/// call to open until the stream is disposed, or the open fails), the most at once, and every stream opened and
/// closed; and runs the test's <see cref="BeforeOpen"/> hook, with the open's token, before each open (to delete an
/// object, cancel, or hold a read until a condition holds). Writes, listings and deletes pass straight through.
/// </summary>
internal sealed class ObservedStorage(IObjectStorage inner) : IObjectStorage
{
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> _peakWaiters = [];
    private int _inFlight;
    private int _peak;
    private int _opened;
    private int _closed;

    public IObjectStorage Inner => inner;

    /// <summary>Runs before each open, counted as in flight already; an exception from it fails that open.</summary>
    public Func<string, CancellationToken, Task>? BeforeOpen { get; set; }

    /// <summary>Every name asked for, in the order the opens began.</summary>
    public ConcurrentQueue<string> Opens { get; } = new();

    public int InFlight => Volatile.Read(ref _inFlight);

    public int Peak
    {
        get
        {
            lock (_lock) return _peak;
        }
    }

    /// <summary>Streams handed out.</summary>
    public int Opened => Volatile.Read(ref _opened);

    /// <summary>Streams handed out and disposed since.</summary>
    public int Closed => Volatile.Read(ref _closed);

    public string Description => inner.Description;

    /// <summary>Completes once <paramref name="count"/> reads have been in flight at once.</summary>
    public Task WhenPeakAsync(int count)
    {
        lock (_lock)
        {
            if (_peak >= count) return Task.CompletedTask;
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _peakWaiters.Add((count, reached));
            return reached.Task;
        }
    }

    public async Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        Opens.Enqueue(name);
        Enter();
        Stream? stream = null;
        try
        {
            if (BeforeOpen is { } hook) await hook(name, cancellationToken);
            stream = await inner.TryOpenReadAsync(name, cancellationToken);
            if (stream is null) return null;
            Interlocked.Increment(ref _opened);
            return new ObservedStream(stream, this);
        }
        finally
        {
            if (stream is null) Leave();
        }
    }

    public Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default) =>
        inner.PutIfAbsentAsync(name, content, cancellationToken);

    public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default) =>
        inner.ListAsync(prefix, cancellationToken);

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => inner.DeleteAsync(name, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private void Enter()
    {
        List<TaskCompletionSource> reached = [];
        lock (_lock)
        {
            _inFlight++;
            _peak = Math.Max(_peak, _inFlight);
            foreach (var waiter in _peakWaiters.Where(w => w.Count <= _peak).ToList())
            {
                _peakWaiters.Remove(waiter);
                reached.Add(waiter.Reached);
            }
        }

        foreach (var r in reached) r.SetResult();
    }

    private void Leave()
    {
        lock (_lock) _inFlight--;
    }

    /// <summary>Passes reads through; its first disposal ends the read in flight.</summary>
    private sealed class ObservedStream(Stream inner, ObservedStorage owner) : Stream
    {
        private int _disposed;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            Closing();
            await base.DisposeAsync();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                Closing();
            }

            base.Dispose(disposing);
        }

        private void Closing()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            Interlocked.Increment(ref owner._closed);
            owner.Leave();
        }
    }
}
