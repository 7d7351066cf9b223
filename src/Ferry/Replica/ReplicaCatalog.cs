using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

internal sealed record StoredSnapshot(long Index, ObjectInfo Object);

internal sealed record StoredSegment(long First, long Last, ObjectInfo Object);

/// <summary>A generation as listed: its objects by name, not yet read.</summary>
internal sealed class StoredGeneration(GenerationId id)
{
    public GenerationId Id { get; } = id;

    public ObjectInfo? Manifest { get; internal set; }

    /// <summary>By index.</summary>
    public List<StoredSnapshot> Snapshots { get; } = [];

    /// <summary>By first index, then last.</summary>
    public List<StoredSegment> Segments { get; } = [];

    public StoredSnapshot? SnapshotAt(long index) => Snapshots.Find(s => s.Index == index);

    public long TotalBytes => (Manifest?.Size ?? 0) + Snapshots.Sum(s => s.Object.Size) + Segments.Sum(s => s.Object.Size);
}

/// <summary>A database as listed, with its generations oldest first.</summary>
internal sealed class StoredDatabase(ReplicaDatabase identity)
{
    public ReplicaDatabase Identity { get; } = identity;

    public List<StoredGeneration> Generations { get; } = [];
}

/// <summary>A hole in a generation's chain of transactions, [From, To] inclusive (To is null: "up to the next snapshot").</summary>
internal sealed record ChainGap(GenerationId Generation, long From, long? To, string Description);

/// <summary>
/// Everything under <c>dbs/</c> in a storage, from one listing: databases, generations, snapshots and segments by
/// name. Objects are not read here; <see cref="ReplicaReader"/> reads them.
/// </summary>
internal sealed class ReplicaCatalog
{
    private ReplicaCatalog(List<StoredDatabase> databases, List<ObjectInfo> unrecognized)
    {
        Databases = databases;
        Unrecognized = unrecognized;
    }

    /// <summary>By store id, then path.</summary>
    public IReadOnlyList<StoredDatabase> Databases { get; }

    /// <summary>Objects under <c>dbs/</c> whose names this layout does not produce.</summary>
    public IReadOnlyList<ObjectInfo> Unrecognized { get; }

    public static Task<ReplicaCatalog> LoadAsync(IObjectStorage storage, CancellationToken cancellationToken = default) =>
        LoadAsync(storage, ReplicaLayout.Root, cancellationToken);

    /// <summary>One database's objects only, from a listing of its prefix (what a retention pass reads).</summary>
    public static async Task<StoredDatabase?> LoadDatabaseAsync(IObjectStorage storage, ReplicaDatabase database, CancellationToken cancellationToken = default)
    {
        var catalog = await LoadAsync(storage, ReplicaLayout.DatabasePrefix(database), cancellationToken);
        return catalog.Databases.SingleOrDefault(d => d.Identity == database);
    }

    private static async Task<ReplicaCatalog> LoadAsync(IObjectStorage storage, string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var objects = await storage.ListAsync(prefix, cancellationToken);
        var databases = new Dictionary<ReplicaDatabase, StoredDatabase>();
        var generations = new Dictionary<(ReplicaDatabase, GenerationId), StoredGeneration>();
        var unrecognized = new List<ObjectInfo>();
        foreach (var info in objects)
        {
            if (!ReplicaLayout.TryParse(info.Name, out var name))
            {
                unrecognized.Add(info);
                continue;
            }

            if (!databases.TryGetValue(name.Database, out var database))
            {
                database = new StoredDatabase(name.Database);
                databases.Add(name.Database, database);
            }

            if (!generations.TryGetValue((name.Database, name.Generation), out var generation))
            {
                generation = new StoredGeneration(name.Generation);
                generations.Add((name.Database, name.Generation), generation);
                database.Generations.Add(generation);
            }

            switch (name.Kind)
            {
                case ReplicaObjectKind.Manifest:
                    generation.Manifest = info;
                    break;
                case ReplicaObjectKind.Snapshot:
                    generation.Snapshots.Add(new StoredSnapshot(name.First, info));
                    break;
                default:
                    generation.Segments.Add(new StoredSegment(name.First, name.Last, info));
                    break;
            }
        }

        foreach (var database in databases.Values)
        {
            database.Generations.Sort((a, b) => string.CompareOrdinal(a.Id.Value, b.Id.Value));
            foreach (var generation in database.Generations)
            {
                generation.Snapshots.Sort((a, b) => a.Index.CompareTo(b.Index));
                generation.Segments.Sort((a, b) => a.First != b.First ? a.First.CompareTo(b.First) : a.Last.CompareTo(b.Last));
            }
        }

        var sorted = databases.Values
            .OrderBy(d => d.Identity.StoreId)
            .ThenBy(d => d.Identity.Path, StringComparer.Ordinal)
            .ToList();
        return new ReplicaCatalog(sorted, unrecognized);
    }

    /// <summary>
    /// The databases <paramref name="name"/> selects: the absolute path itself, or any suffix of it that starts at a
    /// path component (<c>app.db</c>, <c>data/app.db</c>), optionally only on one store.
    /// </summary>
    public IReadOnlyList<StoredDatabase> Match(string name, long? storeId = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Databases
            .Where(d => storeId is null || d.Identity.StoreId == storeId)
            .Where(d => name.StartsWith('/') ? d.Identity.Path == name : d.Identity.Path.EndsWith("/" + name, StringComparison.Ordinal))
            .ToList();
    }

    /// <summary>Exactly one database for <paramref name="name"/>, or a Ferry error listing the candidates.</summary>
    public StoredDatabase Single(string name, long? storeId, string storageDescription)
    {
        var matches = Match(name, storeId);
        if (matches.Count == 1) return matches[0];
        var scope = storeId is null ? "" : $" on store {storeId}";
        if (matches.Count == 0)
        {
            var known = Databases.Count == 0 ? "storage holds no databases" : "stored: " + Candidates(Databases);
            throw new FerryException(ErrorCodes.RestoreDatabaseNotFound,
                $"no database in {storageDescription}{scope} matches '{name}'; {known}", new ErrorContext(Database: name));
        }

        throw new FerryException(ErrorCodes.RestoreAmbiguousDatabase,
            $"'{name}' matches {matches.Count} databases in {storageDescription}{scope}: {Candidates(matches)}; give more of the path or --store",
            new ErrorContext(Database: name));
    }

    /// <summary>
    /// What a command's <c>--db</c> and <c>--store</c> select: exactly the one database <paramref name="name"/> names
    /// (<see cref="Single"/>), or, without a name, every database (of that store).
    /// </summary>
    public IReadOnlyList<StoredDatabase> Select(string? name, long? storeId, string storageDescription) =>
        name is not null
            ? [Single(name, storeId, storageDescription)]
            : [.. Databases.Where(d => storeId is null || d.Identity.StoreId == storeId)];

    /// <summary>
    /// The holes in a generation's chain from <paramref name="fromIndex"/> on: transactions no segment holds before
    /// the last one stored, snapshots beyond the chain's end, and (from 0) a missing first snapshot. Segments in
    /// <paramref name="leftOut"/> (a fenced-out writer's, <see cref="OverlappingSegments"/>) fill no hole.
    /// </summary>
    public static IReadOnlyList<ChainGap> FindGaps(StoredGeneration generation, long fromIndex = 0, IReadOnlySet<StoredSegment>? leftOut = null)
    {
        ArgumentNullException.ThrowIfNull(generation);
        var gaps = new List<ChainGap>();
        if (fromIndex == 0 && generation.SnapshotAt(0) is null)
        {
            gaps.Add(new ChainGap(generation.Id, 0, null, $"generation {generation.Id} has no snapshot at index 0"));
        }

        var next = fromIndex;
        foreach (var segment in generation.Segments)
        {
            if (segment.Last < next || leftOut?.Contains(segment) == true) continue;
            if (segment.First > next)
            {
                gaps.Add(new ChainGap(generation.Id, next, segment.First - 1,
                    $"generation {generation.Id} misses transactions {next}-{segment.First - 1} (no segment holds them; the next is {segment.Object.Name})"));
            }

            next = segment.Last + 1;
        }

        foreach (var snapshot in generation.Snapshots.Where(s => s.Index > next))
        {
            gaps.Add(new ChainGap(generation.Id, next, snapshot.Index - 1,
                $"generation {generation.Id} misses transactions {next}-{snapshot.Index - 1} before snapshot {snapshot.Object.Name}"));
            next = snapshot.Index;
        }

        return gaps;
    }

    private static string Candidates(IEnumerable<StoredDatabase> databases)
    {
        var list = databases.Select(d => d.Identity.ToString()).ToList();
        return list.Count <= 20 ? string.Join(", ", list) : string.Join(", ", list.Take(20)) + $", and {list.Count - 20} more";
    }
}
