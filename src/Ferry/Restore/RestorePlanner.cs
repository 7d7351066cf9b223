using System.Globalization;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Restore;

/// <summary>The objects a restore reads, in order: one snapshot, then segments.</summary>
internal sealed record RestorePlan(
    ReplicaDatabase Database,
    GenerationId Generation,
    StoredSnapshot Snapshot,
    SnapshotHeader SnapshotHeader,
    IReadOnlyList<StoredSegment> Segments,
    DateTimeOffset? Time)
{
    /// <summary>What the plan passed over and why: fenced-out generations, tokens that could not be read.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    public long TotalBytes => Snapshot.Object.Size + Segments.Sum(s => s.Object.Size);
}

/// <summary>
/// Picks what to read for "as of time T" (or latest): the newest generation whose first snapshot was captured at
/// or before T, leaving out generations a fenced-out writer started (<see cref="FencedOutGenerations"/>), its newest
/// snapshot at or before T, and the segments after that snapshot up to the one that holds the last transaction
/// captured at or before T, leaving out segments a fenced-out writer shipped into it (<see cref="OverlappingSegments"/>).
/// Reads headers only; the restore verifies every object.
/// </summary>
internal static class RestorePlanner
{
    public static async Task<RestorePlan> PlanAsync(IObjectStorage storage, StoredDatabase database, DateTimeOffset? time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(database);
        DateTimeOffset? earliest = null;
        var fencing = await FencedOutGenerations.FindAsync(storage, database, cancellationToken);
        IReadOnlyList<string> notes = [.. fencing.FencedOut.Select(f => f.ToString()), .. fencing.Unreadable];
        for (var g = database.Generations.Count - 1; g >= 0; g--)
        {
            var generation = database.Generations[g];
            if (fencing.IsFencedOut(generation.Id)) continue;
            var first = generation.SnapshotAt(0);
            if (first is null)
            {
                // A generation with only its manifest was started and never got its snapshot: it holds nothing.
                if (generation.Snapshots.Count == 0 && generation.Segments.Count == 0) continue;
                if (time is not null && generation.Id.CreatedAt > time) continue;
                throw Gap(database, $"generation {generation.Id} has no snapshot at index 0, so nothing after its start can be restored");
            }

            var firstHeader = await ReplicaReader.ReadSnapshotHeaderAsync(storage, first.Object.Name, cancellationToken);
            earliest = firstHeader.CapturedAt;
            if (time is not null && firstHeader.CapturedAt > time) continue;
            var plan = await PlanInAsync(storage, database, generation, first, firstHeader, time, cancellationToken);
            return plan with { Notes = [.. notes, .. plan.Notes] };
        }

        if (earliest is null)
        {
            throw Gap(database, "storage holds no snapshot of it");
        }

        throw new FerryException(ErrorCodes.RestoreTimeBeforeFirstSnapshot,
            $"{time!.Value.ToString("O", CultureInfo.InvariantCulture)} is before the first snapshot of {database.Identity.Path}, captured at {earliest.Value.ToString("O", CultureInfo.InvariantCulture)}",
            new ErrorContext(StoreId: database.Identity.StoreId, Database: database.Identity.Path, Operation: "plan restore"));
    }

    private static async Task<RestorePlan> PlanInAsync(
        IObjectStorage storage,
        StoredDatabase database,
        StoredGeneration generation,
        StoredSnapshot first,
        SnapshotHeader firstHeader,
        DateTimeOffset? time,
        CancellationToken cancellationToken)
    {
        // The newest snapshot at or before the time (snapshot 0 qualifies, so there is one).
        var snapshot = first;
        var snapshotHeader = firstHeader;
        for (var s = generation.Snapshots.Count - 1; s >= 0 && generation.Snapshots[s].Index > 0; s--)
        {
            var header = await ReplicaReader.ReadSnapshotHeaderAsync(storage, generation.Snapshots[s].Object.Name, cancellationToken);
            if (time is null || header.CapturedAt <= time)
            {
                snapshot = generation.Snapshots[s];
                snapshotHeader = header;
                break;
            }
        }

        // The chain after it, from the segments the writers' tokens leave in (a zombie's copies are left out).
        var review = await OverlappingSegments.ReviewAsync(storage, generation, cancellationToken);
        var segments = await ChainAsync(storage, database, generation, review, snapshot.Index, time, cancellationToken);
        return new RestorePlan(database.Identity, generation.Id, snapshot, snapshotHeader, segments, time) { Notes = [.. review.Notes] };
    }

    /// <summary>
    /// The segments to apply from transaction <paramref name="from"/> on, each holding the next transaction needed:
    /// <list type="number">
    /// <item>Of the segments that hold it (several, where writers overlapped), one captured wholly at or before the
    /// time, the one reaching furthest; any one reaching furthest for the latest state.</item>
    /// <item>Else one whose first transaction was captured at or before the time: the chain ends in it (the restore
    /// stops at its first transaction captured after the time).</item>
    /// <item>Else the chain ends: every copy of the next transaction was captured after the time.</item>
    /// </list>
    /// So an overlapping copy stamped later (a zombie's, or a retried upload's) never ends the chain early: a
    /// point-in-time restore is the state after the last transaction captured at or before the time. A transaction
    /// that no segment holds, before that point, is a gap. Reads segment headers only when restoring to a time.
    /// </summary>
    private static async Task<List<StoredSegment>> ChainAsync(
        IObjectStorage storage,
        StoredDatabase database,
        StoredGeneration generation,
        SegmentReview review,
        long from,
        DateTimeOffset? time,
        CancellationToken cancellationToken)
    {
        var kept = review.Kept(generation);
        var headers = new Dictionary<StoredSegment, SegmentHeader>(review.Headers);
        async Task<SegmentHeader> HeaderAsync(StoredSegment segment)
        {
            if (!headers.TryGetValue(segment, out var header))
            {
                header = await ReplicaReader.ReadSegmentHeaderAsync(storage, segment.Object.Name, cancellationToken);
                headers[segment] = header;
            }

            return header;
        }

        var chain = new List<StoredSegment>();
        var holding = new List<StoredSegment>();
        var next = from;
        var upcoming = 0;
        while (true)
        {
            // The segments that hold transaction `next`: kept is by first index, so a sweep finds them.
            while (upcoming < kept.Count && kept[upcoming].First <= next) holding.Add(kept[upcoming++]);
            holding.RemoveAll(s => s.Last < next);
            if (holding.Count == 0)
            {
                if (upcoming == kept.Count) return chain;
                throw Gap(database, $"generation {generation.Id} misses transactions {next}-{kept[upcoming].First - 1} (no segment holds them; the next is {kept[upcoming].Object.Name})");
            }

            if (time is null)
            {
                next = Take(holding.MaxBy(s => s.Last)!);
                continue;
            }

            StoredSegment? whole = null;
            StoredSegment? ending = null;
            foreach (var segment in holding)
            {
                var header = await HeaderAsync(segment);
                if (header.LastCapturedAt <= time)
                {
                    if (whole is null || segment.Last > whole.Last) whole = segment;
                }
                else if (header.FirstCapturedAt <= time && (ending is null || segment.Last > ending.Last))
                {
                    ending = segment;
                }
            }

            if (whole is not null)
            {
                next = Take(whole);
                continue;
            }

            if (ending is not null) chain.Add(ending);
            return chain;
        }

        long Take(StoredSegment segment)
        {
            chain.Add(segment);
            return segment.Last + 1;
        }

    }

    private static FerryException Gap(StoredDatabase database, string what) =>
        new(ErrorCodes.ReplicaChainGap, $"{database.Identity.Path} (store {database.Identity.StoreId}) can't be restored: {what}",
            new ErrorContext(StoreId: database.Identity.StoreId, Database: database.Identity.Path, Operation: "plan restore"));
}
