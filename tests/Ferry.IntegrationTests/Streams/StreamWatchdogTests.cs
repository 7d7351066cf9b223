using System.Diagnostics;
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

        public async Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default)
        {
            using var copy = new MemoryStream();
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                copy.Write(buffer, 0, read);
                await Task.Delay(perChunk, cancellationToken);
            }

            copy.Position = 0;
            return await inner.PutIfAbsentAsync(name, copy, cancellationToken);
        }

        public Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default) => inner.TryOpenReadAsync(name, cancellationToken);

        public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

        public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) => inner.DeleteAsync(name, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    [Fact]
    public async Task Supervisor_SnapshotSlowerThanTheStallTimeoutButMoving_IsNotAStall()
    {
        // Regression: the snapshot reported progress only once uploaded, so a snapshot slower than the stall
        // timeout was cancelled as stalled again and again and never landed.
        var db = _dir.File("big.db");
        Directory.CreateDirectory(_dir.File("storage"));
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(1200, 4000); // about 5 MB: about 80 slow chunks of 64 KiB, 4 s at 50 ms each
        await using var storage = new SlowStorage(new FileStorage(_dir.File("storage")), TimeSpan.FromMilliseconds(50));
        using var metrics = new FerryMetrics();
        var supervisor = new StreamSupervisor(
            "t", db, DatabaseStream.Body(StreamFixture.Settings(storage)),
            new StreamSupervisorOptions { StallTimeout = TimeSpan.FromSeconds(2), RetryBudget = TimeSpan.FromMinutes(1) },
            new ErrorReporter(NullLogger<ErrorReporter>.Instance, metrics), TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var run = supervisor.RunAsync(stop.Token);
        var watch = Stopwatch.StartNew();
        while (supervisor.Report().Position is null)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"the snapshot never landed: {supervisor.Report()}");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        await run;

        Assert.NotEqual(ErrorCodes.TaskStalled, supervisor.Report().LastError?.Code);
        Assert.Equal(0, supervisor.Report().Attempt);
    }
}
