using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.IntegrationTests.Streams;

/// <summary>
/// DESIGN §5 on a running stream: its writes go through the session's guard (a real fence and registration on the
/// embedded metadata store). Fenced out while it holds transactions it captured, it stops at once and uploads
/// nothing more; what it held is not lost, the successor reads it again from the last position shipped. A stop that
/// is not a fence still ships what was captured.
/// </summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamGuardTests : IAsyncLifetime
{
    private const long StoreId = 1;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new("stream-guard");
    private readonly MetaKeys _keys = new();
    private readonly FerryMetrics _metrics = new();
    private readonly string _db;
    private readonly string _root;
    private readonly FileStorage _storage;
    private IMetaStore _meta = null!;

    public StreamGuardTests()
    {
        _db = _dir.File("app.db");
        _root = _dir.File("storage");
        Directory.CreateDirectory(_root);
        _storage = new FileStorage(_root);
    }

    public async Task InitializeAsync() => _meta = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"));

    public async Task DisposeAsync()
    {
        await _meta.DisposeAsync();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private ErrorReporter Reporter => new(NullLogger<ErrorReporter>.Instance, _metrics);

    /// <summary>A process's hold on the store: its fence, its registration and the guard of that session.</summary>
    private sealed record Session(FencedWriter Fenced, StoreRegistration Registration, WriteGuard Guard) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Guard.Dispose();
            await Registration.DisposeAsync();
        }
    }

    private async Task<Session> TakeTheStoreAsync(string address, Takeover takeover = Takeover.Default)
    {
        var fenced = await Fence.AcquireAsync(_meta, _keys, StoreId, 1, new FenceOptions { Address = address, Takeover = takeover });
        var registration = await StoreRegistration.RegisterAsync(
            fenced, new StoreRecord(address, "test", 1, fenced.Token.Epoch, 0), Reporter, TimeProvider.System, standby: true);
        return new Session(fenced, registration, new WriteGuard(fenced, registration, Reporter, TimeProvider.System));
    }

    /// <summary>By default flushes only on the way out, so what is captured stays unshipped until the stream stops.</summary>
    private DatabaseStreamSettings Settings(Session session, TimeSpan? flushInterval = null) => new()
    {
        Storage = _storage,
        StoreId = StoreId,
        Fence = session.Fenced.Token,
        Guard = session.Guard,
        FlushInterval = flushInterval ?? TimeSpan.FromMinutes(5),
        StopTimeout = TimeSpan.FromSeconds(30),
        Task = "test",
    };

    /// <summary>Commits a few transactions and waits until capture has read past them (they are held, not shipped).</summary>
    private static async Task CommitAndCaptureAsync(PythonWriter writer, ShippedRecorder progress)
    {
        await writer.TransactionsAsync(10);
        var committed = DateTimeOffset.UtcNow;
        using var deadline = new CancellationTokenSource(Deadline);
        while (progress.LastProgress <= committed) await Task.Delay(10, deadline.Token);
    }

    private IReadOnlyList<string> Objects() =>
        [.. Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_root, f)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task FencedOutHoldingCapturedTransactions_StopsAtOnceUploadsNothing_TheSuccessorShipsThemFromTheLastPosition()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(5);
        var first = await TakeTheStoreAsync("first:1");
        var progress = new ShippedRecorder();
        string? position;
        await using (first)
        {
            await using var stream = RunningStream.Start(Settings(first), _db, null, progress);
            await progress.WaitForAsync(_ => true, stream, "the new generation's snapshot");
            await CommitAndCaptureAsync(writer, progress);
            var before = Objects();

            // A successor takes the store at once; the first learns of it on its next metadata write.
            await Fence.AcquireAsync(_meta, _keys, StoreId, 1, new FenceOptions { Address = "second:2", Takeover = Takeover.Now });
            await Assert.ThrowsAsync<FerryException>(() => first.Fenced.PutAsync(_keys.Checkpoint("test", StoreId), "{}"u8.ToArray()));
            var error = await Assert.ThrowsAsync<FerryException>(() => stream.Task.WaitAsync(Deadline));

            Assert.Equal(ErrorCodes.FenceEpoch, error.Code);
            Assert.Equal(before, Objects());
            Assert.Empty(StreamFixture.TempFiles(_root));
            Assert.Empty(StreamFixture.OpenFiles(_db, _root));
            position = progress.Last!.Position;
        }

        // The successor (its registration waited for the first's) continues from where the first last shipped.
        await using var second = await TakeTheStoreAsync("second:2");
        var next = new ShippedRecorder();
        await using (var stream = RunningStream.StartFromSaved(Settings(second, TimeSpan.FromMilliseconds(100)), _db, position, next))
        {
            await next.WaitDurableAsync(stream);
            await stream.StopAsync();
        }

        var source = await writer.SqlAsync(StreamFixture.ContentQuery);
        var restored = await StreamFixture.RestoreContentAsync(_storage, _db, null, _dir.Path);
        Assert.True(source == restored, StreamFixture.Diff(source, restored));
    }

    [Fact]
    public async Task StoppedWhileTheStoreIsStillOurs_ShipsWhatWasCaptured()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(5);
        await using var session = await TakeTheStoreAsync("only:1");
        var progress = new ShippedRecorder();
        await using var stream = RunningStream.Start(Settings(session), _db, null, progress);
        await progress.WaitForAsync(_ => true, stream, "the new generation's snapshot");
        await CommitAndCaptureAsync(writer, progress);
        var before = Objects();

        await stream.StopAsync(Deadline);

        Assert.Single(Objects().Except(before), o => o.EndsWith(".seg", StringComparison.Ordinal));
        var source = await writer.SqlAsync(StreamFixture.ContentQuery);
        var restored = await StreamFixture.RestoreContentAsync(_storage, _db, null, _dir.Path);
        Assert.True(source == restored, StreamFixture.Diff(source, restored));
    }
}
