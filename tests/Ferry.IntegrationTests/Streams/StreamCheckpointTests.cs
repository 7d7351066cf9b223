using System.Diagnostics;
using Ferry.Capture;
using Ferry.Diagnostics;
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
        var first = StreamPosition.Parse(progress.Last!.Position, out _)!;

        // One small commit after another, with no pause as long as a flush interval, for at most 8 s.
        var watch = Stopwatch.StartNew();
        var commits = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(8))
        {
            await writer.TransactionsAsync(1, 100);
            commits++;
            var now = StreamPosition.Parse(progress.Last!.Position, out _)!;
            if (now.Generation == first.Generation && (now.Cursor.Salt1, now.Cursor.Salt2) != (first.Cursor.Salt1, first.Cursor.Salt2)) break;
        }

        var last = StreamPosition.Parse(progress.Last!.Position, out _)!;
        Assert.Equal(first.Generation, last.Generation);
        Assert.True(
            (last.Cursor.Salt1, last.Cursor.Salt2) != (first.Cursor.Salt1, first.Cursor.Salt2),
            $"after {commits} commits in {watch.Elapsed.TotalSeconds:0.0} s the WAL was never reset (threshold 50 frames; cursor at frame {last.Cursor.FrameIndex}, WAL file {new FileInfo(db + "-wal").Length} bytes)");
        await stream.StopAsync();
    }

    [Fact]
    public async Task BackToBackCommits_FerryStillTakesTheWriteLockAndResetsTheWalWhileTheyRun()
    {
        // Regression: the checkpoint cycle waited for the write lock with sleeping retries, which never found the
        // microsecond gaps between an application's back-to-back commits: no reset for as long as a burst lasted,
        // and the WAL grew by gigabytes.
        var db = _dir.File("app.db");
        var root = _dir.File("storage");
        Directory.CreateDirectory(root);
        using var writer = await PythonWriter.StartAsync(db);
        var progress = new ShippedRecorder();
        await using var stream = RunningStream.Start(StreamFixture.Settings(new FileStorage(root)), db, null, progress);
        await progress.WaitDurableAsync(stream);
        var before = progress.All.Count;

        var watch = Stopwatch.StartNew();
        await writer.TransactionsAsync(50_000, 100); // one python loop, commit after commit
        var burst = watch.Elapsed;
        var during = progress.All.Skip(before).Select(s => StreamPosition.Parse(s.Position, out _)!).ToList();

        var generations = during.Select(p => p.Generation).Distinct().Count();
        var resets = during.Select(p => (p.Cursor.Salt1, p.Cursor.Salt2)).Distinct().Count() - 1;
        Assert.Equal(1, generations);
        // About five a second here (a cycle every flush of 100 ms at most); the sleeping wait managed about one in five seconds.
        Assert.True(
            resets >= Math.Max(2, (int)burst.TotalSeconds),
            $"the WAL was reset {resets} times during {burst.TotalSeconds:0.0} s of back-to-back commits (WAL file {new FileInfo(db + "-wal").Length} bytes)");
        await stream.StopAsync();
    }

    [Fact]
    public async Task CheckpointCycle_ApplicationCommitsBetweenItsTwoLocksOnAFullyCopiedWal_SameGenerationNothingMissed()
    {
        // Regression: when step 0 of the cycle had read and copied the whole WAL already, step 3 pinned again on a
        // fully copied WAL. Such a read takes mark 0, which does not forbid a reset, so an application commit between
        // the cycle's two write locks reset the WAL and the cycle could no longer prove that nothing was missed: a
        // new generation (seen once in two runs of the 50,000-commit burst above). The failpoint holds the cycle in
        // that gap, a separate process commits in it.
        var db = _dir.File("gap.db");
        using var writer = await PythonWriter.StartAsync(db);
        using var capture = new DatabaseCapture(db, new DatabaseCaptureOptions { CheckpointThresholdFrames = 10 });
        capture.Start(null);
        var replica = new Capture.Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(12);
        replica.Apply(capture.ReadNewTransactions().Transactions); // all read, so step 0 copies the whole WAL
        var before = capture.Cursor!;

        Task<CheckpointOutcome> cycle;
        using (var gap = Failpoints.Arm("capture.checkpoint-gap", "hang"))
        {
            cycle = Task.Run(capture.CheckpointIfNeeded);
            await gap.Reached.WaitAsync(TimeSpan.FromSeconds(30));
            await writer.TransactionsAsync(1, 100).WaitAsync(TimeSpan.FromSeconds(30));
        }

        var outcome = await cycle.WaitAsync(TimeSpan.FromSeconds(30));
        replica.Apply(outcome.Transactions);
        var after = capture.ReadNewTransactions();
        replica.Apply(after.Transactions);

        Assert.Equal(CheckpointStatus.Done, outcome.Status);
        Assert.Null(capture.NewGenerationReason);
        Assert.Equal(CaptureContinuity.Continue, after.Continuity);
        Assert.Equal(before.Salt1, after.Cursor!.Salt1); // A's pin kept the WAL from resetting: the commit was appended
        Assert.Equal(Sqlite3.Run(db, ".dump"), replica.Dump(_dir.File("gap-replica.db")));
    }

    [Fact]
    public async Task NewGenerationWhileTheWalIsLarge_CaptureKeepsReadingInTheNewGeneration()
    {
        // After a new generation, capture's own cursor is the snapshot's; were it the old generation's, capture
        // would wait past the checkpoint bound for a flush that can't make it equal to what was shipped.
        var db = _dir.File("app.db");
        var root = _dir.File("storage");
        Directory.CreateDirectory(root);
        using var writer = await PythonWriter.StartAsync(db);
        var progress = new ShippedRecorder();
        var settings = StreamFixture.Settings(new FileStorage(root), snapshotInterval: TimeSpan.FromMilliseconds(500));
        await using var stream = RunningStream.Start(settings, db, null, progress);
        await progress.WaitDurableAsync(stream);

        // Enough frames between generations to be past the bound (50 frames) when the next one starts.
        var generations = new HashSet<string>();
        var watch = Stopwatch.StartNew();
        while (generations.Count < 4 && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            await writer.TransactionsAsync(200, 100);
            var shipped = await progress.WaitDurableAsync(stream);
            generations.Add(StreamPosition.Parse(shipped.Position, out _)!.Generation);
        }

        Assert.True(generations.Count >= 4, $"only {generations.Count} generations in {watch.Elapsed.TotalSeconds:0.0} s");
        await stream.StopAsync();
    }
}
