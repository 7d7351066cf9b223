using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.Tests.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Restore;

[Collection(RestoreFailpointsCollection.Name)]
public sealed class DatabaseRestoreTests : IDisposable
{
    private static readonly ReplicaDatabase Db = new(1, "/srv/data/app.db");

    private readonly TempDirectory _dir = new("restore");
    private readonly FileStorage _storage;
    private readonly ReplicaWriter _writer;
    private readonly SqliteHistory _history;

    public DatabaseRestoreTests()
    {
        Directory.CreateDirectory(_dir.File("storage"));
        Directory.CreateDirectory(_dir.File("out"));
        _storage = new FileStorage(_dir.File("storage"));
        _writer = new ReplicaWriter(_storage, Db);
        _history = new SqliteHistory(_dir.Path);
        for (var i = 0; i < 6; i++) _history.Insert(rows: 5 + (i * 7));
    }

    public void Dispose() => _dir.Dispose();

    private string Out(string name = "restored.db") => _dir.File(Path.Combine("out", name));

    /// <summary>Snapshot 0 at T0, then segments of <paramref name="split"/> transactions each; optional extra snapshots.</summary>
    private async Task<GenerationId> WriteGenerationAsync(int split = 2, params int[] snapshotsAt)
    {
        var generation = await _writer.CreateGenerationAsync(SqliteHistory.T0, SqliteHistory.PageSize);
        await _writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new BytesPageSource(_history.States[0], SqliteHistory.PageSize));
        foreach (var index in snapshotsAt)
        {
            await _writer.WriteSnapshotAsync(generation, index, SqliteHistory.TimeOf(index - 1), new BytesPageSource(_history.States[index], SqliteHistory.PageSize));
        }

        for (var first = 0; first < _history.Transactions.Count; first += split)
        {
            await _writer.WriteSegmentAsync(generation, first, _history.Transactions.Skip(first).Take(split).ToList());
        }

        return generation;
    }

    private Task<RestoreResult> RestoreAsync(string db = "app.db", DateTimeOffset? time = null, string? output = null, IProgress<RestoreProgress>? progress = null) =>
        DatabaseRestore.RunAsync(_storage, new RestoreRequest(db, output ?? Out(), time), progress);

    private void AssertNothingLeftInOut() => Assert.Empty(Directory.GetFileSystemEntries(_dir.File("out")));

    [Fact]
    public async Task Run_Latest_RebuildsTheFinalStateByteForByte()
    {
        var generation = await WriteGenerationAsync();

        var result = await RestoreAsync();

        Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out()));
        Assert.Equal(6, result.NextIndex);
        Assert.Equal(6, result.TransactionsApplied);
        Assert.Equal(generation, result.Generation);
        Assert.True(result.Verified);
        Assert.Equal(["restored.db"], Directory.GetFileSystemEntries(_dir.File("out")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Run_EveryPointInTime_RestoresTheStateCapturedThen()
    {
        await WriteGenerationAsync(split: 4, snapshotsAt: 3);
        for (var state = 0; state < _history.States.Count; state++)
        {
            // Transaction i is captured at TimeOf(i): a time just before the next one sees exactly `state` transactions.
            var time = SqliteHistory.TimeOf(state).AddMilliseconds(-1);
            var output = Out($"at-{state}.db");

            var result = await RestoreAsync(time: time, output: output);

            Assert.Equal(_history.States[state], await File.ReadAllBytesAsync(output));
            Assert.Equal(state, result.NextIndex);
            Assert.Equal(state >= 3 ? 3 : 0, result.SnapshotIndex);
        }
    }

    [Fact]
    public async Task Run_TimeBeforeFirstSnapshot_ClearErrorAndNoOutput()
    {
        await WriteGenerationAsync();

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(time: SqliteHistory.T0.AddSeconds(-1)));

        Assert.Equal(ErrorCodes.RestoreTimeBeforeFirstSnapshot, error.Code);
        AssertNothingLeftInOut();
    }

    [Fact]
    public async Task Run_NewerGeneration_ChosenOnlyFromItsFirstSnapshotOn()
    {
        await WriteGenerationAsync();
        var newer = await _writer.CreateGenerationAsync(SqliteHistory.T0.AddHours(1), SqliteHistory.PageSize);
        await _writer.WriteSnapshotAsync(newer, 0, SqliteHistory.T0.AddHours(1), new BytesPageSource(_history.States[2], SqliteHistory.PageSize));

        var latest = await RestoreAsync();
        var before = await RestoreAsync(time: SqliteHistory.T0.AddMinutes(30), output: Out("before.db"));

        Assert.Equal(newer, latest.Generation);
        Assert.Equal(_history.States[2], await File.ReadAllBytesAsync(Out()));
        Assert.NotEqual(newer, before.Generation);
        Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out("before.db")));
    }

    /// <summary>
    /// A generation written by a process holding <paramref name="token"/>: created at <paramref name="at"/> with
    /// state <paramref name="state"/> as its snapshot, then (with <paramref name="shipsHistory"/>) the whole history.
    /// </summary>
    private async Task<GenerationId> WriteGenerationAsync(FenceToken token, DateTimeOffset at, int state, bool shipsHistory)
    {
        var writer = new ReplicaWriter(_storage, Db, token);
        var generation = await writer.CreateGenerationAsync(at, SqliteHistory.PageSize);
        await writer.WriteSnapshotAsync(generation, 0, at, new BytesPageSource(_history.States[state], SqliteHistory.PageSize));
        if (shipsHistory) await writer.WriteSegmentAsync(generation, 0, _history.Transactions);
        return generation;
    }

    [Fact]
    public async Task Run_GenerationAZombieStartedWhileANewerWriterWasLive_IsNotUsed()
    {
        // The live writer (fence generation 2) ships the whole history, from T0 to TimeOf(5); meanwhile a
        // fenced-out process of generation 1 starts a generation of its own with an older state.
        var live = await WriteGenerationAsync(new FenceToken(2, 1), SqliteHistory.T0, 0, shipsHistory: true);
        var zombie = await WriteGenerationAsync(new FenceToken(1, 4), SqliteHistory.TimeOf(2), 2, shipsHistory: false);

        var result = await RestoreAsync();

        Assert.Equal(live, result.Generation);
        Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out()));
        var note = Assert.Single(result.Notes);
        Assert.Contains($"generation {zombie} is not used", note, StringComparison.Ordinal);
        Assert.Contains("generation 1 epoch 4", note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_GenerationAfterTheTokensBeganAgain_IsUsedThoughItsTokenIsSmaller()
    {
        // A writer with a large token went quiet; later the metadata store was reset and tokens began again at 0/1.
        await WriteGenerationAsync(new FenceToken(5, 3), SqliteHistory.T0, 0, shipsHistory: true);
        var fresh = await WriteGenerationAsync(new FenceToken(0, 1), SqliteHistory.T0.AddHours(1), 3, shipsHistory: false);

        var result = await RestoreAsync();

        Assert.Equal(fresh, result.Generation);
        Assert.Equal(_history.States[3], await File.ReadAllBytesAsync(Out()));
        Assert.Empty(result.Notes);
    }

    [Fact]
    public async Task Run_MissingSegment_ChainGapNamingTheRangeAndNoOutput()
    {
        var generation = await WriteGenerationAsync();
        await _storage.DeleteAsync(ReplicaLayout.Segment(Db, generation, 2, 3));

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync());

        Assert.Equal(ErrorCodes.ReplicaChainGap, error.Code);
        Assert.Contains("misses transactions 2-3", error.Message, StringComparison.Ordinal);
        AssertNothingLeftInOut();

        // A time before the gap needs nothing from it: transactions 0 and 1 are captured at TimeOf(0) and TimeOf(1).
        await RestoreAsync(time: SqliteHistory.TimeOf(1).AddMilliseconds(-1));
        Assert.Equal(_history.States[1], await File.ReadAllBytesAsync(Out()));
    }

    [Fact]
    public async Task Run_DamagedSegment_CorruptObjectNamingItAndNoOutputNoTemp()
    {
        var generation = await WriteGenerationAsync();
        var name = ReplicaLayout.Segment(Db, generation, 4, 5);
        var path = Path.Combine(_storage.Root, name);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes);

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync());

        Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
        AssertNothingLeftInOut();
    }

    [Fact]
    public async Task Run_OutputExists_RefusesAndLeavesItAlone()
    {
        await WriteGenerationAsync();
        await File.WriteAllTextAsync(Out(), "mine");

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync());

        Assert.Equal(ErrorCodes.RestoreOutputExists, error.Code);
        Assert.Equal("mine", await File.ReadAllTextAsync(Out()));
        Assert.Single(Directory.GetFileSystemEntries(_dir.File("out")));
    }

    [Fact]
    public async Task Run_ImageFailsIntegrityCheck_NothingWritten()
    {
        // A well-formed chain whose pages are not a database: every checksum holds, SQLite still refuses it.
        var generation = await _writer.CreateGenerationAsync(SqliteHistory.T0, 4096);
        var garbage = new byte[2 * 4096];
        new Random(5).NextBytes(garbage);
        await _writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new BytesPageSource(garbage, 4096));

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync());

        Assert.Equal(ErrorCodes.RestoreIntegrityCheckFailed, error.Code);
        AssertNothingLeftInOut();
    }

    [Fact]
    public async Task Run_TempCannotBeRemovedOnceTheOutputIsPublished_SucceedsAndReportsTheTemp()
    {
        // Regression: the temp name's removal after the link failed the restore, and left the restored file at --out.
        await WriteGenerationAsync();
        var output = _dir.File("out");

        // Append-only: names can be created and linked there, not removed (EPERM, even for root). Without --verify,
        // nothing but the temp image and the published name is ever created, so only the temp's removal fails.
        using (await AppendOnlyDirectory.SetAsync(output))
        {
            var result = await DatabaseRestore.RunAsync(_storage, new RestoreRequest("app.db", Out(), Verify: false));

            Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out()));
            Assert.Equal(6, result.NextIndex);
            var temp = Assert.Single(Directory.GetFiles(output), f => f != Out());
            var warning = Assert.Single(result.Warnings);
            Assert.Equal(ErrorCodes.DatabasePermissionDenied, warning.Code);
            Assert.Contains(temp, warning.Message, StringComparison.Ordinal);
            var note = Assert.Single(result.Notes);
            Assert.Contains(temp, note, StringComparison.Ordinal);
            Assert.Contains("remove it", note, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Run_NewNameCannotBeMadeDurable_FailsAndLeavesNothing()
    {
        // Regression: a failure after the link (here the directory fsync that makes the new name durable) failed the
        // restore with the restored file left at --out. It is either published and durable, or nothing is there.
        await WriteGenerationAsync();
        using var fault = Failpoints.Arm("restore.publish", "error(FERRY:Database:Io)");

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync());

        Assert.Equal(ErrorCodes.DatabaseIo, error.Code);
        AssertNothingLeftInOut();
        Assert.Empty(error.Suppressed);
    }

    [Fact]
    public async Task Run_CancelledWhileApplyingSegments_CancelledAndNothingLeft()
    {
        await WriteGenerationAsync();
        using var cancel = new CancellationTokenSource();

        // Cancelled from inside the restore, once the snapshot is written and before the first segment.
        var error = await Assert.ThrowsAsync<FerryException>(() => DatabaseRestore.RunAsync(
            _storage, new RestoreRequest("app.db", Out()), new SyncProgress<RestoreProgress>(_ => cancel.Cancel()), cancel.Token));

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
        AssertNothingLeftInOut();
    }

    [Fact]
    public async Task Run_Progress_ReachesEveryByteAndSegment()
    {
        await WriteGenerationAsync();
        var reports = new List<RestoreProgress>();

        await RestoreAsync(progress: new SyncProgress<RestoreProgress>(reports.Add));

        var last = reports[^1];
        Assert.Equal(3, last.SegmentsTotal);
        Assert.Equal(last.SegmentsTotal, last.SegmentsDone);
        Assert.Equal(last.BytesTotal, last.BytesDone);
        Assert.True(reports.Select(r => r.BytesDone).SequenceEqual(reports.Select(r => r.BytesDone).Order()));
    }

    [Fact]
    public async Task Catalog_SuffixMatching_OnComponentBoundariesOnly()
    {
        await new ReplicaWriter(_storage, new ReplicaDatabase(1, "/srv/data/app.db")).CreateGenerationAsync(SqliteHistory.T0, 4096);
        await new ReplicaWriter(_storage, new ReplicaDatabase(1, "/srv/other/app.db")).CreateGenerationAsync(SqliteHistory.T0, 4096);
        await new ReplicaWriter(_storage, new ReplicaDatabase(2, "/srv/data/myapp.db")).CreateGenerationAsync(SqliteHistory.T0, 4096);
        var catalog = await ReplicaCatalog.LoadAsync(_storage);

        Assert.Equal(2, catalog.Match("app.db").Count);
        Assert.Equal("/srv/data/app.db", catalog.Single("data/app.db", null, "s").Identity.Path);
        Assert.Equal("/srv/data/app.db", catalog.Single("/srv/data/app.db", null, "s").Identity.Path);
        Assert.Equal("/srv/data/myapp.db", catalog.Single("myapp.db", null, "s").Identity.Path);
        Assert.Equal("/srv/other/app.db", catalog.Single("other/app.db", 1, "s").Identity.Path);
        Assert.Empty(catalog.Match("app.db", storeId: 2));

        var ambiguous = Assert.Throws<FerryException>(() => catalog.Single("app.db", null, "s"));
        Assert.Equal(ErrorCodes.RestoreAmbiguousDatabase, ambiguous.Code);
        Assert.Contains("/srv/other/app.db", ambiguous.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<FerryException>(() => catalog.Single("pp.db", null, "s"));
        Assert.Equal(ErrorCodes.RestoreDatabaseNotFound, missing.Code);
        Assert.Contains("/srv/data/myapp.db", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_DamageAndGaps_ReportsEveryProblemByName()
    {
        var generation = await WriteGenerationAsync();
        var catalog = await ReplicaCatalog.LoadAsync(_storage);
        var clean = await ReplicaVerifier.VerifyAsync(_storage, catalog, catalog.Databases);
        Assert.True(clean.Ok);
        Assert.Equal(5, clean.ObjectsChecked);

        var snapshot = Path.Combine(_storage.Root, ReplicaLayout.Snapshot(Db, generation, 0));
        await File.WriteAllBytesAsync(snapshot, (await File.ReadAllBytesAsync(snapshot))[..100]);
        await _storage.DeleteAsync(ReplicaLayout.Segment(Db, generation, 2, 3));
        catalog = await ReplicaCatalog.LoadAsync(_storage);

        var report = await ReplicaVerifier.VerifyAsync(_storage, catalog, catalog.Databases);

        Assert.False(report.Ok);
        Assert.Contains(report.Problems, p => p.Error.Code == ErrorCodes.StorageCorruptObject && p.Where == ReplicaLayout.Snapshot(Db, generation, 0));
        Assert.Contains(report.Problems, p => p.Error.Code == ErrorCodes.ReplicaChainGap && p.Error.Message.Contains("2-3", StringComparison.Ordinal));
    }

    /// <summary><c>chattr +a</c> on a directory until disposed, which always runs <c>chattr -a</c> so it can be deleted.</summary>
    private sealed class AppendOnlyDirectory : IDisposable
    {
        private readonly string _path;

        private AppendOnlyDirectory(string path) => _path = path;

        public static async Task<AppendOnlyDirectory> SetAsync(string path)
        {
            await ChattrAsync("+a", path);
            return new AppendOnlyDirectory(path);
        }

        public void Dispose() => ChattrAsync("-a", _path).GetAwaiter().GetResult();

        private static async Task ChattrAsync(string flag, string path)
        {
            var chattr = Tools.Find("chattr") ?? throw new InvalidOperationException("chattr is not on PATH; this test needs it (it is never skipped)");
            var (exitCode, output) = await Tools.RunAsync(chattr, [flag, path], TimeSpan.FromSeconds(20));
            if (exitCode != 0) throw new InvalidOperationException($"chattr {flag} {path} exited {exitCode} (the test runs as root on ext4): {output}");
        }
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
