using System.Globalization;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Retention;

/// <summary>What a pass knows of one generation: its objects as listed, and what was read of them.</summary>
/// <param name="Stored">The generation as listed.</param>
/// <param name="SnapshotAt">When its snapshot 0 was captured (null: it has none).</param>
/// <param name="FencedOut">Why a restore never uses it, if it was started by a fenced-out writer.</param>
/// <param name="Review">Its segments a restore leaves out (a zombie's copies).</param>
/// <param name="Headers">Headers of its top-level segments (<see cref="RetentionPlanner.TopLevel"/>), those that could be read.</param>
/// <param name="PackLimit">Only segments whose last transaction is below this index may be packed (see <see cref="ReplicaLifecycle"/>).</param>
internal sealed record GenerationFacts(
    StoredGeneration Stored,
    DateTimeOffset? SnapshotAt,
    FencedOutGeneration? FencedOut,
    SegmentReview Review,
    IReadOnlyDictionary<StoredSegment, SegmentHeader> Headers,
    long PackLimit);

/// <summary>
/// An object to delete, why, and from when (an object is deleted only once <see cref="DueAt"/> has passed).
/// <see cref="PackedInto"/> names the pack that holds its transactions, when that is why.
/// </summary>
internal sealed record PlannedDeletion(ObjectInfo Object, string Reason, DateTimeOffset DueAt, string? PackedInto = null);

/// <summary>Consecutive segments of a generation to merge into one object holding every transaction with its own time and frames.</summary>
internal sealed record PackJob(GenerationId Generation, IReadOnlyList<StoredSegment> Segments, TimeSpan Span)
{
    public long First => Segments[0].First;

    public long Last => Segments[^1].Last;
}

/// <summary>
/// A pass's decisions for one database: what to delete now, what later (within the grace period), what to pack,
/// and the restorable window that remains.
/// </summary>
internal sealed record RetentionPlan(
    ReplicaDatabase Database,
    IReadOnlyList<PlannedDeletion> Due,
    IReadOnlyList<PlannedDeletion> Pending,
    IReadOnlyList<PackJob> Packs,
    DateTimeOffset? OldestRestorable,
    DateTimeOffset? NewestRestorable,
    int ObjectCount,
    long Bytes,
    DateTimeOffset? NextPackAt = null)
{
    /// <summary>When the next deletion falls due, if nothing else changes: a pass need not run before it.</summary>
    public DateTimeOffset? NextDueAt => Pending.Count == 0 ? null : Pending.Min(p => p.DueAt);
}

/// <summary>
/// The rules of DESIGN §10 on what a pass read (no I/O here; <see cref="ReplicaLifecycle"/> reads and acts). With
/// W the window and G the grace period, at time now:
/// <list type="bullet">
/// <item>A restore of instant t uses the newest generation, not fenced out, whose start (snapshot 0, or its creation
/// when it has none) is at or before t. So a generation is needed up to the earliest start of a later one; it leaves
/// the window W after that, and is deleted G after it left. The newest is never out of the window.</item>
/// <item>A fenced-out generation and a segment a restore leaves out are never used: deleted G after they were
/// last written. So is a generation that holds only its manifest, unless it is the newest (its snapshot may be on
/// its way).</item>
/// <item>A segment whose transactions another kept segment holds as well (a pack) is deleted G after that pack
/// was written; the pack is verified before (<see cref="ReplicaLifecycle"/>).</item>
/// <item>Segments are packed as they age: those whose first transaction falls in one closed coarse span, then in
/// one closed fine span, become one object of at most <see cref="RetentionPolicy.MaxPackBytes"/>; only whole
/// contiguous runs below the pack limit, in generations that stay.</item>
/// </list>
/// Nothing an instant of [now − W, now] needs is ever deleted: packs hold exactly the transactions, times and
/// frames of what they replace, so every restore plan gives the same state before and after.
/// </summary>
internal static class RetentionPlanner
{
    /// <summary>Where storage can't tell when an object was written, it is never due by its age.</summary>
    private static readonly DateTimeOffset Unknown = DateTimeOffset.MaxValue - TimeSpan.FromDays(36500);

    /// <summary>
    /// The segments of a generation a restore may use and no other kept segment contains (what is left once packs
    /// have replaced what they cover), by first index.
    /// </summary>
    public static IReadOnlyList<StoredSegment> TopLevel(StoredGeneration generation, SegmentReview review)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(review);
        var kept = review.Kept(generation);
        return [.. kept.Where(s => CoveredBy(s, kept) is null)];
    }

    public static RetentionPlan Plan(ReplicaDatabase database, IReadOnlyList<GenerationFacts> generations, RetentionPolicy policy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(generations);
        ArgumentNullException.ThrowIfNull(policy);
        var deletions = new List<PlannedDeletion>();
        var packs = new List<PackJob>();
        DateTimeOffset? nextPackAt = null;
        var newest = generations.Count == 0 ? null : generations[^1];

        // A restore's candidates, with the start it judges them by (RestorePlanner): neither fenced out nor empty.
        var candidates = generations
            .Where(g => g.FencedOut is null && !IsEmpty(g.Stored))
            .Select(g => (Facts: g, Start: g.SnapshotAt ?? g.Stored.Id.CreatedAt))
            .ToList();

        foreach (var facts in generations)
        {
            var generation = facts.Stored;
            if (facts.FencedOut is { } fenced)
            {
                AddAll(generation, $"generation {generation.Id} is fenced out: {fenced}", LastWritten(generation) + policy.Grace);
                continue;
            }

            if (IsEmpty(generation))
            {
                if (facts != newest) AddAll(generation, $"generation {generation.Id} holds only its manifest: it was started and never got its snapshot", LastWritten(generation) + policy.Grace);
                continue;
            }

            var index = candidates.FindIndex(c => ReferenceEquals(c.Facts, facts));
            var later = candidates.Skip(index + 1).ToList();
            if (later.Count > 0)
            {
                var successor = later.MinBy(c => c.Start);
                var neededUntil = successor.Start;
                var leftAt = neededUntil + policy.Window;
                AddAll(generation, $"generation {generation.Id} is outside the window: a restore uses it only before {Time(neededUntil)}, "
                    + $"and the window of {Describe(policy.Window)} moved past that at {Time(leftAt)}", leftAt + policy.Grace);
                if (leftAt <= now) continue;

                // Its last segments may hold only transactions stamped at or after the next generation's start, whose
                // snapshot holds them: no restore reads them once that snapshot is there.
                var successorSince = successor.Facts.Stored.SnapshotAt(0) is { } snapshot ? Written(snapshot.Object) : Unknown;
                foreach (var (segment, header) in facts.Headers)
                {
                    if (header.FirstCapturedAt < neededUntil) continue;
                    deletions.Add(new PlannedDeletion(segment.Object,
                        $"segment {segment.Object.Name} holds only transactions captured at or after {Time(neededUntil)}, when generation {successor.Facts.Stored.Id} started with a snapshot that holds them",
                        Max(Written(segment.Object), successorSince) + policy.Grace));
                }
            }

            // A generation that stays: its left-out and packed-away segments go, its aging segments are packed.
            foreach (var leftOut in facts.Review.LeftOut)
            {
                // Counted from the newer of the two: a pack of a predecessor's segments leaves them out as it lands.
                var written = Max(Written(leftOut.Segment.Object), Written(leftOut.Winner.Object));
                deletions.Add(new PlannedDeletion(leftOut.Segment.Object, leftOut.ToString(), written + policy.Grace));
            }

            var kept = facts.Review.Kept(generation);
            foreach (var segment in kept)
            {
                if (CoveredBy(segment, kept) is { } pack)
                {
                    deletions.Add(new PlannedDeletion(segment.Object,
                        $"segment {segment.Object.Name} (transactions {segment.First}-{segment.Last}) is packed into {pack.Object.Name}", Written(pack.Object) + policy.Grace,
                        pack.Object.Name));
                }
            }

            var top = TopLevel(generation, facts.Review);
            packs.AddRange(PackJobs(facts, top, policy, now));
            if (NextSpanClose(facts, top, policy, now) is { } close && (nextPackAt is null || close < nextPackAt)) nextPackAt = close;
        }

        // An object can be due for two reasons (an old generation's packed segment): the earlier counts.
        var earliest = deletions.GroupBy(d => d.Object.Name, StringComparer.Ordinal).Select(g => g.MinBy(d => d.DueAt)!).ToList();
        var due = earliest.Where(d => d.DueAt <= now).ToList();
        var pending = earliest.Where(d => d.DueAt > now).ToList();
        var deleted = due.Select(d => d.Object.Name).ToHashSet(StringComparer.Ordinal);
        var remaining = generations.SelectMany(g => Objects(g.Stored)).Where(o => !deleted.Contains(o.Name)).ToList();
        var (oldest, newestInstant) = Window(candidates, deleted);
        return new RetentionPlan(database, due, pending, packs, oldest, newestInstant, remaining.Count, remaining.Sum(o => o.Size), nextPackAt);

        void AddAll(StoredGeneration generation, string reason, DateTimeOffset dueAt)
        {
            // Segments first, then snapshots, then the manifest: a pass cut short leaves a generation that still
            // says what it is, and the next pass finds it due again.
            foreach (var segment in generation.Segments) deletions.Add(new PlannedDeletion(segment.Object, reason, dueAt));
            foreach (var snapshot in generation.Snapshots) deletions.Add(new PlannedDeletion(snapshot.Object, reason, dueAt));
            if (generation.Manifest is { } manifest) deletions.Add(new PlannedDeletion(manifest, reason, dueAt));
        }
    }

    /// <summary>The kept segment other than <paramref name="segment"/> that holds all of its transactions, widest first; null when none does.</summary>
    private static StoredSegment? CoveredBy(StoredSegment segment, IReadOnlyList<StoredSegment> kept)
    {
        StoredSegment? widest = null;
        foreach (var other in kept)
        {
            if (other.First > segment.First) break;
            if (other != segment && other.Last >= segment.Last && (widest is null || other.Last - other.First > widest.Last - widest.First)) widest = other;
        }

        return widest;
    }

    private static IEnumerable<PackJob> PackJobs(GenerationFacts facts, IReadOnlyList<StoredSegment> top, RetentionPolicy policy, DateTimeOffset now)
    {
        var taken = new HashSet<StoredSegment>();
        foreach (var span in new[] { policy.CoarseSpan, policy.FineSpan }.Distinct())
        {
            var run = new List<StoredSegment>();
            long? runBucket = null;
            foreach (var segment in top)
            {
                var fits = !taken.Contains(segment)
                    && segment.Last < facts.PackLimit
                    && facts.Headers.TryGetValue(segment, out var header)
                    && Closed(Bucket(header.FirstCapturedAt, span), span, policy, now);
                var bucket = fits ? Bucket(facts.Headers[segment].FirstCapturedAt, span) : (long?)null;
                var contiguous = run.Count > 0 && run[^1].Last + 1 == segment.First;
                if (fits && bucket == runBucket && contiguous)
                {
                    run.Add(segment);
                    continue;
                }

                foreach (var job in Chunk(run, facts.Stored.Id, span))
                {
                    taken.UnionWith(job.Segments);
                    yield return job;
                }

                run = fits ? [segment] : [];
                runBucket = bucket;
            }

            foreach (var job in Chunk(run, facts.Stored.Id, span))
            {
                taken.UnionWith(job.Segments);
                yield return job;
            }
        }
    }

    /// <summary>
    /// When the earliest span still open that holds two or more packable objects closes (and settles): a pass then
    /// packs them, even if nothing is written meanwhile, so the last minutes and hour before a database goes quiet
    /// are packed too. Null when no such span is open.
    /// </summary>
    private static DateTimeOffset? NextSpanClose(GenerationFacts facts, IReadOnlyList<StoredSegment> top, RetentionPolicy policy, DateTimeOffset now)
    {
        DateTimeOffset? earliest = null;
        foreach (var span in new[] { policy.CoarseSpan, policy.FineSpan }.Distinct())
        {
            var open = top
                .Where(segment => segment.Last < facts.PackLimit && facts.Headers.ContainsKey(segment))
                .Select(segment => Bucket(facts.Headers[segment].FirstCapturedAt, span))
                .Where(bucket => !Closed(bucket, span, policy, now))
                .GroupBy(bucket => bucket)
                .Where(group => group.Count() > 1)
                .Select(group => new DateTimeOffset((group.Key + 1) * span.Ticks, TimeSpan.Zero) + policy.Settle);
            foreach (var close in open)
            {
                if (earliest is null || close < earliest) earliest = close;
            }
        }

        return earliest;
    }

    /// <summary>A run split into packs of at most <see cref="RetentionPolicy.MaxPackBytes"/>; a piece of one segment is no pack.</summary>
    private static IEnumerable<PackJob> Chunk(List<StoredSegment> run, GenerationId generation, TimeSpan span)
    {
        var piece = new List<StoredSegment>();
        long bytes = 0;
        foreach (var segment in run)
        {
            if (piece.Count > 0 && bytes + segment.Object.Size > RetentionPolicy.MaxPackBytes)
            {
                if (piece.Count > 1) yield return new PackJob(generation, piece, span);
                piece = [];
                bytes = 0;
            }

            piece.Add(segment);
            bytes += segment.Object.Size;
        }

        if (piece.Count > 1) yield return new PackJob(generation, piece, span);
    }

    private static long Bucket(DateTimeOffset time, TimeSpan span) => time.UtcTicks / span.Ticks;

    private static bool Closed(long bucket, TimeSpan span, RetentionPolicy policy, DateTimeOffset now) =>
        new DateTimeOffset((bucket + 1) * span.Ticks, TimeSpan.Zero) + policy.Settle <= now;

    /// <summary>Oldest and newest restorable instant of what stays: the oldest start, and the newest capture of the newest generation.</summary>
    private static (DateTimeOffset? Oldest, DateTimeOffset? Newest) Window(List<(GenerationFacts Facts, DateTimeOffset Start)> candidates, HashSet<string> deleted)
    {
        var staying = candidates.Where(c => c.Facts.SnapshotAt is not null && c.Facts.Stored.SnapshotAt(0) is { } s && !deleted.Contains(s.Object.Name)).ToList();
        if (staying.Count == 0) return (null, null);
        var last = staying[^1];
        var newest = last.Facts.Headers.Values.Select(h => h.LastCapturedAt).DefaultIfEmpty(last.Start).Max();
        return (staying.Min(c => c.Start), newest);
    }

    private static bool IsEmpty(StoredGeneration generation) => generation.Snapshots.Count == 0 && generation.Segments.Count == 0;

    private static IEnumerable<ObjectInfo> Objects(StoredGeneration generation) =>
        generation.Segments.Select(s => s.Object).Concat(generation.Snapshots.Select(s => s.Object)).Concat(generation.Manifest is { } m ? [m] : []);

    /// <summary>When storage says the newest object of a generation was written.</summary>
    private static DateTimeOffset LastWritten(StoredGeneration generation) => Objects(generation).Select(Written).DefaultIfEmpty(Unknown).Max();

    private static DateTimeOffset Written(ObjectInfo info) => info.LastModified ?? Unknown;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static string Time(DateTimeOffset time) => time.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Describe(TimeSpan span) =>
        span.TotalDays >= 1 && span.TotalDays == Math.Floor(span.TotalDays) ? $"{span.TotalDays:0}d"
        : span.TotalHours >= 1 && span.TotalHours == Math.Floor(span.TotalHours) ? $"{span.TotalHours:0}h"
        : span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0.#}m"
        : $"{span.TotalSeconds:0.#}s";
}
