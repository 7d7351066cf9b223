using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.Tests.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Restore;

/// <summary>
/// The chain a restore applies when segments of one generation overlap (DESIGN §5): a zombie that lost its store
/// uploads what it had captured into the generation its successor continues, the same transactions stamped with its
/// later read time. The writer's token in each segment decides which copy counts, and no overlapping copy ends a
/// point-in-time chain early.
/// </summary>
public sealed class RestorePlannerTests : IDisposable
{
    private static readonly ReplicaDatabase Db = new(1, "/srv/data/app.db");
    private static readonly FenceToken Live = new(1, 2);
    private static readonly FenceToken Zombie = new(1, 1);

    /// <summary>Long after every transaction: when the zombie ran again and shipped its copies.</summary>
    private static readonly DateTimeOffset Late = SqliteHistory.T0.AddHours(1);

    /// <summary>Between the captures of transactions 3 and 4: the state then is States[4].</summary>
    private static readonly DateTimeOffset Middle = SqliteHistory.TimeOf(3).AddMilliseconds(500);

    private readonly TempDirectory _dir = new("planner");
    private readonly FileStorage _storage;
    private readonly SqliteHistory _history;
    private GenerationId _generation;

    public RestorePlannerTests()
    {
        Directory.CreateDirectory(_dir.File("storage"));
        _storage = new FileStorage(_dir.File("storage"));
        _history = new SqliteHistory(_dir.Path);
        for (var i = 0; i < 6; i++) _history.Insert(rows: 5 + (i * 7));
    }

    public void Dispose() => _dir.Dispose();

    private string Out(string name) => _dir.File(name);

    /// <summary>The live writer's generation: snapshot 0 at T0, then segments of the given ranges, each transaction captured at TimeOf(index).</summary>
    private async Task LiveWritesAsync(params (int First, int Last)[] segments)
    {
        var writer = new ReplicaWriter(_storage, Db, Live);
        _generation = await writer.CreateGenerationAsync(SqliteHistory.T0, SqliteHistory.PageSize);
        await writer.WriteSnapshotAsync(_generation, 0, SqliteHistory.T0, new BytesPageSource(_history.States[0], SqliteHistory.PageSize));
        foreach (var (first, last) in segments) await writer.WriteSegmentAsync(_generation, first, _history.Transactions[first..(last + 1)]);
    }

    /// <summary>A copy of transactions first..last shipped into the same generation by <paramref name="token"/>, captured <see cref="Late"/>.</summary>
    private async Task<string> CopyAsync(FenceToken token, int first, int last, IReadOnlyList<CommittedTransaction>? transactions = null)
    {
        var copy = (transactions ?? _history.Transactions).Skip(first).Take(last - first + 1).Select(t => t with { CapturedAt = Late }).ToList();
        return (await new ReplicaWriter(_storage, Db, token).WriteSegmentAsync(_generation, first, copy)).Name;
    }

    private async Task<RestorePlan> PlanAsync(DateTimeOffset? time)
    {
        var catalog = await ReplicaCatalog.LoadAsync(_storage);
        return await RestorePlanner.PlanAsync(_storage, catalog.Single("app.db", null, _storage.Description), time);
    }

    private Task<RestoreResult> RestoreAsync(string output, DateTimeOffset? time) =>
        DatabaseRestore.RunAsync(_storage, new RestoreRequest("app.db", Out(output), time));

    private static IEnumerable<(long, long)> Ranges(RestorePlan plan) => plan.Segments.Select(s => (s.First, s.Last));

    [Fact]
    public async Task Plan_ZombieCopySortsBeforeTheLiveSegmentAndATimeInTheMiddle_LeftOutAndTheChainReachesTheTime()
    {
        // Sorted by first index the zombie's 2-3 (captured an hour later) comes before the live 2-5: walked by first
        // index, its late time ended the chain at transaction 2, and the restore held States[2] with exit 0.
        await LiveWritesAsync((0, 1), (2, 5));
        var zombie = await CopyAsync(Zombie, 2, 3);

        var plan = await PlanAsync(Middle);
        var result = await RestoreAsync("middle.db", Middle);

        Assert.Equal([(0L, 1L), (2L, 5L)], Ranges(plan));
        Assert.Equal(_history.States[4], await File.ReadAllBytesAsync(Out("middle.db")));
        Assert.Equal(4, result.NextIndex);
        Assert.Equal(SqliteHistory.TimeOf(3), result.RestoredTo);
        var note = Assert.Single(result.Notes);
        Assert.Contains($"segment {zombie} (transactions 2-3) is not used", note, StringComparison.Ordinal);
        Assert.Contains("generation 1 epoch 1", note, StringComparison.Ordinal);
        Assert.Contains("generation 1 epoch 2", note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_ZombieCopyHoldsOtherFrames_LatestIsTheLiveWritersStateExactly()
    {
        // Frames of another history under the same indexes: applied, they would make another database (or none).
        await LiveWritesAsync((0, 1), (2, 3), (4, 5));
        using var otherDir = new TempDirectory("other");
        var other = new SqliteHistory(otherDir.Path);
        for (var i = 0; i < 6; i++) other.Insert(rows: 40 - (i * 3));
        await CopyAsync(Zombie, 0, 4, other.Transactions);

        var result = await RestoreAsync("latest.db", null);

        Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out("latest.db")));
        Assert.Equal(6, result.NextIndex);
        Assert.Contains(result.Notes, n => n.Contains("transactions 0-4) is not used", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plan_ZombieCopyOnlyPartlyHeldByTheLiveWriter_ChainGapNotTheZombiesFrames()
    {
        // The live writer's 0-1 and 4-5 leave 2-3 to the zombie's 1-3 alone: a hole to report, not a copy to trust.
        await LiveWritesAsync((0, 1), (4, 5));
        await CopyAsync(Zombie, 1, 3);

        var error = await Assert.ThrowsAsync<FerryException>(() => PlanAsync(null));

        Assert.Equal(ErrorCodes.ReplicaChainGap, error.Code);
        Assert.Contains("misses transactions 2-3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_SameWritersCopyStampedLater_NeverEndsTheChainEarly()
    {
        // No token tells these apart (an upload retried after its answer was lost, read again later): the copy
        // stamped later is not used for the time, and the chain goes on through the copy captured before it.
        await LiveWritesAsync((0, 1), (2, 5));
        await CopyAsync(Live, 0, 3);

        var plan = await PlanAsync(Middle);
        var result = await RestoreAsync("middle.db", Middle);
        var latest = await RestoreAsync("latest.db", null);

        Assert.Equal([(0L, 1L), (2L, 5L)], Ranges(plan));
        Assert.Empty(plan.Notes);
        Assert.Equal(_history.States[4], await File.ReadAllBytesAsync(Out("middle.db")));
        Assert.Equal(4, result.NextIndex);
        Assert.Equal(_history.States[^1], await File.ReadAllBytesAsync(Out("latest.db")));
    }

    [Fact]
    public async Task Plan_EveryCopyOfTheNextTransactionCapturedAfterTheTime_EndsThere()
    {
        await LiveWritesAsync((0, 1), (2, 5));
        await CopyAsync(Live, 0, 3);

        var plan = await PlanAsync(SqliteHistory.TimeOf(1).AddMilliseconds(500));

        Assert.Equal([(0L, 1L)], Ranges(plan));
    }

    [Fact]
    public async Task Verify_ZombieCopy_NotedAndNotAProblem_AHoleOnlyItFillsIsAGap()
    {
        await LiveWritesAsync((0, 1), (2, 5));
        var zombie = await CopyAsync(Zombie, 2, 3);
        var catalog = await ReplicaCatalog.LoadAsync(_storage);

        var report = await ReplicaVerifier.VerifyAsync(_storage, catalog, catalog.Databases);

        Assert.True(report.Ok, string.Join('\n', report.Problems.Select(p => p.Error.Message)));
        Assert.Contains($"segment {zombie} (transactions 2-3) is not used", Assert.Single(report.Notes), StringComparison.Ordinal);

        await _storage.DeleteAsync(ReplicaLayout.Segment(Db, _generation, 2, 5));
        await _storage.DeleteAsync(zombie);
        await CopyAsync(Live, 4, 5);
        await CopyAsync(Zombie, 1, 4);
        var after = await ReplicaCatalog.LoadAsync(_storage);
        var damaged = await ReplicaVerifier.VerifyAsync(_storage, after, after.Databases);

        var gap = Assert.Single(damaged.Problems);
        Assert.Equal(ErrorCodes.ReplicaChainGap, gap.Error.Code);
        Assert.Contains("misses transactions 2-3", gap.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Find_SegmentsWithoutAWriter_NeverLeftOutAndLeaveNothingOut()
    {
        var object0 = new StoredSegment(0, 5, new ObjectInfo("a", 1));
        var object1 = new StoredSegment(2, 3, new ObjectInfo("b", 1));
        var object2 = new StoredSegment(3, 8, new ObjectInfo("c", 1));

        var leftOut = OverlappingSegments.Find([(object0, null), (object1, new FenceToken(1, 1)), (object2, new FenceToken(2, 1))]);

        // Only b, overlapped by c's larger deploy generation; a, written before segments carried a token, stays.
        var only = Assert.Single(leftOut);
        Assert.Equal((object1, object2), (only.Segment, only.Winner));
    }
}
