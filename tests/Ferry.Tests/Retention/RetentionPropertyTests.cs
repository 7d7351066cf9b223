using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Retention;
using Ferry.Storage;
using Ferry.TestKit;
using Ferry.TestKit.Storage;
using Ferry.Tests.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Retention;

/// <summary>
/// DESIGN §10 as a property, under a fake clock: for random histories (commits, flushes, generation rotations, a
/// zombie's generation, passes at random times) and random windows, after pruning every instant of
/// [now − W, now] restores to exactly the source's state then, and (with no grace period) nothing remains that no
/// such instant's restore uses.
/// </summary>
public sealed class RetentionPropertyTests : IDisposable
{
    private const int PageSize = 512;
    private const uint Pages = 6;
    private static readonly ReplicaDatabase Database = new(1, "/data/app.db");
    private readonly TempDirectory _dir = new();

    public static TheoryData<int> Seeds()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("FERRY_RETENTION_SEEDS"), out var n) ? n : 8;
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= count; seed++) data.Add(seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task AfterPruning_EveryInstantOfTheWindowRestoresExactly_AndNothingUnneededRemains(int seed)
    {
        var random = new Random(seed);
        var window = new[] { TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(7), TimeSpan.FromHours(2) }[random.Next(3)];
        var grace = new[] { TimeSpan.Zero, window / 10, window }[random.Next(3)];
        var history = new History(random, window, grace);
        await history.RunAsync(window * (3 + random.Next(3)));

        // Two passes at the end: the first packs, the second deletes what those packs replace once grace allows.
        var final = await history.PassAsync();
        final = await history.PassAsync();
        var now = history.Time.GetUtcNow();

        // Every instant a restore could tell apart: the window's ends, every commit and every snapshot in it. Each one's
        // plan says what it reads; a sample of them is restored in full.
        var instants = history.Commits.Select(c => c.At).Concat(history.SnapshotTimes)
            .Where(t => t >= now - window && t <= now)
            .Append(now - window).Append(now)
            .Distinct().Order().ToList();
        var catalog = await ReplicaCatalog.LoadAsync(history.Storage);
        var stored = catalog.Single(Database.Path, null, "test");
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var instant in instants)
        {
            var plan = await RestorePlanner.PlanAsync(history.Storage, stored, instant);
            used.Add(ReplicaLayout.Manifest(Database, plan.Generation));
            used.Add(plan.Snapshot.Object.Name);
            used.UnionWith(plan.Segments.Select(s => s.Object.Name));
        }

        foreach (var instant in instants.OrderBy(_ => random.Next()).Take(60).Append(now - window).Append(now))
        {
            var expected = history.StateAt(instant);
            var restored = await RestoreAsync(history.Storage, instant);
            Assert.True(expected.AsSpan().SequenceEqual(restored), $"seed {seed}: the restore at {instant:O} (window {window}, grace {grace}) differs from the source then");
        }

        var remaining = history.Storage.Names.ToHashSet(StringComparer.Ordinal);
        var unused = remaining.Except(used).ToList();
        if (grace == TimeSpan.Zero)
        {
            Assert.True(unused.Count == 0, $"seed {seed}: no instant of the window needs {string.Join(", ", unused)}");
        }
        else
        {
            // Within the grace period: each one is waiting to be deleted, or is a pack replacing such.
            var pending = final.Plan.Pending.Select(p => p.Object.Name).ToHashSet(StringComparer.Ordinal);
            var replacing = final.Plan.Pending.Select(p => p.PackedInto).OfType<string>().ToHashSet(StringComparer.Ordinal);
            Assert.All(unused, name => Assert.True(pending.Contains(name) || replacing.Contains(name), $"seed {seed}: {name} is neither needed nor waiting out its grace"));
        }

        Assert.True(history.Deleted > 0, $"seed {seed}: a history of several windows deletes something");
        Assert.True(history.Packed > 0, $"seed {seed}: a history of several windows packs something");
    }

    private async Task<byte[]> RestoreAsync(IObjectStorage storage, DateTimeOffset time)
    {
        var output = Path.Combine(_dir.Path, $"r-{Guid.NewGuid():N}.db");
        await DatabaseRestore.RunAsync(storage, new RestoreRequest(Database.Path, output, time, Verify: false));
        var bytes = await File.ReadAllBytesAsync(output);
        File.Delete(output);
        return bytes;
    }

    public void Dispose() => _dir.Dispose();

    private sealed record Commit(DateTimeOffset At, byte[] State);

    /// <summary>A database of <see cref="Pages"/> pages written, shipped and pruned on the fake clock.</summary>
    private sealed class History(Random random, TimeSpan window, TimeSpan grace)
    {
        private readonly byte[] _state = new byte[Pages * PageSize];
        private readonly List<CommittedTransaction> _pending = [];
        private readonly RetentionPolicy _policy = new(window, grace, TimeSpan.FromSeconds(1));
        private ReplicaWriter _writer = null!;
        private ReplicaLifecycle _lifecycle = null!;
        private GenerationId _generation;
        private DateTimeOffset _generationStart;
        private long _next;
        private DateTimeOffset _nextPass;

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

        public MemoryStorage Storage { get; private set; } = null!;

        public List<Commit> Commits { get; } = [];

        public List<DateTimeOffset> SnapshotTimes { get; } = [];

        public int Deleted { get; private set; }

        public int Packed { get; private set; }

        public async Task RunAsync(TimeSpan length)
        {
            Storage = new MemoryStorage(Time);
            _writer = new ReplicaWriter(Storage, Database, new FenceToken(2, 1));
            _lifecycle = new ReplicaLifecycle(Storage, Database, _policy, Time, _writer, published: () => new PublishedPosition(_generation, _next));
            random.NextBytes(_state);
            await RotateAsync();
            _nextPass = Time.GetUtcNow() + _policy.PassInterval;
            var end = Time.GetUtcNow() + length;
            while (Time.GetUtcNow() < end)
            {
                // Bursts and lulls: most steps are short, some jump far ahead (an idle database).
                var step = random.Next(10) == 0 ? _policy.FineSpan * (random.NextDouble() * 3) : window / 200 * random.NextDouble();
                Time.Advance(step < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : step);
                Commit();
                if (random.Next(4) == 0) await FlushAsync();
                if (Time.GetUtcNow() - _generationStart >= _policy.SnapshotInterval) await RotateAsync();
                if (random.Next(200) == 0) await ZombieGenerationAsync();
                if (Time.GetUtcNow() >= _nextPass)
                {
                    await PassAsync();
                    _nextPass = Time.GetUtcNow() + (_policy.PassInterval * (0.5 + random.NextDouble()));
                }
            }

            await FlushAsync();
            Time.Advance(TimeSpan.FromMilliseconds(1));
        }

        public async Task<PassResult> PassAsync()
        {
            var result = await _lifecycle.RunPassAsync();
            Deleted += result.Deleted;
            Packed += result.Packed;
            return result;
        }

        public byte[] StateAt(DateTimeOffset time) => Commits.Last(c => c.At <= time).State;

        private void Commit()
        {
            var frames = new List<WalFrame>();
            var pages = Enumerable.Range(1, (int)Pages).OrderBy(_ => random.Next()).Take(random.Next(1, 4)).Order().ToList();
            for (var i = 0; i < pages.Count; i++)
            {
                var page = new byte[PageSize];
                random.NextBytes(page);
                page.CopyTo(_state, (pages[i] - 1) * PageSize);
                frames.Add(new WalFrame((uint)pages[i], i == pages.Count - 1 ? Pages : 0, page));
            }

            _pending.Add(new CommittedTransaction(Time.GetUtcNow(), frames));
            Commits.Add(new Commit(Time.GetUtcNow(), [.. _state]));
        }

        private async Task FlushAsync()
        {
            if (_pending.Count == 0) return;
            await _writer.WriteSegmentAsync(_generation, _next, _pending);
            _next += _pending.Count;
            _pending.Clear();
        }

        private async Task RotateAsync()
        {
            await FlushAsync();
            var at = Time.GetUtcNow();
            _generation = await _writer.CreateGenerationAsync(at, PageSize);
            await _writer.WriteSnapshotAsync(_generation, 0, at, new BytesPageSource([.. _state], PageSize));
            _generationStart = at;
            _next = 0;
            SnapshotTimes.Add(at);
            if (Commits.Count == 0) Commits.Add(new Commit(at, [.. _state]));
        }

        /// <summary>A process fenced out by this one starts a generation of garbage while this one is live: no restore may use it.</summary>
        private async Task ZombieGenerationAsync()
        {
            var zombie = new ReplicaWriter(Storage, Database, new FenceToken(1, 1));
            var garbage = new byte[Pages * PageSize];
            random.NextBytes(garbage);
            Time.Advance(TimeSpan.FromMilliseconds(5));
            var generation = await zombie.CreateGenerationAsync(Time.GetUtcNow(), PageSize);
            await zombie.WriteSnapshotAsync(generation, 0, Time.GetUtcNow(), new BytesPageSource(garbage, PageSize));
            Time.Advance(TimeSpan.FromMilliseconds(5));

            // The live writer goes on shipping after the zombie started: that is what fences it out.
            Commit();
            await FlushAsync();
        }
    }
}
