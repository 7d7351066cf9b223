namespace Ferry.Capture;

/// <summary>Why a WAL scan stopped. Anything but <see cref="EndOfFile"/> and <see cref="Limit"/> means the frame after the last valid one is damaged, stale or torn.</summary>
internal enum WalStopReason
{
    /// <summary>The file ended, possibly inside a frame (a writer may be appending it right now).</summary>
    EndOfFile,

    /// <summary>The next frame's salts differ from the header's: a stale frame from before a WAL reset, or damage.</summary>
    SaltMismatch,

    /// <summary>The next frame's cumulative checksum does not follow from the previous one.</summary>
    ChecksumMismatch,

    /// <summary>The next frame names page 0, which SQLite never writes.</summary>
    InvalidPageNumber,

    /// <summary>The caller's frame limit was reached at a commit boundary; read again for more.</summary>
    Limit,
}

/// <summary>
/// Position in a WAL: the last consumed frame (0 = none, only the header) and the cumulative checksum after it
/// (the header's checksum for frame 0), which seeds the next frame's checksum.
/// </summary>
internal readonly record struct WalPosition(uint FrameIndex, WalChecksum Checksum);

/// <summary>
/// What a scan returned: whole committed transactions only, the position after the last commit frame, and
/// why the scan stopped. Frames after the last commit (a transaction still being written, or one that rolled
/// back) are never returned and never move the position.
/// </summary>
internal sealed record WalReadResult(
    IReadOnlyList<CommittedTransaction> Transactions,
    WalPosition End,
    WalStopReason StopReason,
    int FramesPastLastCommit);

/// <summary>
/// Reads validated WAL frames; pure, no SQLite. A frame is accepted only while its salts equal the header's and
/// its checksum continues the cumulative chain, exactly as SQLite's own recovery decides; the first frame that
/// fails ends the valid sequence (damage or truncation is never an error here, only an end).
/// </summary>
internal static class WalReader
{
    /// <summary>
    /// Reads the committed transactions after <paramref name="start"/>, grouped per commit, each frame's page
    /// copied out into buffers from <paramref name="pages"/> (default <see cref="PagePool.Shared"/>; give them back once
    /// shipped, or let the GC have them). Stops at the first invalid frame, at the end of the file, or (at a commit boundary) once at
    /// least <paramref name="maxFrames"/> frames were accepted.
    /// </summary>
    public static WalReadResult ReadCommitted(
        Stream wal,
        WalHeader header,
        WalPosition start,
        DateTimeOffset capturedAt,
        int maxFrames = int.MaxValue,
        PagePool? pages = null)
    {
        ArgumentNullException.ThrowIfNull(wal);
        ArgumentNullException.ThrowIfNull(header);
        var scanner = new WalScanner(wal, header, start);
        var transactions = new List<CommittedTransaction>();
        var pending = new List<WalFrame>();
        var end = start;
        var accepted = 0;
        pages ??= PagePool.Shared;
        WalStopReason reason;
        while (true)
        {
            if (accepted >= maxFrames)
            {
                reason = WalStopReason.Limit;
                break;
            }

            var page = pages.Rent(header.PageSize);
            if (!scanner.TryNext(page, out var frameHeader))
            {
                pages.Return([new WalFrame(0, 0, page)]);
                reason = scanner.StopReason;
                break;
            }

            pending.Add(new WalFrame(frameHeader.PageNumber, frameHeader.CommitSize, page));
            if (frameHeader.CommitSize != 0)
            {
                transactions.Add(new CommittedTransaction(capturedAt, pending.ToArray()));
                accepted += pending.Count;
                pending.Clear();
                end = scanner.Position;
            }
        }

        // Frames after the last commit are read again once their transaction commits (or never, if it rolls back).
        pages.Return(pending);
        return new WalReadResult(transactions, end, reason, pending.Count);
    }
}

/// <summary>
/// Walks frames after a known position, validating salts and the checksum chain. Shared by
/// <see cref="WalReader"/> and the snapshot overlay, which needs frame offsets rather than copies.
/// </summary>
internal sealed class WalScanner
{
    private readonly Stream _wal;
    private readonly WalHeader _header;
    private readonly byte[] _frame;

    public WalScanner(Stream wal, WalHeader header, WalPosition start)
    {
        _wal = wal;
        _header = header;
        _frame = new byte[header.FrameSize];
        Position = start;
        _wal.Position = header.FrameOffset(start.FrameIndex + 1);
    }

    /// <summary>The last frame accepted so far (not necessarily a commit frame).</summary>
    public WalPosition Position { get; private set; }

    public WalStopReason StopReason { get; private set; } = WalStopReason.EndOfFile;

    /// <summary>Reads and validates the next frame; its page goes to <paramref name="page"/>.</summary>
    public bool TryNext(Span<byte> page, out WalFrameHeader frameHeader)
    {
        frameHeader = default;
        var read = _wal.ReadAtLeast(_frame, _frame.Length, throwOnEndOfStream: false);
        if (read < _frame.Length)
        {
            StopReason = WalStopReason.EndOfFile;
            return false;
        }

        frameHeader = WalFrameHeader.Parse(_frame);
        if (frameHeader.Salt1 != _header.Salt1 || frameHeader.Salt2 != _header.Salt2)
        {
            StopReason = WalStopReason.SaltMismatch;
            return false;
        }

        if (frameHeader.PageNumber == 0)
        {
            StopReason = WalStopReason.InvalidPageNumber;
            return false;
        }

        // The checksum covers the first 8 bytes of the frame header and then the page (wal.c, walEncodeFrame).
        var checksum = WalChecksum.Compute(_frame.AsSpan(0, 8), _header.BigEndianChecksum, Position.Checksum);
        checksum = WalChecksum.Compute(_frame.AsSpan(WalFrameHeader.Size), _header.BigEndianChecksum, checksum);
        if (checksum != frameHeader.Checksum)
        {
            StopReason = WalStopReason.ChecksumMismatch;
            return false;
        }

        _frame.AsSpan(WalFrameHeader.Size).CopyTo(page);
        Position = new WalPosition(Position.FrameIndex + 1, checksum);
        return true;
    }
}
