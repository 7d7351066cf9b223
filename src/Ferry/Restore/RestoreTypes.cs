using Ferry.Errors;
using Ferry.Replica;

namespace Ferry.Restore;

/// <summary>
/// What to restore: <see cref="Database"/> is the stored absolute path or any suffix of it at a path component;
/// <see cref="Time"/> null means the latest state in storage. <see cref="Parallelism"/> is how many objects are
/// downloaded at once (the snapshot and the segments after it), from 1 to <see cref="MaxParallelism"/>; segments are
/// still applied strictly in chain order.
/// </summary>
public sealed record RestoreRequest(
    string Database,
    string OutputPath,
    DateTimeOffset? Time = null,
    bool Verify = true,
    long? StoreId = null,
    int Parallelism = RestoreRequest.DefaultParallelism)
{
    /// <summary>Downloads at once by default: enough to hide a round trip to S3 per small segment, little memory.</summary>
    public const int DefaultParallelism = 8;

    public const int MaxParallelism = 64;

    /// <summary>The request, checked: a parallelism out of range is <c>FERRY:Config:InvalidArgument</c>.</summary>
    public RestoreRequest Validate()
    {
        if (Parallelism is < 1 or > MaxParallelism)
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument,
                $"the restore's parallelism must be between 1 and {MaxParallelism}, got {Parallelism}", new ErrorContext(Operation: "restore"));
        }

        return this;
    }
}

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
