using System.Diagnostics;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Streams;

/// <summary>
/// DESIGN §7: a failure injected at each stage of a running stream fails it with exactly that error, and the
/// failed stream leaks nothing: no descriptor on the database, its WAL or the storage, no temp object, no read
/// transaction pinning the WAL; and a new stream continues from the last shipped position.
/// </summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamFailureTests : IDisposable
{
    private readonly TempDirectory _dir = new("stream-fail");
    private readonly string _db;
    private readonly string _root;
    private readonly FileStorage _storage;

    public StreamFailureTests()
    {
        _db = _dir.File("app.db");
        _root = _dir.File("storage");
        Directory.CreateDirectory(_root);
        _storage = new FileStorage(_root);
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("capture.read", "FERRY:Database:Io")]
    [InlineData("capture.snapshot", "FERRY:Database:Io")]
    [InlineData("storage.put", "FERRY:Storage:Unavailable")]
    [InlineData("stream.commit", "FERRY:Storage:Unavailable")]
    public async Task FailureAtEachStage_FailsWithThatError_AndLeaksNothing(string failpoint, string code)
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(10, 200);

        // A snapshot is taken only for a new generation: a short snapshot interval makes the stream take one soon.
        var settings = StreamFixture.Settings(_storage, failpoint == "capture.snapshot" ? TimeSpan.FromMilliseconds(500) : null);
        var progress = new ShippedRecorder();
        FerryException error;
        await using (var stream = RunningStream.Start(settings, _db, null, progress))
        {
            await writer.TransactionsAsync(3);
            await progress.WaitDurableAsync(stream);
            Assert.NotEmpty(StreamFixture.OpenFiles(_db, _root)); // the leak check sees a running stream's handles

            using (Failpoints.Arm(failpoint, $"error({code})"))
            {
                await writer.InsertAsync(5, 300); // gives the ship stage a segment to put
                error = await Assert.ThrowsAsync<FerryException>(() => stream.Task.WaitAsync(TimeSpan.FromSeconds(10)));
            }
        }

        Assert.Equal(code, error.Code.Code);
        Assert.Equal($"failpoint:{failpoint}", error.Context.Operation);
        Assert.Empty(error.Suppressed); // closing the failed stages went cleanly
        await AssertNothingLeakedAsync(writer);
        await AssertRestartShipsAsync(writer, settings, progress);
    }

    [Fact]
    public async Task HangInStoragePut_EndsPromptlyWhenTheStreamIsCancelled_AndLeaksNothing()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(10, 200);
        var settings = StreamFixture.Settings(_storage);
        var progress = new ShippedRecorder();
        await using (var stream = RunningStream.Start(settings, _db, null, progress))
        {
            await writer.TransactionsAsync(3);
            await progress.WaitDurableAsync(stream);

            using (Failpoints.Arm("storage.put", "hang"))
            {
                await writer.InsertAsync(5, 300);
                await WaitUntilShippingIsStuckAsync(stream, progress);

                await stream.CancelAsync();
                var watch = Stopwatch.StartNew();
                try
                {
                    await stream.Task.WaitAsync(TimeSpan.FromSeconds(10));
                }
                catch (FerryException e)
                {
                    // Ending with an error is fine as long as it says the stream was cancelled.
                    Assert.Equal(ErrorClass.Cancelled, e.Class);
                }

                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the hung stream took {watch.Elapsed} to end after its token was cancelled");
            }
        }

        await AssertNothingLeakedAsync(writer);
        await AssertRestartShipsAsync(writer, settings, progress);
    }

    /// <summary>
    /// Waits until nothing has been shipped for many flush intervals while the stream still runs (a healthy stream
    /// reports a shipment every flush interval, even an empty one). Capture may go quiet too: once the WAL is past
    /// its bound it holds its reads until shipping catches up.
    /// </summary>
    private static async Task WaitUntilShippingIsStuckAsync(RunningStream stream, ShippedRecorder progress)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(stream.Task.IsCompleted, "the stream ended while its storage put hung");
            var lastShipped = progress.Last!.ReportedAt;
            if (DateTimeOffset.UtcNow - lastShipped > TimeSpan.FromSeconds(1)) return;
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the stream kept shipping with storage.put hung");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Body_SavedPositionDoesNotParse_ReportsItAndShipsAFreshGenerationThatRestores()
    {
        // Regression: an unreadable saved position silently started a new generation; the safe recovery now says so.
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(10, 200);
        var progress = new ShippedRecorder();

        await using (var stream = RunningStream.StartFromSaved(StreamFixture.Settings(_storage), _db, "{\"generation\": 12", progress))
        {
            await writer.TransactionsAsync(2);
            await progress.WaitDurableAsync(stream);
            await stream.StopAsync();
        }

        var recovered = Assert.Single(progress.Recovered);
        Assert.Equal(ErrorCodes.TaskPositionUnreadable, recovered.Code);
        Assert.Contains("{\"generation\": 12", recovered.Message, StringComparison.Ordinal);
        var source = await writer.SqlAsync(StreamFixture.ContentQuery);
        var restored = await StreamFixture.RestoreContentAsync(_storage, _db, null, _dir.Path);
        Assert.True(source == restored, StreamFixture.Diff(source, restored));
    }

    private async Task AssertNothingLeakedAsync(PythonWriter writer)
    {
        Assert.Empty(StreamFixture.OpenFiles(_db, _root));
        Assert.Empty(StreamFixture.TempFiles(_root));

        // No read transaction survived: the writer's TRUNCATE checkpoint gets every frame and empties the WAL.
        var checkpoint = await writer.CheckpointAsync("TRUNCATE");
        Assert.Equal(0, checkpoint.Busy);
        Assert.Equal(0, new FileInfo(_db + "-wal").Length);
    }

    /// <summary>A new stream from the last shipped position ships new writes, and a restore gives back the source.</summary>
    private async Task AssertRestartShipsAsync(PythonWriter writer, DatabaseStreamSettings settings, ShippedRecorder progress)
    {
        var position = StreamPosition.Parse(progress.Last!.Position, out _);
        Assert.NotNull(position);
        await using (var stream = RunningStream.Start(settings, _db, position, progress))
        {
            await writer.InsertAsync(7, 250);
            await writer.TransactionsAsync(2);
            await progress.WaitDurableAsync(stream);
            await stream.StopAsync();
        }

        Assert.Empty(StreamFixture.OpenFiles(_db, _root));
        var source = await writer.SqlAsync(StreamFixture.ContentQuery);
        var restored = await StreamFixture.RestoreContentAsync(_storage, _db, null, _dir.Path);
        Assert.True(source == restored, StreamFixture.Diff(source, restored));
    }
}
