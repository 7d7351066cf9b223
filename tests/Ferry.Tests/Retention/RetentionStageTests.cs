using Ferry.Capture;
using System.Diagnostics;
using System.Threading.Channels;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Retention;
using Ferry.Streams;
using Ferry.Tasks;
using Ferry.TestKit.Storage;
using Ferry.Tests.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Retention;

/// <summary>When retention passes run beside shipping, and that a process that lost its store never prunes.</summary>
public sealed class RetentionStageTests
{
    private static readonly ReplicaDatabase Database = new(1, "/data/app.db");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 5, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task IdleDatabase_AfterThePlanningPass_NoPassAndNoRequestUntilSomethingIsWritten()
    {
        var storage = new MemoryStorage(_time);
        var policy = new RetentionPolicy(TimeSpan.FromHours(1), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        var settings = new DatabaseStreamSettings { Storage = storage, StoreId = 1, Time = _time, Retention = policy };
        var shipped = Channel.CreateUnbounded<ShippedSegment>();
        var progress = new Passes();
        var stage = new RetentionStage(settings, new ReplicaWriter(storage, Database), shipped.Reader, progress);
        var run = stage.RunAsync(CancellationToken.None);

        await AdvanceUntilAsync(() => progress.Count == 1, policy.PassInterval / 4);
        Assert.Equal(1, storage.Lists);

        // Ten idle hours: nothing written, nothing due.
        for (var i = 0; i < 600; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            await Task.Yield();
        }

        Assert.Equal(1, progress.Count);
        shipped.Writer.TryWrite(new ShippedSegment(null, null));
        await AdvanceUntilAsync(() => progress.Count == 2, policy.PassInterval / 4);

        // One listing per pass, and only the two passes.
        Assert.Equal(2, storage.Lists);
        shipped.Writer.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(progress.Failures, f => Assert.Null(f));
    }

    [Fact]
    public async Task WrittenThenQuiet_ItsLastMinuteIsPackedAndWhatThePackReplacedDeleted_ThenNoMorePasses()
    {
        // Regression: passes stopped with the writes, so the segments of a database's last written minute were
        // never packed (and segments packed by the last pass stayed until something was written again).
        var storage = new MemoryStorage(_time);
        var policy = new RetentionPolicy(TimeSpan.FromHours(1), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        var writer = new ReplicaWriter(storage, Database);
        var generation = await writer.CreateGenerationAsync(_time.GetUtcNow(), 512);
        await writer.WriteSnapshotAsync(generation, 0, _time.GetUtcNow(), new BytesPageSource(new byte[1024], 512));
        long next = 0;
        var cursor = new WalCursor(0, 0, 0, 0, 0, 512, 0, 0);
        var progress = new Passes(() => new StreamPosition(generation.Value, Interlocked.Read(ref next), cursor).Serialize());
        var settings = new DatabaseStreamSettings { Storage = storage, StoreId = 1, Time = _time, Retention = policy };
        var shipped = Channel.CreateUnbounded<ShippedSegment>();
        var run = new RetentionStage(settings, writer, shipped.Reader, progress).RunAsync(CancellationToken.None);
        var segments = ReplicaLayout.GenerationPrefix(Database, generation) + "segments/";

        for (var i = 0; i < 20; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            var frame = new WalFrame(1, 2, new byte[512]);
            await writer.WriteSegmentAsync(generation, next, [new CommittedTransaction(_time.GetUtcNow(), [frame])]);
            Interlocked.Increment(ref next);
            shipped.Writer.TryWrite(new ShippedSegment(null, null));
        }

        // Nothing more is written: the minute is packed once it settles, and the twenty segments go after it.
        await AdvanceUntilAsync(() => storage.Names.Count(n => n.StartsWith(segments, StringComparison.Ordinal)) == 1, TimeSpan.FromSeconds(5));
        var packed = Assert.Single(storage.Names, n => n.StartsWith(segments, StringComparison.Ordinal));
        Assert.Equal(ReplicaLayout.Segment(Database, generation, 0, 19), packed);

        var passes = progress.Count;
        for (var i = 0; i < 600; i++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            await Task.Yield();
        }

        Assert.Equal(passes, progress.Count);
        shipped.Writer.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(progress.Failures, f => Assert.Null(f));
    }

    [Fact]
    public async Task FencedOutProcess_PassRefusedBeforeAnyDeletion_NothingDeleted()
    {
        var storage = new MemoryStorage(_time);
        var writer = new ReplicaWriter(storage, Database, new FenceToken(1, 1));
        var old = await writer.CreateGenerationAsync(_time.GetUtcNow(), 512);
        await writer.WriteSnapshotAsync(old, 0, _time.GetUtcNow(), new BytesPageSource(new byte[1024], 512));
        _time.Advance(TimeSpan.FromHours(2));
        var live = await writer.CreateGenerationAsync(_time.GetUtcNow(), 512);
        await writer.WriteSnapshotAsync(live, 0, _time.GetUtcNow(), new BytesPageSource(new byte[1024], 512));
        _time.Advance(TimeSpan.FromHours(2));
        var policy = new RetentionPolicy(TimeSpan.FromHours(1), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        var before = storage.Names;
        Assert.NotEmpty((await new ReplicaLifecycle(storage, Database, policy, _time).PlanAsync()).Due);

        var lifecycle = new ReplicaLifecycle(storage, Database, policy, _time, writer, new FencedGuard());
        var error = await Assert.ThrowsAsync<FerryException>(() => lifecycle.RunPassAsync());

        Assert.Equal(ErrorClass.Fenced, error.Class);
        Assert.Equal(before, storage.Names);
        Assert.Equal(0, storage.Deletes);
    }

    /// <summary>Advances the fake clock in steps until <paramref name="condition"/> holds (a generous real-time deadline).</summary>
    private async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan step)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the condition never held");
            _time.Advance(step);
            await Task.Delay(5);
        }
    }

    private sealed class Passes(Func<string?>? published = null) : IStreamProgress
    {
        private readonly Lock _lock = new();

        public int Count
        {
            get
            {
                lock (_lock) return Failures.Count;
            }
        }

        public List<FerryException?> Failures { get; } = [];

        public string? PublishedPosition => published?.Invoke();

        public void Progress()
        {
        }

        public void Shipped(DateTimeOffset checkpointAt, long bytes, string position)
        {
        }

        public void Recovered(FerryException error) => throw new InvalidOperationException("not expected here", error);

        public void Retention(RetentionStatus status, FerryException? failure)
        {
            lock (_lock) Failures.Add(failure);
        }
    }

    private sealed class FencedGuard : IWriteGuard
    {
        private readonly FerryException _fenced = new(ErrorCodes.FenceDeployGeneration, "a newer deployment took the store");

        public CancellationToken Aborted => new(canceled: true);

        public void ThrowIfAborted() => throw _fenced;

        public Task CheckAsync(CancellationToken cancellationToken = default) => throw _fenced;
    }
}
