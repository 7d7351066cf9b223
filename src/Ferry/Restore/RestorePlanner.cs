using System.Globalization;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Restore;

/// <summary>The objects a restore reads, in order: one snapshot, then segments.</summary>
public sealed record RestorePlan(
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
/// or before T, leaving out generations a fenced-out writer started (<see cref="FencedOutGenerations"/>), its newest snapshot at or before T, and the segments after that snapshot up to the one that
/// holds the last transaction captured at or before T. Reads headers only; the restore verifies every object.
/// </summary>
public static class RestorePlanner
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
            return await PlanInAsync(storage, database, generation, first, firstHeader, time, cancellationToken) with { Notes = notes };
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

        // The chain after it: contiguous segments, stopping at the first one that starts after the time. A gap before
        // that point means transactions that may belong to the restore are missing.
        var segments = new List<StoredSegment>();
        var next = snapshot.Index;
        DateTimeOffset? reached = null;
        foreach (var segment in generation.Segments)
        {
            // Past the time already: what follows (even a gap) can't hold a transaction the restore needs.
            if (time is not null && reached > time) break;
            if (segment.Last < next) continue;
            if (segment.First > next)
            {
                throw Gap(database, $"generation {generation.Id} misses transactions {next}-{segment.First - 1} (no segment holds them; the next is {segment.Object.Name})");
            }

            if (time is not null)
            {
                var header = await ReplicaReader.ReadSegmentHeaderAsync(storage, segment.Object.Name, cancellationToken);
                if (header.FirstCapturedAt > time) break;
                reached = header.LastCapturedAt;
            }

            segments.Add(segment);
            next = segment.Last + 1;
        }

        return new RestorePlan(database.Identity, generation.Id, snapshot, snapshotHeader, segments, time);
    }

    private static FerryException Gap(StoredDatabase database, string what) =>
        new(ErrorCodes.ReplicaChainGap, $"{database.Identity.Path} (store {database.Identity.StoreId}) can't be restored: {what}",
            new ErrorContext(StoreId: database.Identity.StoreId, Database: database.Identity.Path, Operation: "plan restore"));
}
