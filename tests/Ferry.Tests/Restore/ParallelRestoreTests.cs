using Ferry.Errors;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.Tests.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Restore;

/// <summary>
/// One replica of a long chain, written once for the tests of <see cref="ParallelRestoreTests"/>: a real SQLite
/// history of <see cref="Transactions"/> transactions, snapshot 0, then one segment per transaction. Each test restores
/// from its own copy, so it may delete or damage objects.
/// </summary>
public sealed class LongChain : IAsyncLifetime
{
    public const int Transactions = 300;

    internal static readonly ReplicaDatabase Db = new(1, "/srv/data/app.db");

    private readonly TempDirectory _dir = new("long-chain");

    internal SqliteHistory History { get; private set; } = null!;

    internal GenerationId Generation { get; private set; }

    private string Storage => _dir.File("storage");

    internal string Segment(int index) => ReplicaLayout.Segment(Db, Generation, index, index);

    internal string Snapshot => ReplicaLayout.Snapshot(Db, Generation, 0);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Storage);
        History = new SqliteHistory(_dir.Path);
        for (var i = 0; i < Transactions; i++) History.Insert(rows: 1 + (i % 4));
        var writer = new ReplicaWriter(new FileStorage(Storage), Db);
        Generation = await writer.CreateGenerationAsync(SqliteHistory.T0, SqliteHistory.PageSize);
        await writer.WriteSnapshotAsync(Generation, 0, SqliteHistory.T0, new BytesPageSource(History.States[0], SqliteHistory.PageSize));
        for (var i = 0; i < Transactions; i++) await writer.WriteSegmentAsync(Generation, i, [History.Transactions[i]]);
    }

    /// <summary>A copy of the replica under <paramref name="destination"/>, which must not exist.</summary>
    internal void CopyTo(string destination)
    {
        foreach (var directory in Directory.GetDirectories(Storage, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(Storage, directory)));
        }

        foreach (var file in Directory.GetFiles(Storage, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(destination, Path.GetRelativePath(Storage, file)));
        }
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// A restore fetches segments ahead, up to its parallelism at once, and applies them strictly in chain order: the
/// same database whatever the parallelism; never more reads at once than asked; and on every way out (an object
/// gone since planning, a damaged one, a cancel) a coded error, nothing at --out, and no read left running.
/// </summary>
public sealed class ParallelRestoreTests : IClassFixture<LongChain>, IDisposable
{
    /// <summary>Generous: the machine is small and shared. Only a restore that is stuck runs into it.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly LongChain _chain;
    private readonly TempDirectory _dir = new("parallel-restore");
    private readonly ObservedStorage _storage;

    /// <summary>Cancelled when the test ends, so a restore a failing test left waiting does not outlive it.</summary>
    private readonly CancellationTokenSource _end = new();

    public ParallelRestoreTests(LongChain chain)
    {
        _chain = chain;
        chain.CopyTo(_dir.File("storage"));
        Directory.CreateDirectory(_dir.File("out"));
        _storage = new ObservedStorage(new FileStorage(_dir.File("storage")));
    }

    public void Dispose()
    {
        _end.Cancel();
        _end.Dispose();
        _dir.Dispose();
    }

    private string Out(string name = "restored.db") => _dir.File(Path.Combine("out", name));

    private Task<RestoreResult> RestoreAsync(
        int parallelism,
        string? output = null,
        DateTimeOffset? time = null,
        IProgress<RestoreProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var token = cancellationToken.CanBeCanceled ? cancellationToken : _end.Token;
        return DatabaseRestore.RunAsync(_storage, new RestoreRequest("app.db", output ?? Out(), time, Parallelism: parallelism), progress, token)
            .WaitAsync(Deadline, CancellationToken.None);
    }

    private static bool IsSegment(string name) => ReplicaLayout.TryParse(name, out var parsed) && parsed.Kind == ReplicaObjectKind.Segment;

    private static long FirstOf(string name) => ReplicaLayout.TryParse(name, out var parsed) ? parsed.First : -1;

    private void AssertNothingLeftInOut() => Assert.Empty(Directory.GetFileSystemEntries(_dir.File("out")));

    /// <summary>No read is running once the restore has returned, and every stream it opened is closed.</summary>
    private void AssertNoReadLeft()
    {
        Assert.Equal(0, _storage.InFlight);
        Assert.Equal(_storage.Opened, _storage.Closed);
    }

    [Fact]
    public async Task Run_LongChainAtParallelism1And8And64_SameDatabaseByteForByte()
    {
        var reports = new List<RestoreProgress>();

        var one = await RestoreAsync(1, Out("p1.db"));
        var eight = await RestoreAsync(8, Out("p8.db"), progress: new SyncProgress<RestoreProgress>(reports.Add));
        var most = await RestoreAsync(RestoreRequest.MaxParallelism, Out("p64.db"));

        var expected = _chain.History.States[^1];
        Assert.Equal(expected, await File.ReadAllBytesAsync(Out("p1.db")));
        Assert.Equal(expected, await File.ReadAllBytesAsync(Out("p8.db")));
        Assert.Equal(expected, await File.ReadAllBytesAsync(Out("p64.db")));
        Assert.All(new[] { one, eight, most }, r => Assert.Equal(LongChain.Transactions, r.NextIndex));
        Assert.All(new[] { one, eight, most }, r => Assert.Equal(LongChain.Transactions, r.TransactionsApplied));

        // Progress as segments are applied: after the snapshot, one report per segment, in chain order, up to the total.
        Assert.Equal(Enumerable.Range(0, LongChain.Transactions + 1), reports.Select(r => r.SegmentsDone));
        Assert.All(reports, r => Assert.Equal(LongChain.Transactions, r.SegmentsTotal));
        Assert.True(reports.Select(r => r.BytesDone).SequenceEqual(reports.Select(r => r.BytesDone).Order()));
        Assert.Equal(reports[^1].BytesTotal, reports[^1].BytesDone);
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Run_ToATimeInTheMiddleAtParallelism8_TheStateThenAndNothingPastItRead()
    {
        // Transaction i is captured at TimeOf(i): just before TimeOf(150), transactions 0-149 are in.
        var result = await RestoreAsync(8, time: SqliteHistory.TimeOf(150).AddMilliseconds(-1));

        Assert.Equal(_chain.History.States[150], await File.ReadAllBytesAsync(Out()));
        Assert.Equal(150, result.NextIndex);

        // Planning reads segment 150's header to find it was captured after the time; nothing reads it again, or past it.
        Assert.Single(_storage.Opens, name => name == _chain.Segment(150));
        Assert.DoesNotContain(_storage.Opens, name => IsSegment(name) && FirstOf(name) > 150);
        AssertNoReadLeft();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task Run_Parallelism_ThatManyReadsAtOnceAndNeverMore(int parallelism)
    {
        // Each segment read waits until `parallelism` reads are in flight together (the snapshot's counts), so a
        // restore that fetches ahead reaches its bound whatever the scheduling, and one that doesn't never gets there.
        var together = Task.WhenAny(_storage.WhenPeakAsync(parallelism), Task.Delay(Deadline));
        _storage.BeforeOpen = (name, token) => IsSegment(name) ? together.WaitAsync(token) : Task.CompletedTask;

        await RestoreAsync(parallelism);

        Assert.Equal(_chain.History.States[^1], await File.ReadAllBytesAsync(Out()));
        Assert.Equal(parallelism, _storage.Peak);
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Run_SegmentDeletedAfterPlanning_ObjectVanishedNamingItAndNothingLeft()
    {
        // Pruning in another process deletes a segment after this restore planned with it: deleted the moment the
        // restore first opens any segment, before that open goes ahead.
        var gone = _chain.Segment(150);
        var deleted = 0;
        _storage.BeforeOpen = async (name, token) =>
        {
            if (IsSegment(name) && Interlocked.Exchange(ref deleted, 1) == 0) Assert.True(await _storage.Inner.DeleteAsync(gone, token));
        };

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(8));

        Assert.Equal(ErrorCodes.RestoreObjectVanished, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains(gone, error.Message, StringComparison.Ordinal);
        Assert.Contains(_storage.Description, error.Message, StringComparison.Ordinal);
        AssertNothingLeftInOut();
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Run_SnapshotDeletedAfterPlanning_ObjectVanishedNamingItAndNothingLeft()
    {
        // Planning reads the snapshot's header (its first open); it is gone by the restore's own read of it.
        var opens = 0;
        _storage.BeforeOpen = async (name, token) =>
        {
            if (name == _chain.Snapshot && Interlocked.Increment(ref opens) == 2) Assert.True(await _storage.Inner.DeleteAsync(name, token));
        };

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(8));

        Assert.Equal(ErrorCodes.RestoreObjectVanished, error.Code);
        Assert.Contains(_chain.Snapshot, error.Message, StringComparison.Ordinal);
        AssertNothingLeftInOut();
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Run_DamagedSegmentWhileAnEarlierReadHangs_CorruptObjectAtOnceNotACancellation()
    {
        // The first segment's read hangs until it is cancelled; a later one, fetched meanwhile, is damaged. The restore
        // fails at once with the damaged object's error: it does not wait for its turn, and the hung read it then
        // cancels is not what it reports.
        var damaged = _chain.Segment(3);
        await DamageAsync(damaged);
        _storage.BeforeOpen = (name, token) => name == _chain.Segment(0) ? Task.Delay(Timeout.Infinite, token) : Task.CompletedTask;

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(8));

        Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
        Assert.Contains(damaged, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(error.Suppressed, e => e is FerryException { Class: ErrorClass.Cancelled } or OperationCanceledException);
        AssertNothingLeftInOut();
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Run_DamagedSegment_CorruptObjectNamingItAtEveryParallelism()
    {
        var damaged = _chain.Segment(200);
        await DamageAsync(damaged);

        foreach (var parallelism in new[] { 1, 8 })
        {
            var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(parallelism));

            Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
            Assert.Contains(damaged, error.Message, StringComparison.Ordinal);
            AssertNothingLeftInOut();
            AssertNoReadLeft();
        }
    }

    [Fact]
    public async Task Run_CancelledWhileReadsAreHeld_CancelledAndEveryReadEnded()
    {
        // Reads of segments 35 on hang until cancelled. The restore applies 0-34, then waits for 35 with the reads of
        // 35-42 in flight; once all 8 hang, the caller cancels. The restore returns only once every one has ended.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(_end.Token);
        var held = 0;
        _storage.BeforeOpen = async (name, token) =>
        {
            if (!IsSegment(name) || FirstOf(name) < 35) return;
            if (Interlocked.Increment(ref held) == 8) await cancel.CancelAsync();
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            finally
            {
                // Storage that takes a moment to answer a cancel, except for the read the restore waits on (35). Not a
                // synchronisation: a restore that awaits every read returns after these whatever they take; one that
                // awaited only the read it was waiting on would return while the others still run.
                if (FirstOf(name) > 35) await Task.Delay(TimeSpan.FromMilliseconds(300), CancellationToken.None);
            }
        };

        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(8, cancellationToken: cancel.Token));

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
        Assert.Equal(8, held);
        AssertNoReadLeft();
        AssertNothingLeftInOut();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(RestoreRequest.MaxParallelism + 1)]
    public async Task Run_ParallelismOutOfRange_InvalidArgumentAndNothingRead(int parallelism)
    {
        var error = await Assert.ThrowsAsync<FerryException>(() => RestoreAsync(parallelism));

        Assert.Equal(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.Contains("parallelism", error.Message, StringComparison.Ordinal);
        Assert.Empty(_storage.Opens);
        AssertNothingLeftInOut();
    }

    private async Task<List<StoredSegment>> SegmentsAsync() =>
        (await ReplicaCatalog.LoadAsync(_storage)).Databases.Single().Generations.Single().Segments;

    private async Task DamageAsync(string name)
    {
        var path = Path.Combine(_dir.File("storage"), name);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes);
    }

    [Fact]
    public async Task Prefetch_Parallelism8_HoldsEightAtEveryStepAndHandsOutInChainOrder()
    {
        var segments = await SegmentsAsync();
        var fetches = new SegmentPrefetch(_storage, segments, 8, long.MaxValue, _end.Token);

        fetches.StartAhead(7);
        Assert.Equal(7, fetches.Held);
        for (var i = 0; i < segments.Count; i++)
        {
            var (stored, segment) = await fetches.NextAsync();

            Assert.Same(segments[i], stored);
            Assert.Equal(i, segment.Header.First);
            Assert.Equal(Math.Min(8, segments.Count - i), fetches.Held);
        }

        Assert.Empty(await fetches.StopAsync());
        AssertNoReadLeft();
    }

    [Fact]
    public async Task Prefetch_ByteBound_HoldsAsManyAsFitAndAlwaysOne()
    {
        var segments = await SegmentsAsync();
        var sizes = segments.Select(s => s.Object.Size).Order().ToList();

        // Less than any segment: one at a time. Three typical segments: as many as fit, never more bytes than that.
        foreach (var bound in new[] { 1, 3 * sizes[sizes.Count / 2] })
        {
            var fetches = new SegmentPrefetch(_storage, segments, 8, bound, _end.Token);
            var counts = new List<int>();
            for (var i = 0; i < segments.Count; i++)
            {
                var (stored, _) = await fetches.NextAsync();
                Assert.Same(segments[i], stored);
                var unstarted = i + fetches.Held;
                Assert.True(fetches.Held == 1 || fetches.BytesHeld <= bound, $"{fetches.Held} segments of {fetches.BytesHeld} bytes held, bound {bound}");
                Assert.True(fetches.Held == 8 || unstarted == segments.Count || fetches.BytesHeld + segments[unstarted].Object.Size > bound,
                    $"segment {unstarted} would fit beside {fetches.Held} segments of {fetches.BytesHeld} bytes, bound {bound}");
                counts.Add(fetches.Held);
            }

            Assert.Empty(await fetches.StopAsync());
            if (bound == 1) Assert.All(counts, c => Assert.Equal(1, c));
            else Assert.Contains(counts, c => c is > 1 and < 8);
        }

        AssertNoReadLeft();
    }

    [Fact]
    public async Task Prefetch_SegmentNotAskedForFailsAhead_StopReturnsItsError()
    {
        // Segment 3 is damaged; the restore takes segment 0 and no more (its time was passed), while 1-7 were fetched.
        // Segment 3 is read only once 0 is taken: had it failed first, taking 0 would have thrown its error.
        var segments = await SegmentsAsync();
        await DamageAsync(_chain.Segment(3));
        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _storage.BeforeOpen = (name, token) => name == _chain.Segment(3) ? taken.Task.WaitAsync(token) : Task.CompletedTask;
        var fetches = new SegmentPrefetch(_storage, segments, 8, long.MaxValue, _end.Token);
        await fetches.NextAsync();
        taken.SetResult();

        // The failed fetch cancels the others.
        var deadline = DateTime.UtcNow + Deadline;
        while (!fetches.Token.IsCancellationRequested && DateTime.UtcNow < deadline) await Task.Delay(10);
        var failures = await fetches.StopAsync();

        var failure = Assert.Single(failures);
        Assert.Equal(ErrorCodes.StorageCorruptObject, failure.Code);
        Assert.Contains(_chain.Segment(3), failure.Message, StringComparison.Ordinal);
        AssertNoReadLeft();
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
