using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>One object a <see cref="ReplicaWriter"/> wrote: its name, size, and whether an earlier attempt had landed it.</summary>
internal sealed record ReplicaWrite(string Name, long Size, bool AlreadyLanded);

/// <summary>
/// Writes one database's replica objects: generations (manifest), snapshots and segments. Every object is
/// immutable and written create-if-absent, so every method is safe to retry: when the name is taken and the
/// object there is identical, the earlier attempt landed (<see cref="ReplicaWrite.AlreadyLanded"/>); when it differs,
/// someone else wrote there and that is <c>FERRY:Storage:ObjectConflict</c>, never accepted.
/// Knows nothing of capture or the metadata store: positions and times come from the caller, and whether this
/// process may still write from its <see cref="IWriteGuard"/>, asked before every object.
/// </summary>
internal sealed class ReplicaWriter
{
    private readonly IObjectStorage _storage;
    private readonly FenceToken _fence;
    private readonly IWriteGuard? _guard;

    /// <param name="storage">Where the objects go.</param>
    /// <param name="database">Whose objects they are.</param>
    /// <param name="fence">The writing process's fence token, recorded in each generation it starts and in each segment it writes (none: 0/0).</param>
    /// <param name="guard">Asked before every object is written (DESIGN §5); none for a writer outside an agent.</param>
    public ReplicaWriter(IObjectStorage storage, ReplicaDatabase database, FenceToken? fence = null, IWriteGuard? guard = null)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(database);

        // Validates the store id and that the path can become a name, before anything is written.
        _ = ReplicaLayout.DatabasePrefix(database);
        _storage = storage;
        _fence = fence ?? new FenceToken(0, 0);
        _guard = guard;
        Database = database;
    }

    public ReplicaDatabase Database { get; }

    /// <summary>
    /// Starts a new generation: a fresh id (sorting by <paramref name="createdAt"/>) and its manifest. The caller
    /// then writes the snapshot at index 0 before any segment.
    /// </summary>
    public async Task<GenerationId> CreateGenerationAsync(DateTimeOffset createdAt, int pageSize, CancellationToken cancellationToken = default)
    {
        if (!ReplicaFormat.IsValidPageSize(pageSize)) throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "a SQLite page size is a power of two from 512 to 65536");
        var generation = GenerationId.New(createdAt);
        var manifest = new GenerationManifest(ReplicaFormat.Version, Database.StoreId, Database.Path, generation.Value, createdAt, pageSize, _fence.DeployGeneration, _fence.Epoch);
        await PutBytesAsync(ReplicaLayout.Manifest(Database, generation), manifest.ToJson(), cancellationToken);
        return generation;
    }

    /// <summary>
    /// Streams a snapshot of <paramref name="pages"/> as the database after transactions &lt; <paramref name="index"/>.
    /// Pages are read and compressed as storage consumes them; nothing is staged locally.
    /// </summary>
    public async Task<ReplicaWrite> WriteSnapshotAsync(
        GenerationId generation,
        long index,
        DateTimeOffset capturedAt,
        IPageSource pages,
        CancellationToken cancellationToken = default)
    {
        var name = ReplicaLayout.Snapshot(Database, generation, index);
        await using var encoder = new SnapshotEncoderStream(pages, generation, index, capturedAt);
        if (_guard is not null) await _guard.CheckAsync(cancellationToken);
        var created = await _storage.PutIfAbsentAsync(name, encoder, cancellationToken);
        if (created) return new ReplicaWrite(name, encoder.Position, AlreadyLanded: false);

        // Name taken: the encoder was drained into a temp file that was discarded, so its checksum is known. The
        // object there is ours only if it verifies and carries the same checksum (the checksum covers the header
        // with its CapturedAt and every page).
        var existing = await _storage.OpenReadAsync(name, cancellationToken);
        await using (existing)
        {
            var landed = await SnapshotFormat.ReadAsync(existing, name, null, null, cancellationToken);
            if (landed.Checksum != encoder.Checksum) throw Conflict(name);
            return new ReplicaWrite(name, landed.Length, AlreadyLanded: true);
        }
    }

    /// <summary>Writes transactions <paramref name="firstIndex"/>.. of <paramref name="generation"/> as one segment.</summary>
    public async Task<ReplicaWrite> WriteSegmentAsync(
        GenerationId generation,
        long firstIndex,
        IReadOnlyList<CommittedTransaction> transactions,
        CancellationToken cancellationToken = default)
    {
        var (name, bytes) = EncodeSegment(generation, firstIndex, transactions);
        return await PutBytesAsync(name, bytes, cancellationToken);
    }

    /// <summary>
    /// Writes transactions merged from several segments as one (a pack, DESIGN §10), then reads it back whole and
    /// checks it byte for byte: only a verified pack may replace what it holds. A pack that reads back different is
    /// <c>FERRY:Retention:PackMismatch</c>.
    /// </summary>
    public async Task<ReplicaWrite> WritePackAsync(
        GenerationId generation,
        long firstIndex,
        IReadOnlyList<CommittedTransaction> transactions,
        CancellationToken cancellationToken = default)
    {
        var (name, bytes) = EncodeSegment(generation, firstIndex, transactions);
        var written = await PutBytesAsync(name, bytes, cancellationToken);
        var landed = await _storage.ReadAllBytesAsync(name, cancellationToken);
        if (!landed.AsSpan().SequenceEqual(bytes))
        {
            throw new FerryException(ErrorCodes.RetentionPackMismatch,
                $"pack {name} reads back from {_storage.Description} as {landed.Length} bytes that differ from the {bytes.Length} written; the segments it holds are kept",
                new ErrorContext(StoreId: Database.StoreId, Database: Database.Path, Operation: $"verify {name}"));
        }

        return written;
    }

    private (string Name, byte[] Bytes) EncodeSegment(GenerationId generation, long firstIndex, IReadOnlyList<CommittedTransaction> transactions)
    {
        ArgumentNullException.ThrowIfNull(transactions);
        return (ReplicaLayout.Segment(Database, generation, firstIndex, firstIndex + transactions.Count - 1),
            SegmentFormat.Encode(generation, firstIndex, transactions, _fence));
    }

    private async Task<ReplicaWrite> PutBytesAsync(string name, byte[] bytes, CancellationToken cancellationToken)
    {
        if (_guard is not null) await _guard.CheckAsync(cancellationToken);
        using (var content = new MemoryStream(bytes, writable: false))
        {
            if (await _storage.PutIfAbsentAsync(name, content, cancellationToken)) return new ReplicaWrite(name, bytes.Length, AlreadyLanded: false);
        }

        var existing = await _storage.ReadAllBytesAsync(name, cancellationToken);
        if (!existing.AsSpan().SequenceEqual(bytes)) throw Conflict(name);
        return new ReplicaWrite(name, bytes.Length, AlreadyLanded: true);
    }

    private FerryException Conflict(string name) =>
        new(ErrorCodes.StorageObjectConflict,
            $"object {name} exists in {_storage.Description} with different content: another writer is backing up {Database.Path} as store {Database.StoreId}",
            new ErrorContext(StoreId: Database.StoreId, Database: Database.Path, Operation: $"put {name}"));
}
