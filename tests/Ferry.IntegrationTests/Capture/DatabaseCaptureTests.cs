using System.Text;
using Ferry.Capture;
using Ferry.Errors;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.IntegrationTests.Capture;

/// <summary>
/// Capture against a real writer process (Python's sqlite3, the system SQLite): whatever the writer does, the
/// snapshot plus the shipped transactions rebuild exactly the source database.
/// </summary>
public sealed class DatabaseCaptureTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new("capture");
    private readonly FakeTimeProvider _time = new(Now);
    private readonly string _db;
    private int _dumps;

    public DatabaseCaptureTests()
    {
        _db = _dir.File("app.db");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task SnapshotThenTransactions_ReproduceTheSourceExactly()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(50, 300);
        using var capture = NewCapture();

        var start = capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(20, 200);
        await writer.InsertAsync(100, 500);
        _time.Advance(TimeSpan.FromSeconds(3));
        var batch = capture.ReadNewTransactions();
        replica.Apply(batch.Transactions);

        Assert.Equal(CaptureContinuity.NewGenerationNeeded, start.Continuity);
        Assert.Equal(CaptureContinuity.Continue, batch.Continuity);
        Assert.Equal(21, batch.Transactions.Count);
        Assert.All(batch.Transactions, t => Assert.Equal(Now.AddSeconds(3), t.CapturedAt));
        Assert.Equal(batch.Cursor, capture.Cursor);
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task WritersTruncateCheckpoint_WhilePinned_CannotResetTheWal()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.SqlAsync("PRAGMA busy_timeout=100"); // TRUNCATE waits for our reader only this long
        await writer.InsertAsync(20, 300);
        using var capture = NewCapture();
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(5);
        var salts = (capture.Cursor!.Salt1, capture.Cursor.Salt2);

        var truncate = await writer.CheckpointAsync("TRUNCATE");
        await writer.TransactionsAsync(5);
        var batch = capture.ReadNewTransactions();
        replica.Apply(batch.Transactions);

        Assert.Equal(1, truncate.Busy);
        Assert.True(new FileInfo(capture.WalPath).Length > 0);
        Assert.Equal(CaptureContinuity.Continue, batch.Continuity);
        Assert.Equal(10, batch.Transactions.Count);
        Assert.Equal(salts, (batch.Cursor!.Salt1, batch.Cursor.Salt2));
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task TransactionSpillingThePageCache_IsCapturedWhole()
    {
        using var writer = await PythonWriter.StartAsync(_db, cacheSizePages: 10);
        using var capture = NewCapture();
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());

        await writer.InsertAsync(1280, 4000); // about 5 MB in one transaction
        var batches = ReadAll(capture);
        replica.Apply(batches);

        var big = Assert.Single(batches);
        Assert.True(big.Frames.Count > 1000, $"the big transaction has {big.Frames.Count} frames");
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task RolledBackTransaction_IsNeverShipped()
    {
        const string Marker = "ROLLEDBACKROW";
        using var writer = await PythonWriter.StartAsync(_db, cacheSizePages: 10);
        using var capture = NewCapture();
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());

        await writer.RollbackAsync(300, 1000, Marker); // spills frames into the WAL, then rolls back
        await writer.InsertAsync(1, 100);
        var batch = capture.ReadNewTransactions();
        replica.Apply(batch.Transactions);

        var marker = Encoding.ASCII.GetBytes(Marker);
        Assert.True(File.ReadAllBytes(capture.WalPath).AsSpan().IndexOf(marker) >= 0, "the rolled-back frames should be in the WAL file");
        Assert.Single(batch.Transactions);
        Assert.DoesNotContain(batch.Transactions.SelectMany(t => t.Frames), f => f.Page.Span.IndexOf(marker) >= 0);
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task CheckpointCycle_ResetsTheWalAndKeepsContinuity()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture(new DatabaseCaptureOptions { CheckpointThresholdFrames = 10 });
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(10);
        replica.Apply(capture.ReadNewTransactions().Transactions);
        await writer.TransactionsAsync(3); // committed after our last read: the cycle must hand these over
        var before = capture.Cursor!;

        var outcome = capture.CheckpointIfNeeded();
        replica.Apply(outcome.Transactions);
        await writer.TransactionsAsync(7);
        var after = capture.ReadNewTransactions();
        replica.Apply(after.Transactions);

        Assert.Equal(CheckpointStatus.Done, outcome.Status);
        Assert.Equal(3, outcome.Transactions.Count);
        Assert.Equal(CaptureContinuity.Continue, after.Continuity);
        Assert.Equal(unchecked(before.Salt1 + 1), after.Cursor!.Salt1); // the WAL was reset, and we followed it
        Assert.Equal(8, after.Transactions.Count); // our nonce commit at frame 1, then the writer's 7
        Assert.Equal(CheckpointStatus.NotNeeded, capture.CheckpointIfNeeded().Status); // the file did not shrink, the WAL in use did
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task CheckpointCycle_AnotherConnectionHoldsTheCheckpointLock_WaitsForItAndStillResetsTheWal()
    {
        // Regression: an application's own autocheckpoint held the checkpoint lock at the instant of the cycle's
        // checkpoint; PASSIVE gave up at once, the WAL could not be reset, and capture backed off for ten flushes
        // while a flat-out writer grew the WAL by hundreds of MiB. A separate process takes that lock here the way
        // SQLite does (an exclusive fcntl lock on byte 121 of the -shm file).
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture(new DatabaseCaptureOptions { CheckpointThresholdFrames = 10, CheckpointLockTimeout = TimeSpan.FromSeconds(60) });
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(10);
        replica.Apply(capture.ReadNewTransactions().Transactions);
        await writer.TransactionsAsync(3);
        var before = capture.Cursor!;

        using var holder = PythonScript.Start(CheckpointLockHolder, [_db + "-shm"]);
        Assert.Equal("locked", await holder.ReadLineAsync(TimeSpan.FromSeconds(30)));
        var cycle = Task.Run(capture.CheckpointIfNeeded);
        var endedWhileLocked = await Task.WhenAny(cycle, Task.Delay(TimeSpan.FromSeconds(1))) == cycle;
        Assert.Equal("released", await holder.SendAsync("release", TimeSpan.FromSeconds(30)));
        var outcome = await cycle;
        replica.Apply(outcome.Transactions);
        await writer.TransactionsAsync(2);
        var after = capture.ReadNewTransactions();
        replica.Apply(after.Transactions);

        Assert.False(endedWhileLocked, $"the cycle ended while another process held the checkpoint lock: {outcome.Detail}");
        Assert.Equal(CheckpointStatus.Done, outcome.Status);
        Assert.Equal(3, outcome.Transactions.Count);
        Assert.Equal(unchecked(before.Salt1 + 1), after.Cursor!.Salt1);
        AssertSameDatabase(replica);
    }

    /// <summary>Holds SQLite's checkpoint lock on a database (byte 121 of its -shm file) from "locked" until told "release".</summary>
    private const string CheckpointLockHolder = """
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 121)
        print("locked", flush=True)
        sys.stdin.readline()
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 121)
        print("ok released", flush=True)
        sys.stdin.readline()
        """;

    [Fact]
    public async Task ConcurrentWriter_ReadsAndCheckpointCycles_RebuildTheSource()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture(new DatabaseCaptureOptions { CheckpointThresholdFrames = 30 });
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        int cycles = 0, generations = 1;

        // The writer commits in bursts in its own process while we read and checkpoint as fast as we can; a tight
        // writer would starve our BEGIN IMMEDIATE, so every burst ends with one more read and cycle while it idles.
        for (var burst = 0; burst < 25; burst++)
        {
            var writing = writer.TransactionsAsync(20, 300);
            do
            {
                var batch = capture.ReadNewTransactions();
                if (batch.Continuity == CaptureContinuity.NewGenerationNeeded)
                {
                    // Allowed only when continuity can't be proven; the rebuilt database must still match.
                    replica = new Replica(capture.TakeSnapshot());
                    generations++;
                    continue;
                }

                replica.Apply(batch.Transactions);
                var outcome = capture.CheckpointIfNeeded();
                replica.Apply(outcome.Transactions);
                if (outcome.Status == CheckpointStatus.Done) cycles++;
            }
            while (!writing.IsCompleted);
            await writing;
        }

        replica.Apply(ReadAll(capture));

        Assert.True(cycles >= 5, $"only {cycles} checkpoint cycles ran");
        Assert.True(generations <= 3, $"{generations} generations: continuity was lost too often");
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task CheckpointCycle_SmallWal_IsNotNeeded()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture();
        capture.Start(null);
        capture.TakeSnapshot();
        await writer.TransactionsAsync(2);

        var outcome = capture.CheckpointIfNeeded();

        Assert.Equal(CheckpointStatus.NotNeeded, outcome.Status);
        Assert.Empty(outcome.Transactions);
    }

    [Fact]
    public async Task CheckpointCycle_WriterHoldsTheWriteLock_SkipsTheRoundAndKeepsThePin()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture(new DatabaseCaptureOptions { CheckpointThresholdFrames = 1 });
        capture.Start(null);
        var replica = new Replica(capture.TakeSnapshot());
        await writer.TransactionsAsync(3);
        replica.Apply(capture.ReadNewTransactions().Transactions);

        await writer.SqlAsync("BEGIN IMMEDIATE");
        var outcome = capture.CheckpointIfNeeded();
        await writer.SqlAsync("COMMIT");
        await writer.TransactionsAsync(2);
        var batch = capture.ReadNewTransactions();
        replica.Apply(batch.Transactions);

        Assert.Equal(CheckpointStatus.SkippedBusy, outcome.Status);
        Assert.Equal(CaptureContinuity.Continue, batch.Continuity);
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task Restart_FromShippedCursor_Continues()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(30, 200);
        Replica replica;
        WalCursor shipped;
        using (var first = NewCapture())
        {
            first.Start(null);
            replica = new Replica(first.TakeSnapshot());
            await writer.TransactionsAsync(4);
            var batch = first.ReadNewTransactions();
            replica.Apply(batch.Transactions);
            shipped = batch.Cursor!;
        }

        await writer.TransactionsAsync(6); // while Ferry is down
        using var second = NewCapture();
        var start = second.Start(shipped);
        var resumed = second.ReadNewTransactions();
        replica.Apply(resumed.Transactions);

        Assert.Equal(CaptureContinuity.Continue, start.Continuity);
        Assert.Equal(7, resumed.Transactions.Count); // the writer's 6, then the nonce commit of the second start
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task Restart_AfterResetFerryDidNotSee_NeedsNewGeneration()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        WalCursor shipped;
        using (var first = NewCapture())
        {
            first.Start(null);
            first.TakeSnapshot();
            await writer.TransactionsAsync(4);
            shipped = first.ReadNewTransactions().Cursor!;
        }

        await writer.TransactionsAsync(2);
        var truncate = await writer.CheckpointAsync("TRUNCATE");
        await writer.TransactionsAsync(2);
        using var second = NewCapture();
        var start = second.Start(shipped);
        var read = second.ReadNewTransactions();

        Assert.Equal(0, truncate.Busy);
        Assert.Equal(CaptureContinuity.NewGenerationNeeded, start.Continuity);
        Assert.Contains("reset", start.Reason, StringComparison.Ordinal);
        Assert.Equal(CaptureContinuity.NewGenerationNeeded, read.Continuity);
        Assert.Empty(read.Transactions);

        // A new generation from here rebuilds the source again.
        var replica = new Replica(second.TakeSnapshot());
        await writer.TransactionsAsync(3);
        replica.Apply(second.ReadNewTransactions().Transactions);
        AssertSameDatabase(replica);
    }

    [Fact]
    public async Task Restart_CursorOfAnotherDatabaseFile_NeedsNewGeneration()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture();
        capture.Start(null);
        capture.TakeSnapshot();
        var cursor = capture.ReadNewTransactions().Cursor!;
        capture.Dispose();
        using var again = NewCapture();

        var start = again.Start(cursor with { DatabaseInode = cursor.DatabaseInode + 1 });

        Assert.Equal(CaptureContinuity.NewGenerationNeeded, start.Continuity);
        Assert.Contains("database file", start.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_ReleasesPinConnectionsAndHandles()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        await writer.InsertAsync(20, 300);
        var capture = NewCapture();
        capture.Start(null);
        var snapshot = capture.TakeSnapshot();
        await writer.TransactionsAsync(3);
        capture.ReadNewTransactions();
        Assert.NotEmpty(OpenFilesOf(_db));

        capture.Dispose();
        var truncate = await writer.CheckpointAsync("TRUNCATE");

        Assert.Empty(OpenFilesOf(_db));
        Assert.Equal(0, truncate.Busy);
        Assert.Equal(0, new FileInfo(_db + "-wal").Length);
        var error = Assert.Throws<FerryException>(() => snapshot.ReadPage(1, new byte[snapshot.PageSize]));
        Assert.Same(ErrorCodes.Internal, error.Code);
    }

    [Fact]
    public async Task Read_DatabaseDeleted_IsNotFoundAndReleasesEverything()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture();
        capture.Start(null);
        capture.TakeSnapshot();
        File.Delete(_db);

        var error = Assert.Throws<FerryException>(capture.ReadNewTransactions);

        Assert.Same(ErrorCodes.DatabaseNotFound, error.Code);
        Assert.Equal("capture-read", error.Context.Operation);
        Assert.Empty(OpenFilesOf(_db));
        Assert.Throws<ObjectDisposedException>(capture.ReadNewTransactions);
    }

    [Fact]
    public async Task Read_DatabaseReplaced_AsksForNewGenerationAndSnapshotRefuses()
    {
        using var writer = await PythonWriter.StartAsync(_db);
        using var capture = NewCapture();
        capture.Start(null);
        capture.TakeSnapshot();
        var other = _dir.File("other.db");
        Sqlite3.Run(other, "PRAGMA journal_mode=WAL; CREATE TABLE y (b)");
        File.Move(other, _db, overwrite: true);

        var batch = capture.ReadNewTransactions();
        var error = Assert.Throws<FerryException>(capture.TakeSnapshot);

        Assert.Equal(CaptureContinuity.NewGenerationNeeded, batch.Continuity);
        Assert.Contains("replaced", batch.Reason, StringComparison.Ordinal);
        Assert.Same(ErrorCodes.CaptureDatabaseReplaced, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
        Assert.Empty(OpenFilesOf(_db));
    }

    [Fact]
    public void Start_MissingDatabase_IsNotFoundAndCreatesNothing()
    {
        using var capture = NewCapture();

        var error = Assert.Throws<FerryException>(() => capture.Start(null));

        Assert.Same(ErrorCodes.DatabaseNotFound, error.Code);
        Assert.Equal(_db, error.Context.Database);
        Assert.False(File.Exists(_db));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Start_RollbackJournalDatabase_IsNotWalModeAndLeaksNothing()
    {
        Sqlite3.Run(_db, "CREATE TABLE x (a)");
        using var capture = NewCapture();

        var error = Assert.Throws<FerryException>(() => capture.Start(null));

        Assert.Same(ErrorCodes.DatabaseNotWalMode, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("journal_mode=WAL", error.Message, StringComparison.Ordinal);
        Assert.Contains(_db, error.ToOneLine(), StringComparison.Ordinal);
        Assert.Empty(OpenFilesOf(_db));
    }

    [Fact]
    public void Start_GarbageFile_IsCorruptAndLeaksNothing()
    {
        File.WriteAllBytes(_db, Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray());
        using var capture = NewCapture();

        var error = Assert.Throws<FerryException>(() => capture.Start(null));

        Assert.Same(ErrorCodes.DatabaseCorrupt, error.Code);
        Assert.Empty(OpenFilesOf(_db));
    }

    private DatabaseCapture NewCapture(DatabaseCaptureOptions? options = null) =>
        new(_db, options, _time, new ErrorContext(Task: "t1"));

    private static List<CommittedTransaction> ReadAll(DatabaseCapture capture)
    {
        var all = new List<CommittedTransaction>();
        while (true)
        {
            var batch = capture.ReadNewTransactions();
            Assert.Equal(CaptureContinuity.Continue, batch.Continuity);
            if (batch.Transactions.Count == 0) return all;
            all.AddRange(batch.Transactions);
        }
    }

    private void AssertSameDatabase(Replica replica)
    {
        var source = Sqlite3.Run(_db, ".dump");
        var restored = replica.Dump(_dir.File($"replica-{++_dumps}.db"));
        Assert.Contains("INSERT INTO t VALUES", source, StringComparison.Ordinal);
        Assert.Equal(source, restored);
    }

    /// <summary>This process's descriptors on the database, its WAL or its shared-memory file.</summary>
    private static List<string> OpenFilesOf(string database)
    {
        var found = new List<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // the descriptor was closed between listing and reading it (another thread)
            }

            if (target is not null && target.StartsWith(database, StringComparison.Ordinal)) found.Add(target);
        }

        return found;
    }
}
