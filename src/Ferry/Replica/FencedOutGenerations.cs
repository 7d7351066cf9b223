using System.Collections.Concurrent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>What storage tells of a generation for fencing: its writer's token and when it was active.</summary>
internal sealed record GenerationActivity(GenerationId Id, FenceToken? Token, DateTimeOffset CreatedAt, DateTimeOffset? LastActiveAt);

/// <summary>A fenced-out generation and the live one of a larger token it ran beside.</summary>
internal sealed record FencedOutGeneration(GenerationId Id, FenceToken Token, GenerationId Winner, FenceToken WinnerToken)
{
    public override string ToString() =>
        $"generation {Id} is not used: it was started by a writer holding {Token} while generation {Winner} of a newer writer ({WinnerToken}) was live";
}

/// <summary>The fenced-out generations of a database, and what could not be read to decide (each one line).</summary>
internal sealed record FencingReview(IReadOnlyList<FencedOutGeneration> FencedOut, IReadOnlyList<string> Unreadable)
{
    public bool IsFencedOut(GenerationId id) => FencedOut.Any(f => f.Id == id);
}

/// <summary>
/// Generations started by a process that had already lost its store (DESIGN §5): a zombie that kept shipping after
/// a newer deployment fenced it out. Such a generation was started while a generation of a larger token was live
/// (created before it, and still shipping after it started): the larger token wins. A larger token that had gone
/// quiet before (the metadata store was reset, so tokens began again) does not fence anything out.
/// </summary>
internal static class FencedOutGenerations
{
    private const int ParallelReads = 8;

    /// <summary>The rule itself, on what was read. <paramref name="generations"/> oldest first.</summary>
    public static IReadOnlyList<FencedOutGeneration> Find(IReadOnlyList<GenerationActivity> generations)
    {
        ArgumentNullException.ThrowIfNull(generations);
        var fencedOut = new List<FencedOutGeneration>();
        for (var g = 0; g < generations.Count; g++)
        {
            var candidate = generations[g];
            if (candidate.Token is not { } token) continue;
            for (var h = 0; h < g; h++)
            {
                var earlier = generations[h];
                if (earlier.Token is { } larger && IsLarger(larger, token) && earlier.LastActiveAt >= candidate.CreatedAt)
                {
                    fencedOut.Add(new FencedOutGeneration(candidate.Id, token, earlier.Id, larger));
                    break;
                }
            }
        }

        return fencedOut;
    }

    /// <summary>
    /// Reads every manifest of <paramref name="database"/> (a few bytes each) and, only where a larger token came
    /// first, that generation's last segment header; then applies <see cref="Find(IReadOnlyList{GenerationActivity})"/>.
    /// A manifest that can't be read leaves its generation's token unknown (it fences nothing out and is not fenced
    /// out), and is named in <see cref="FencingReview.Unreadable"/>.
    /// </summary>
    public static async Task<FencingReview> FindAsync(IObjectStorage storage, StoredDatabase database, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(database);
        var generations = database.Generations;
        var tokens = new FenceToken?[generations.Count];
        var unreadable = new ConcurrentQueue<string>();
        await Parallel.ForAsync(0, generations.Count, new ParallelOptions { MaxDegreeOfParallelism = ParallelReads, CancellationToken = cancellationToken }, async (i, token) =>
        {
            if (generations[i].Manifest is not { } manifest) return;
            try
            {
                tokens[i] = (await ReplicaReader.ReadManifestAsync(storage, manifest.Name, token).ConfigureAwait(false)).Token;
            }
            catch (FerryException e) when (e.Class == ErrorClass.Integrity)
            {
                unreadable.Enqueue($"the fence token of generation {generations[i].Id} is unknown: {e.ToOneLine()}");
            }
        }).ConfigureAwait(false);

        var activity = new List<GenerationActivity>(generations.Count);
        for (var i = 0; i < generations.Count; i++)
        {
            DateTimeOffset? lastActive = null;
            // Only a generation that outranks a later one needs its last activity read.
            if (tokens[i] is { } own && tokens.Skip(i + 1).Any(t => t is not null && IsLarger(own, t)))
            {
                lastActive = await LastActiveAsync(storage, generations[i], unreadable, cancellationToken).ConfigureAwait(false);
            }

            activity.Add(new GenerationActivity(generations[i].Id, tokens[i], generations[i].Id.CreatedAt, lastActive));
        }

        return new FencingReview(Find(activity), [.. unreadable]);
    }

    /// <summary>True when token <paramref name="a"/> outranks <paramref name="b"/>: a larger deploy generation, or the same with a larger epoch.</summary>
    internal static bool IsLarger(FenceToken a, FenceToken b) =>
        a.DeployGeneration > b.DeployGeneration || (a.DeployGeneration == b.DeployGeneration && a.Epoch > b.Epoch);

    /// <summary>When the generation last captured anything: its last segment's, else its last snapshot's time.</summary>
    private static async Task<DateTimeOffset?> LastActiveAsync(
        IObjectStorage storage, StoredGeneration generation, ConcurrentQueue<string> unreadable, CancellationToken cancellationToken)
    {
        try
        {
            if (generation.Segments.Count > 0)
            {
                var last = generation.Segments.MaxBy(s => s.Last)!;
                return (await ReplicaReader.ReadSegmentHeaderAsync(storage, last.Object.Name, cancellationToken).ConfigureAwait(false)).LastCapturedAt;
            }

            if (generation.Snapshots.Count > 0)
            {
                return (await ReplicaReader.ReadSnapshotHeaderAsync(storage, generation.Snapshots[^1].Object.Name, cancellationToken).ConfigureAwait(false)).CapturedAt;
            }
        }
        catch (FerryException e) when (e.Class == ErrorClass.Integrity)
        {
            unreadable.Enqueue($"when generation {generation.Id} was last active is unknown, so it fences nothing out: {e.ToOneLine()}");
        }

        return null;
    }
}
