using Ferry.Storage;
using Ferry.Streams;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Streams;

/// <summary>A backlog ships as bounded segments, and the chain of them restores exactly.</summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamSegmentSizeTests : IDisposable
{
    private readonly TempDirectory _dir = new("stream-segments");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Stream_BacklogLargerThanTheSegmentBound_ShipsSeveralSegmentsThatRestoreExactly()
    {
        var db = _dir.File("app.db");
        var root = _dir.File("storage");
        Directory.CreateDirectory(root);
        await using var storage = new FileStorage(root);
        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(5);
        var progress = new ShippedRecorder();
        var settings = new DatabaseStreamSettings
        {
            Storage = storage,
            StoreId = 1,
            FlushInterval = TimeSpan.FromSeconds(2),
            MaxSegmentBytes = 64 * 1024,
            // Reads of at most 16 frames: the backlog reaches the ship stage in many pieces, as after downtime.
            Capture = new Ferry.Capture.DatabaseCaptureOptions { MaxFramesPerRead = 16 },
            Task = "test",
        };
        await using (var stream = RunningStream.Start(settings, db, null, progress))
        {
            await progress.WaitDurableAsync(stream);
            await writer.TransactionsAsync(60, 3000); // about 60 pages within one flush interval
            await progress.WaitDurableAsync(stream);
            await stream.StopAsync();
        }

        var segments = Directory.EnumerateFiles(root, "*.seg", SearchOption.AllDirectories).ToList();
        Directory.CreateDirectory(_dir.File("out"));
        var restored = await StreamFixture.RestoreContentAsync(storage, db, null, _dir.File("out"));

        Assert.True(segments.Count >= 3, $"expected the backlog in several segments, found {segments.Count}");
        Assert.Equal(await writer.SqlAsync(StreamFixture.ContentQuery), restored);
    }
}
