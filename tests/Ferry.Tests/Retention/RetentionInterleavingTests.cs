using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Retention;
using Ferry.TestKit;
using Ferry.TestKit.Storage;
using Ferry.Tests.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Retention;

/// <summary>
/// Pruning interleaved with the work it must not break (DESIGN §10), made deterministic by running a whole pass at
/// the exact moment an upload is in flight or a restore opens its first segment.
/// </summary>
public sealed class RetentionInterleavingTests : IDisposable
{
    private const int PageSize = 512;
    private const uint Pages = 4;
    private static readonly ReplicaDatabase Database = new(1, "/data/app.db");
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly MemoryStorage _storage;
    private readonly ReplicaWriter _writer;
    private readonly byte[] _state = new byte[Pages * PageSize];
    private readonly List<(DateTimeOffset At, byte[] State)> _commits = [];
    private readonly Random _random = new(7);
    private GenerationId _generation;
    private long _next;

    public RetentionInterleavingTests()
    {
        _storage = new MemoryStorage(_time);
        _writer = new ReplicaWriter(_storage, Database, new FenceToken(1, 1));
    }

    public void Dispose() => _dir.Dispose();

    private static RetentionPolicy Policy(TimeSpan grace) => new(TimeSpan.FromMinutes(10), grace, TimeSpan.FromSeconds(1));

    private ReplicaLifecycle Lifecycle(TimeSpan grace) =>
        new(_storage, Database, Policy(grace), _time, _writer, published: () => new PublishedPosition(_generation, _next));

    [Fact]
    public async Task PassWhileASegmentUploads_PacksAndPrunesAroundIt_TheUploadLandsAndEveryInstantRestores()
    {
        await HistoryAsync();
        var inFlight = ReplicaLayout.Segment(Database, _generation, _next, _next);
        PassResult? during = null;
        _storage.BeforePut = async name =>
        {
            if (name != inFlight || during is not null) return;
            during = await Lifecycle(TimeSpan.Zero).RunPassAsync();
            during = await Lifecycle(TimeSpan.Zero).RunPassAsync();
        };

        Commit();
        await _writer.WriteSegmentAsync(_generation, _next, [Pending!]);
        _next++;

        Assert.NotNull(during);
        Assert.True(during.Deleted > 0, "the pass during the upload deleted what it replaced and what left the window");
        Assert.Contains(inFlight, _storage.Names);
        await AssertEveryInstantRestoresAsync();
    }

    /// <summary>Where in a restore the passes run: while it plans (its first header read), or while it downloads.</summary>
    public enum RestorePhase
    {
        Planning,
        Downloading,
    }

    [Theory]
    [InlineData(RestorePhase.Planning)]
    [InlineData(RestorePhase.Downloading)]
    public async Task PassWhileARestoreRuns_GraceKeepsWhatItPlanned_RestoreIsExact(RestorePhase phase)
    {
        await HistoryAsync();
        var instant = _commits[^5].At;
        var passes = PassesDuring(phase, TimeSpan.FromMinutes(5));

        var restored = await RestoreAsync(instant);

        Assert.True(passes.Ran, $"the passes never ran while the restore was {phase}");
        Assert.Equal(StateAt(instant), restored);
    }

    [Theory]
    [InlineData(RestorePhase.Planning)]
    [InlineData(RestorePhase.Downloading)]
    public async Task PassWhileARestoreRuns_NoGrace_RestoreFailsNamingTheVanishedObject_AndWritesNothing(RestorePhase phase)
    {
        await HistoryAsync();
        var instant = _commits[^5].At;
        var passes = PassesDuring(phase, TimeSpan.Zero);
        var output = Path.Combine(_dir.Path, "vanished.db");

        var error = await Assert.ThrowsAsync<FerryException>(() => DatabaseRestore.RunAsync(_storage, new RestoreRequest(Database.Path, output, instant, Verify: false)));

        Assert.True(passes.Ran, $"the passes never ran while the restore was {phase}");
        Assert.True(error.Code == ErrorCodes.RestoreObjectVanished, error.ToString());
        Assert.Matches(@"dbs/1/!data!app\.db/generations/[0-9a-f]{20}/segments/\d{16}-\d{16}\.seg", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Path));
    }

    private Hook PassesDuring(RestorePhase phase, TimeSpan grace) =>
        phase == RestorePhase.Planning ? PassesOnFirstSegmentRead(grace) : PassesOnSecondReadOfASegment(grace);

    private CommittedTransaction? Pending { get; set; }

    private sealed class Hook
    {
        public bool Ran { get; set; }
    }

    /// <summary>The first time anything opens a segment (a restore planning or reading), two whole passes run first.</summary>
    private Hook PassesOnFirstSegmentRead(TimeSpan grace)
    {
        var hook = new Hook();
        _storage.BeforeOpen = async name =>
        {
            if (hook.Ran || !name.EndsWith(".seg", StringComparison.Ordinal)) return;
            hook.Ran = true;
            var lifecycle = Lifecycle(grace);
            await lifecycle.RunPassAsync();
            await lifecycle.RunPassAsync();
        };
        return hook;
    }

    /// <summary>
    /// The first time a segment is opened again (planning read its header, now the restore downloads it), two whole
    /// passes run first: the restore is past planning, with its downloads in flight.
    /// </summary>
    private Hook PassesOnSecondReadOfASegment(TimeSpan grace)
    {
        var hook = new Hook();
        var opened = new HashSet<string>(StringComparer.Ordinal);
        _storage.BeforeOpen = async name =>
        {
            if (!name.EndsWith(".seg", StringComparison.Ordinal)) return;
            lock (opened)
            {
                // The passes' own reads (packing) and the restore's other downloads go on meanwhile.
                if (hook.Ran || opened.Add(name)) return;
                hook.Ran = true;
            }

            var lifecycle = Lifecycle(grace);
            await lifecycle.RunPassAsync();
            await lifecycle.RunPassAsync();
        };
        return hook;
    }

    /// <summary>Two generations: one that left the 10-minute window, and a live one with minutes of one-second segments, half of them inside it (packable).</summary>
    private async Task HistoryAsync()
    {
        _random.NextBytes(_state);
        await RotateAsync();
        for (var i = 0; i < 30; i++) await CommitAndShipAsync();
        _time.Advance(TimeSpan.FromMinutes(11));
        await RotateAsync();
        for (var i = 0; i < 200; i++) await CommitAndShipAsync();
        _time.Advance(TimeSpan.FromMinutes(8));
    }

    private async Task CommitAndShipAsync()
    {
        _time.Advance(TimeSpan.FromSeconds(1));
        Commit();
        await _writer.WriteSegmentAsync(_generation, _next, [Pending!]);
        _next++;
    }

    private void Commit()
    {
        var page = new byte[PageSize];
        _random.NextBytes(page);
        var number = (uint)_random.Next(1, (int)Pages + 1);
        page.CopyTo(_state, (int)(number - 1) * PageSize);
        Pending = new CommittedTransaction(_time.GetUtcNow(), [new WalFrame(number, Pages, page)]);
        _commits.Add((_time.GetUtcNow(), [.. _state]));
    }

    private async Task RotateAsync()
    {
        var at = _time.GetUtcNow();
        _generation = await _writer.CreateGenerationAsync(at, PageSize);
        await _writer.WriteSnapshotAsync(_generation, 0, at, new BytesPageSource([.. _state], PageSize));
        _next = 0;
        _commits.Add((at, [.. _state]));
    }

    private byte[] StateAt(DateTimeOffset time) => _commits.Last(c => c.At <= time).State;

    private async Task AssertEveryInstantRestoresAsync()
    {
        var now = _time.GetUtcNow();
        foreach (var (at, state) in _commits.Where(c => c.At >= now - Policy(TimeSpan.Zero).Window).Where((_, i) => i % 7 == 0))
        {
            Assert.Equal(state, await RestoreAsync(at));
        }

        Assert.Equal(_commits[^1].State, await RestoreAsync(null));
    }

    private async Task<byte[]> RestoreAsync(DateTimeOffset? time)
    {
        var output = Path.Combine(_dir.Path, $"r-{Guid.NewGuid():N}.db");
        await DatabaseRestore.RunAsync(_storage, new RestoreRequest(Database.Path, output, time, Verify: false));
        var bytes = await File.ReadAllBytesAsync(output);
        File.Delete(output);
        return bytes;
    }
}
