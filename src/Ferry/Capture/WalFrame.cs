namespace Ferry.Capture;

/// <summary>
/// One WAL frame as shipped: the page it replaces and, on a transaction's last frame, the database size
/// in pages after the commit (<see cref="CommitSize"/> is 0 on every other frame).
/// </summary>
internal readonly record struct WalFrame(uint PageNumber, uint CommitSize, ReadOnlyMemory<byte> Page)
{
    public bool IsCommit => CommitSize != 0;
}

/// <summary>
/// The frames of one committed transaction, in WAL order, stamped with a time at or after its commit: the stream
/// stamps it with the end of the read that first saw it. A restore "as of T" applies exactly the transactions
/// stamped at or before T, so it never includes one committed after T. (A checkpoint is the opposite bound: the
/// start of a read, before which every commit was seen.)
/// </summary>
internal sealed record CommittedTransaction(DateTimeOffset CapturedAt, IReadOnlyList<WalFrame> Frames)
{
    /// <summary>The database size in pages once this transaction is applied.</summary>
    public uint DatabaseSizeInPages => Frames[^1].CommitSize;
}

/// <summary>
/// A consistent image of a database, page by page (1-based page numbers), as of one commit. Implemented by
/// capture (the database file overlaid with the pinned WAL) and consumed by the snapshot writer.
/// </summary>
internal interface IPageSource
{
    int PageSize { get; }

    uint PageCount { get; }

    /// <summary>Copies page <paramref name="pageNumber"/> into <paramref name="destination"/> (exactly <see cref="PageSize"/> bytes).</summary>
    void ReadPage(uint pageNumber, Span<byte> destination);
}
