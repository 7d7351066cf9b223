using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>One thing wrong in storage: where (an object name or a generation) and the Ferry error describing it.</summary>
internal sealed record VerifyProblem(string Where, FerryException Error);

/// <summary>What <see cref="ReplicaVerifier"/> found.</summary>
internal sealed record VerifyReport(int Databases, int ObjectsChecked, long BytesChecked, IReadOnlyList<VerifyProblem> Problems, IReadOnlyList<ObjectInfo> Unrecognized)
{
    public bool Ok => Problems.Count == 0;

    /// <summary>What a restore passes over and why (segments a fenced-out writer shipped), one line each: not problems.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>
/// Reads every replica object of the selected databases in full, verifying checksums, formats, that headers
/// match names and manifests, and that every generation's chain starts with a snapshot and has no gap. The chain is
/// the one a restore uses: segments a fenced-out writer shipped beside a newer writer's are left out of it
/// (<see cref="OverlappingSegments"/>, each named in <see cref="VerifyReport.Notes"/>), so a hole only they fill is a
/// gap. It reports every problem it finds rather than stopping at the first.
/// </summary>
internal static class ReplicaVerifier
{
    public static async Task<VerifyReport> VerifyAsync(
        IObjectStorage storage,
        ReplicaCatalog catalog,
        IReadOnlyList<StoredDatabase> databases,
        IProgress<string>? checkedObject = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(databases);
        var problems = new List<VerifyProblem>();
        var notes = new List<string>();
        var objects = 0;
        long bytes = 0;

        async Task CheckAsync(ObjectInfo info, Func<Task> read)
        {
            try
            {
                await read();
            }
            catch (FerryException e) when (e.Class != ErrorClass.Cancelled)
            {
                // Recorded, not swallowed: verify's job is to list every damaged object.
                problems.Add(new VerifyProblem(info.Name, e));
            }

            objects++;
            bytes += info.Size;
            checkedObject?.Report(info.Name);
        }

        foreach (var database in databases)
        {
            foreach (var generation in database.Generations)
            {
                var where = ReplicaLayout.GenerationPrefix(database.Identity, generation.Id);
                int? pageSize = null;
                if (generation.Manifest is { } manifestInfo)
                {
                    await CheckAsync(manifestInfo, async () => pageSize = (await ReplicaReader.ReadManifestAsync(storage, manifestInfo.Name, cancellationToken)).PageSize);
                }
                else
                {
                    problems.Add(new VerifyProblem(where, ReplicaFormat.Corrupt(where + "manifest.json", "it is missing")));
                }

                foreach (var snapshot in generation.Snapshots)
                {
                    await CheckAsync(snapshot.Object, async () =>
                    {
                        var read = await ReplicaReader.ReadSnapshotAsync(storage, snapshot.Object.Name, null, cancellationToken);
                        CheckPageSize(snapshot.Object.Name, read.Header.PageSize, pageSize);
                    });
                }

                foreach (var segment in generation.Segments)
                {
                    await CheckAsync(segment.Object, async () =>
                    {
                        var read = await ReplicaReader.ReadSegmentAsync(storage, segment.Object.Name, cancellationToken);
                        CheckPageSize(segment.Object.Name, read.Header.PageSize, pageSize);
                    });
                }

                var review = await OverlappingSegments.ReviewAsync(storage, generation, cancellationToken);
                notes.AddRange(review.Notes);
                foreach (var gap in ReplicaCatalog.FindGaps(generation, leftOut: review.LeftOut.Select(l => l.Segment).ToHashSet()))
                {
                    problems.Add(new VerifyProblem(where, new FerryException(ErrorCodes.ReplicaChainGap, gap.Description,
                        new ErrorContext(StoreId: database.Identity.StoreId, Database: database.Identity.Path, Operation: "verify"))));
                }
            }
        }

        return new VerifyReport(databases.Count, objects, bytes, problems, catalog.Unrecognized) { Notes = notes };
    }

    private static void CheckPageSize(string name, int actual, int? manifest)
    {
        if (manifest is { } expected && expected != actual)
        {
            throw ReplicaFormat.Corrupt(name, $"its page size {actual} differs from the generation manifest's {expected}");
        }
    }
}
