namespace Ferry.Capture;

/// <summary>
/// Where capture stands in one database's WAL: the WAL's salts, the last consumed frame (0 = none, just the
/// header) and the cumulative checksum after it, plus the identity of the database file. The pipeline persists
/// the cursor of what it has <em>shipped</em> and hands it back to <see cref="DatabaseCapture.Start"/>; a plain
/// record of numbers so it serialises as JSON as is.
/// </summary>
internal sealed record WalCursor(
    uint Salt1,
    uint Salt2,
    uint FrameIndex,
    uint Checksum1,
    uint Checksum2,
    int PageSize,
    ulong DatabaseDevice,
    ulong DatabaseInode)
{
    /// <summary>The chain position the next frame's checksum continues from.</summary>
    public WalPosition Position => new(FrameIndex, new WalChecksum(Checksum1, Checksum2));

    /// <summary>File offset of the last consumed frame (0 when none).</summary>
    public long FrameOffset => FrameIndex == 0 ? 0 : WalHeader.Size + ((long)FrameIndex - 1) * (WalFrameHeader.Size + PageSize);

    /// <summary>File offset where the next frame starts.</summary>
    public long NextFrameOffset => WalHeader.Size + (long)FrameIndex * (WalFrameHeader.Size + PageSize);

    internal static WalCursor At(WalHeader header, WalPosition position, FileIdentity database) => new(
        header.Salt1,
        header.Salt2,
        position.FrameIndex,
        position.Checksum.S0,
        position.Checksum.S1,
        header.PageSize,
        database.Device,
        database.Inode);

    /// <summary>Whether this cursor is <paramref name="other"/> or after it in the same WAL (same file, same salts): frames are only appended until a reset.</summary>
    internal bool IsAtOrPast(WalCursor other) =>
        Salt1 == other.Salt1 && Salt2 == other.Salt2 && PageSize == other.PageSize && Database == other.Database && FrameIndex >= other.FrameIndex;

    internal bool SameSalts(WalHeader header) => header.Salt1 == Salt1 && header.Salt2 == Salt2;

    internal FileIdentity Database => new(DatabaseDevice, DatabaseInode);
}
