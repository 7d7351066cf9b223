using Ferry.Errors;

namespace Ferry.Retention;

/// <summary>
/// Where one database's storage lifecycle stands, as its last retention pass left it: the restorable window
/// (oldest and newest restorable instant), what storage holds, and, while passes fail, how many in a row and the
/// last error. Shown by <c>ferry task status</c> and <c>/status</c>, kept in the store's checkpoint record.
/// </summary>
public sealed record RetentionStatus(
    DateTimeOffset? OldestRestorable,
    DateTimeOffset? NewestRestorable,
    int Objects,
    long Bytes,
    DateTimeOffset? LastPassAt,
    DateTimeOffset? LastSuccessAt,
    int FailedPasses,
    FerryException? LastError,
    long DeletedObjects,
    long PackedSegments)
{
    public static RetentionStatus None { get; } = new(null, null, 0, 0, null, null, 0, null, 0, 0);
}
