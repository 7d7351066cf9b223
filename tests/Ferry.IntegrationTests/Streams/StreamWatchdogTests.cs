using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.IntegrationTests.Streams;

/// <summary>The watchdog against a real stream: slow but moving is progress; only a stuck step is a stall.</summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamWatchdogTests : IDisposable
{
    private readonly TempDirectory _dir = new("stream-watchdog");

    public void Dispose() => _dir.Dispose();

    /// <summary>Real file storage that consumes what it is given slowly, like a slow link to object storage.</summary>
    private sealed class SlowStorage(IObjectStorage inner, TimeSpan perChunk) : IObjectStorage
    {
        public string Description => inner.Description;

        // Passes the content through as it is read, so the upload itself is slow (not a fast write after a slow copy).
        public Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default) =>
            inner.PutIfAbsentAsync(name, new SlowReadStream(content, perChunk), cancellationToken);

        public Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default) => inner.TryOpenReadAsync(name, cancellationToken);

        public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

        public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => inner.DeleteAsync(name, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class SlowReadStream(Stream inner, TimeSpan perChunk) : Stream
    {
        private const int ChunkSize = 64 * 1024;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(perChunk, cancellationToken);
            return await inner.ReadAsync(buffer[..Math.Min(buffer.Length, ChunkSize)], cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Supervisor_SnapshotSlowerThanTheStallTimeoutButMoving_IsNotAStall()
    {
        // Regression: the snapshot reported progress only once uploaded, so a snapshot slower than the stall
        // timeout was cancelled as stalled again and again and never landed.
        var db = _dir.File("big.db");
        Directory.CreateDirectory(_dir.File("storage"));
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(1200, 4000); // about 5 MB: about 80 slow chunks of 64 KiB, 8 s at 100 ms each
        await using var storage = new SlowStorage(new FileStorage(_dir.File("storage")), TimeSpan.FromMilliseconds(100));
        using var metrics = new FerryMetrics();
        var supervisor = new StreamSupervisor(
            "t", db, DatabaseStream.Body(StreamFixture.Settings(storage)),
            new StreamSupervisorOptions { StallTimeout = TimeSpan.FromSeconds(5), RetryBudget = TimeSpan.FromMinutes(1) },
            new ErrorReporter(NullLogger<ErrorReporter>.Instance, metrics), TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        var watch = Stopwatch.StartNew();
        while (supervisor.Report().Position is null)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"the snapshot never landed: {supervisor.Report()}");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        await run;

        Assert.NotEqual(ErrorCodes.TaskStalled, supervisor.Report().LastError?.Code);
        Assert.Equal(0, supervisor.Report().Attempt);
    }
}
