using System.Diagnostics;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Streams;

/// <summary>DESIGN §8: Ferry checkpoints once the WAL has grown past its bound, also while the application never stops writing.</summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new("stream-ckpt");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ContinuousWrites_FerrysCheckpointCycleStillResetsTheWal()
    {
        var db = _dir.File("app.db");
        var root = _dir.File("storage");
        Directory.CreateDirectory(root);
        var storage = new FileStorage(root);
        using var writer = await PythonWriter.StartAsync(db);
        var progress = new ShippedRecorder();
        await using var stream = RunningStream.Start(StreamFixture.Settings(storage), db, null, progress);
        await progress.WaitDurableAsync(stream);
        var first = StreamPosition.TryParse(progress.Last!.Position)!;

        // One small commit after another, with no pause as long as a flush interval, for at most 8 s.
        var watch = Stopwatch.StartNew();
        var commits = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(8))
        {
            await writer.TransactionsAsync(1, 100);
            commits++;
            var now = StreamPosition.TryParse(progress.Last!.Position)!;
            if (now.Generation == first.Generation && (now.Cursor.Salt1, now.Cursor.Salt2) != (first.Cursor.Salt1, first.Cursor.Salt2)) break;
        }

        var last = StreamPosition.TryParse(progress.Last!.Position)!;
        Assert.Equal(first.Generation, last.Generation);
        Assert.True(
            (last.Cursor.Salt1, last.Cursor.Salt2) != (first.Cursor.Salt1, first.Cursor.Salt2),
            $"after {commits} commits in {watch.Elapsed.TotalSeconds:0.0} s the WAL was never reset (threshold 50 frames; cursor at frame {last.Cursor.FrameIndex}, WAL file {new FileInfo(db + "-wal").Length} bytes)");
        await stream.StopAsync();
    }
}
