using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Retention;

/// <summary>Where a database's position stands in the metadata store: what a successor would continue from.</summary>
internal readonly record struct PublishedPosition(GenerationId Generation, long NextIndex);

/// <summary>What one pass did.</summary>
internal sealed record PassResult(RetentionPlan Plan, int Packed, int PackedSegments, int Deleted, long DeletedBytes);

/// <summary>
/// Reads one database's replica, plans with <see cref="RetentionPlanner"/>, and acts: writes and verifies packs,
/// then deletes what is due. Used by the agent that owns the store (as a step of each stream, under its fence) and
/// by <c>ferry storage prune</c>.
/// <list type="bullet">
/// <item>Packing never reaches past the position published in the metadata store: a successor continues from it
/// and may ship the transactions after it again, with a larger token that would leave out a pack holding them.</item>
/// <item>A segment is deleted as packed only once the pack holding it was verified in this process (written and
/// read back, or read and decoded).</item>
/// <item>The guard is asked before every write and every deletion: a fenced-out process neither packs nor prunes.</item>
/// </list>
/// </summary>
internal sealed class ReplicaLifecycle
{
    private readonly IObjectStorage _storage;
    private readonly ReplicaDatabase _database;
    private readonly RetentionPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ReplicaWriter? _writer;
    private readonly IWriteGuard? _guard;
    private readonly Func<PublishedPosition?> _published;
    private readonly HeaderCache _headers;
    private readonly HashSet<string> _verified = new(StringComparer.Ordinal);

    /// <param name="writer">Writes packs (with this process's fence token); none: the pass only prunes.</param>
    /// <param name="published">The database's position in the metadata store; none: nothing is packed.</param>
    public ReplicaLifecycle(
        IObjectStorage storage,
        ReplicaDatabase database,
        RetentionPolicy policy,
        TimeProvider? time = null,
        ReplicaWriter? writer = null,
        IWriteGuard? guard = null,
        Func<PublishedPosition?>? published = null,
        HeaderCache? headers = null)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(policy);
        _storage = storage;
        _database = database;
        _policy = policy;
        _time = time ?? TimeProvider.System;
        _writer = writer;
        _guard = guard;
        _published = published ?? (() => null);
        _headers = headers ?? new HeaderCache();
    }

    public HeaderCache Headers => _headers;

    /// <summary>Lists the database and decides; reads headers it has not seen, writes nothing.</summary>
    public async Task<RetentionPlan> PlanAsync(Action? progress = null, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var stored = await ReplicaCatalog.LoadDatabaseAsync(_storage, _database, cancellationToken).ConfigureAwait(false);
        progress?.Invoke();
        if (stored is null) return new RetentionPlan(_database, [], [], [], null, null, 0, 0);
        _headers.KeepOnly(stored.Generations.SelectMany(Names).ToHashSet(StringComparer.Ordinal));

        var fencing = await FencedOutGenerations.FindAsync(_storage, stored, cancellationToken).ConfigureAwait(false);
        progress?.Invoke();
        var published = _published();
        var facts = new List<GenerationFacts>(stored.Generations.Count);
        for (var g = 0; g < stored.Generations.Count; g++)
        {
            var generation = stored.Generations[g];
            var fencedOut = fencing.FencedOut.FirstOrDefault(f => f.Id == generation.Id);
            DateTimeOffset? snapshotAt = null;
            var review = SegmentReview.Empty;
            var headers = new Dictionary<StoredSegment, SegmentHeader>();
            if (fencedOut is null)
            {
                if (generation.SnapshotAt(0) is { } first) snapshotAt = (await _headers.SnapshotAsync(_storage, first.Object.Name, cancellationToken).ConfigureAwait(false)).CapturedAt;
                review = await OverlappingSegments.ReviewAsync(_storage, generation, cancellationToken, _headers).ConfigureAwait(false);
                foreach (var segment in RetentionPlanner.TopLevel(generation, review))
                {
                    headers[segment] = await _headers.SegmentAsync(_storage, segment.Object.Name, cancellationToken).ConfigureAwait(false);
                    progress?.Invoke();
                }
            }

            facts.Add(new GenerationFacts(generation, snapshotAt, fencedOut, review, headers, PackLimit(generation.Id, published)));
        }

        return RetentionPlanner.Plan(_database, facts, _policy, now);
    }

    /// <summary>One pass: plan, pack, verify, delete what is due. <paramref name="progress"/> is called after every object read, written or deleted.</summary>
    public async Task<PassResult> RunPassAsync(Action? progress = null, CancellationToken cancellationToken = default)
    {
        var plan = await PlanAsync(progress, cancellationToken).ConfigureAwait(false);
        var packed = 0;
        var packedSegments = 0;
        if (_writer is not null)
        {
            foreach (var job in plan.Packs)
            {
                await PackAsync(job, progress, cancellationToken).ConfigureAwait(false);
                packed++;
                packedSegments += job.Segments.Count;
            }
        }

        var (deleted, bytes) = await DeleteAsync(plan.Due, progress, cancellationToken).ConfigureAwait(false);
        return new PassResult(plan, packed, packedSegments, deleted, bytes);
    }

    /// <summary>Deletes <paramref name="due"/> (as planned), verifying first every pack a deletion relies on.</summary>
    public async Task<(int Deleted, long Bytes)> DeleteAsync(IReadOnlyList<PlannedDeletion> due, Action? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(due);
        var deleted = 0;
        long bytes = 0;
        foreach (var deletion in due)
        {
            if (deletion.PackedInto is { } pack && !_verified.Contains(pack))
            {
                // Written by another process (or before a restart): decoded whole, checksum and name, before it replaces anything.
                var read = await ReplicaReader.ReadSegmentAsync(_storage, pack, cancellationToken).ConfigureAwait(false);
                _headers.Add(pack, read.Header);
                _verified.Add(pack);
                progress?.Invoke();
            }

            if (_guard is not null) await _guard.CheckAsync(cancellationToken).ConfigureAwait(false);
            if (await _storage.DeleteAsync(deletion.Object.Name, cancellationToken).ConfigureAwait(false))
            {
                deleted++;
                bytes += deletion.Object.Size;
            }

            progress?.Invoke();
        }

        return (deleted, bytes);
    }

    private async Task PackAsync(PackJob job, Action? progress, CancellationToken cancellationToken)
    {
        var transactions = new List<CommittedTransaction>();
        var next = job.First;
        foreach (var segment in job.Segments)
        {
            var read = await ReplicaReader.ReadSegmentAsync(_storage, segment.Object.Name, cancellationToken).ConfigureAwait(false);
            if (read.Header.First != next)
            {
                throw new FerryException(ErrorCodes.Internal, $"pack of {_database.Path} expected transaction {next} at the start of {segment.Object.Name}, found {read.Header.First}",
                    new ErrorContext(StoreId: _database.StoreId, Database: _database.Path, Operation: "pack"));
            }

            transactions.AddRange(read.Transactions);
            next = read.Header.Last + 1;
            progress?.Invoke();
        }

        var written = await _writer!.WritePackAsync(job.Generation, job.First, transactions, cancellationToken).ConfigureAwait(false);
        _verified.Add(written.Name);
        progress?.Invoke();
    }

    /// <summary>Segments with a last index below this may be packed: all of a generation older than the published one, none of a newer.</summary>
    private static long PackLimit(GenerationId generation, PublishedPosition? published)
    {
        if (published is not { } position) return 0;
        var order = string.CompareOrdinal(generation.Value, position.Generation.Value);
        return order < 0 ? long.MaxValue : order == 0 ? position.NextIndex : 0;
    }

    private static IEnumerable<string> Names(StoredGeneration generation) =>
        generation.Segments.Select(s => s.Object.Name).Concat(generation.Snapshots.Select(s => s.Object.Name));
}
