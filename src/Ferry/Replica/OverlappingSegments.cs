using System.Collections.Concurrent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>A segment a restore does not use: another segment of the same generation, written by a newer writer, holds some of its transactions.</summary>
internal sealed record LeftOutSegment(StoredSegment Segment, FenceToken Writer, StoredSegment Winner, FenceToken WinnerWriter)
{
    public override string ToString() =>
        $"segment {Segment.Object.Name} (transactions {Segment.First}-{Segment.Last}) is not used: it was written by a writer holding {Writer}, "
        + $"and {Winner.Object.Name} of a newer writer ({WinnerWriter}) holds transactions {Math.Max(Segment.First, Winner.First)}-{Math.Min(Segment.Last, Winner.Last)} too";
}

/// <summary>
/// What was read of a generation's overlapping segments: those left out, the headers read to decide (reused by the
/// restore planner), and what could not be read (each one line).
/// </summary>
internal sealed record SegmentReview(IReadOnlyList<LeftOutSegment> LeftOut, IReadOnlyDictionary<StoredSegment, SegmentHeader> Headers, IReadOnlyList<string> Unreadable)
{
    public static SegmentReview Empty { get; } = new([], new Dictionary<StoredSegment, SegmentHeader>(), []);

    public bool IsLeftOut(StoredSegment segment) => LeftOut.Any(l => l.Segment == segment);

    /// <summary>The generation's segments a restore may use, by first index then last.</summary>
    public IReadOnlyList<StoredSegment> Kept(StoredGeneration generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (LeftOut.Count == 0) return generation.Segments;
        var leftOut = LeftOut.Select(l => l.Segment).ToHashSet();
        return [.. generation.Segments.Where(s => !leftOut.Contains(s))];
    }

    /// <summary>One line per left-out segment and per unreadable header, for a restore's or a verify's notes.</summary>
    public IEnumerable<string> Notes => LeftOut.Select(l => l.ToString()).Concat(Unreadable);
}

/// <summary>
/// Segments of one generation that hold the same transactions (DESIGN §5). The live writer never ships a transaction
/// twice, but a process that lost its store (a zombie, fenced out by a newer deployment or by a standby of the same
/// one) may still upload what it had captured into the generation its successor continues: the same transactions,
/// stamped with the zombie's later read time. Each segment carries its writer's fence token, and where two overlap
/// the larger token wins: the segment of the smaller one is left out, so neither a zombie's frames nor its stamps
/// ever reach a restore. Segments without a token (format version 1) are never left out and leave nothing out.
/// </summary>
internal static class OverlappingSegments
{
    private const int ParallelReads = 8;

    /// <summary>The rule on what was read: <paramref name="segments"/> by first index then last, each with its writer (null: unknown).</summary>
    public static IReadOnlyList<LeftOutSegment> Find(IReadOnlyList<(StoredSegment Segment, FenceToken? Writer)> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var winners = new Dictionary<int, int>();
        foreach (var (i, j) in Pairs(segments.Select(s => s.Segment).ToList()))
        {
            if (segments[i].Writer is not { } a || segments[j].Writer is not { } b) continue;
            var (loser, winner) = FencedOutGenerations.IsLarger(a, b) ? (j, i) : FencedOutGenerations.IsLarger(b, a) ? (i, j) : (-1, -1);
            if (loser < 0) continue;

            // Named by the largest writer it overlaps.
            if (!winners.TryGetValue(loser, out var previous) || FencedOutGenerations.IsLarger(segments[winner].Writer!, segments[previous].Writer!)) winners[loser] = winner;
        }

        return [.. winners.OrderBy(w => w.Key).Select(w => new LeftOutSegment(segments[w.Key].Segment, segments[w.Key].Writer!, segments[w.Value].Segment, segments[w.Value].Writer!))];
    }

    /// <summary>
    /// Reads the headers of the segments of <paramref name="generation"/> that overlap another (the names say which:
    /// nothing is read for a generation without overlaps) and applies <see cref="Find"/>. A header that can't be read
    /// leaves its writer unknown, and is named in <see cref="SegmentReview.Unreadable"/>.
    /// </summary>
    public static async Task<SegmentReview> ReviewAsync(IObjectStorage storage, StoredGeneration generation, CancellationToken cancellationToken = default, HeaderCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(generation);
        var segments = generation.Segments;
        var overlapping = Pairs(segments).SelectMany(p => new[] { p.First, p.Second }).Distinct().Order().ToList();
        if (overlapping.Count == 0) return SegmentReview.Empty;

        var headers = new ConcurrentDictionary<StoredSegment, SegmentHeader>();
        var unreadable = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(overlapping, new ParallelOptions { MaxDegreeOfParallelism = ParallelReads, CancellationToken = cancellationToken }, async (i, token) =>
        {
            try
            {
                headers[segments[i]] = cache is null
                    ? await ReplicaReader.ReadSegmentHeaderAsync(storage, segments[i].Object.Name, token).ConfigureAwait(false)
                    : await cache.SegmentAsync(storage, segments[i].Object.Name, token).ConfigureAwait(false);
            }
            catch (FerryException e) when (e.Class == ErrorClass.Integrity)
            {
                unreadable.Enqueue($"the writer of segment {segments[i].Object.Name} is unknown, so it is neither left out nor leaves out another: {e.ToOneLine()}");
            }
        }).ConfigureAwait(false);

        var written = segments.Select(s => (s, headers.TryGetValue(s, out var h) ? h.Writer : null)).ToList();
        return new SegmentReview(Find(written), headers, [.. unreadable.Order(StringComparer.Ordinal)]);
    }

    /// <summary>Every pair (i &lt; j) of <paramref name="segments"/> (by first index then last) that holds a transaction in common.</summary>
    private static IEnumerable<(int First, int Second)> Pairs(IReadOnlyList<StoredSegment> segments)
    {
        for (var i = 0; i < segments.Count; i++)
        {
            for (var j = i + 1; j < segments.Count && segments[j].First <= segments[i].Last; j++) yield return (i, j);
        }
    }
}
