using Ferry.Errors;
using Ferry.Replica;

namespace Ferry.Restore;

/// <summary>
/// What to restore: <see cref="Database"/> is the stored absolute path or any suffix of it at a path component;
/// <see cref="Time"/> null means the latest state in storage.
/// </summary>
public sealed record RestoreRequest(string Database, string OutputPath, DateTimeOffset? Time = null, bool Verify = true, long? StoreId = null);

/// <summary>How far a restore is: bytes and segments applied of the planned total (the snapshot counts as bytes).</summary>
public readonly record struct RestoreProgress(long BytesDone, long BytesTotal, int SegmentsDone, int SegmentsTotal);

/// <summary>
/// What was restored: the database state after transactions &lt; <see cref="NextIndex"/> of <see cref="Generation"/>,
/// as captured at <see cref="RestoredTo"/>.
/// </summary>
public sealed record RestoreResult(
    ReplicaDatabase Database,
    GenerationId Generation,
    long SnapshotIndex,
    long NextIndex,
    DateTimeOffset RestoredTo,
    long TransactionsApplied,
    int SegmentsApplied,
    uint PageCount,
    string OutputPath,
    bool Verified)
{
    /// <summary>What the restore passed over and why (fenced-out generations, unreadable tokens), one line each.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// What failed once the output was published, which does not undo the restore: a temp file that could not be
    /// removed. Each is also one of the <see cref="Notes"/>, saying what to remove by hand.
    /// </summary>
    public IReadOnlyList<FerryException> Warnings { get; init; } = [];
}
