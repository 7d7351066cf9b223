using System.Buffers.Binary;
using Ferry.Errors;

namespace Ferry.Capture;

internal sealed partial class DatabaseCapture
{
    /// <summary>
    /// Starts a new generation: a consistent image of the database as of the newest commit, read page by page
    /// under the pin (the .db file through the stream's one handle, overlaid with the newest WAL frame of each page
    /// up to that commit). Streaming continues with the transactions after <see cref="DatabaseSnapshot.Cursor"/>.
    /// The snapshot stays readable until the next <see cref="TakeSnapshot"/>, <see cref="CheckpointIfNeeded"/> or
    /// <see cref="Dispose"/>. It never takes the write lock and never copies the database to disk.
    /// </summary>
    public DatabaseSnapshot TakeSnapshot()
    {
        ThrowIfNotRunning();
        try
        {
            var now = FileIdentity.Of(DatabasePath);
            if (_identity.IsKnown && now != _identity)
            {
                throw new FerryException(
                    ErrorCodes.CaptureDatabaseReplaced,
                    $"database {DatabasePath} was replaced while Ferry followed it; the stream must reopen it",
                    _context with { Operation = "capture-snapshot" });
            }

            // A fresh, effective pin: the nonce commit leaves an unchecked frame, so the read transaction begun
            // right after it holds a read mark that forbids a WAL reset and bounds what a checkpoint may backfill.
            Unpin();
            WriteNonce(null);
            Pin();

            // Read after the pin: every frame up to the last commit found now is stable until we unpin.
            var (_, header) = ReadWalHeader();
            var overlay = new Dictionary<uint, long>();
            uint commitSize = 0;
            var end = default(WalPosition);
            if (header is not null)
            {
                end = new WalPosition(0, header.Checksum);
                var scanner = new WalScanner(_wal!, header, end);
                var staged = new List<(uint Page, long Offset)>();
                var buffer = new byte[header.PageSize];
                while (scanner.TryNext(buffer, out var frame))
                {
                    staged.Add((frame.PageNumber, header.FrameOffset(scanner.Position.FrameIndex)));
                    if (frame.CommitSize == 0) continue;
                    foreach (var (page, offset) in staged) overlay[page] = offset;
                    staged.Clear();
                    commitSize = frame.CommitSize;
                    end = scanner.Position;
                }
            }

            var (pageSize, headerPageCount) = ReadDatabaseHeader(header?.PageSize);
            var pageCount = commitSize != 0 ? commitSize : headerPageCount;

            // Without a valid WAL header (it was truncated the instant before the pin) the cursor names no WAL;
            // the next read then finds other salts and asks for another snapshot rather than guessing.
            _cursor = header is not null
                ? WalCursor.At(header, end, _identity)
                : new WalCursor(0, 0, 0, 0, 0, pageSize, _identity.Device, _identity.Inode);
            _newGenerationReason = null;
            _pending.Clear();
            return new DatabaseSnapshot(this, _pinEpoch, pageSize, pageCount, overlay, _cursor);
        }
        catch (Exception e)
        {
            throw FailAndClose(e, "capture-snapshot");
        }
    }

    internal void ReadSnapshotPage(DatabaseSnapshot snapshot, uint pageNumber, Span<byte> destination)
    {
        if (_disposed || snapshot.PinEpoch != _pinEpoch)
        {
            throw new FerryException(
                ErrorCodes.Internal,
                "a snapshot was read after the pin it was taken under was released (TakeSnapshot, CheckpointIfNeeded or Dispose came first)",
                _context with { Operation = "capture-snapshot" });
        }

        if (pageNumber == 0 || pageNumber > snapshot.PageCount) throw new ArgumentOutOfRangeException(nameof(pageNumber), pageNumber, $"pages are 1..{snapshot.PageCount}");
        if (destination.Length != snapshot.PageSize) throw new ArgumentException($"a page is {snapshot.PageSize} bytes", nameof(destination));
        try
        {
            if (snapshot.Overlay.TryGetValue(pageNumber, out var frameOffset))
            {
                ReadFully(_wal!.SafeFileHandle, destination, frameOffset + WalFrameHeader.Size, zeroFillPastEnd: false);
            }
            else
            {
                ReadFully(_database!, destination, (long)(pageNumber - 1) * snapshot.PageSize, zeroFillPastEnd: true);
            }
        }
        catch (Exception e)
        {
            throw FailAndClose(e, "capture-snapshot-read");
        }
    }

    /// <summary>Page size and page count from the database header (bytes 16–17 and 28–31), through the stream's handle.</summary>
    private (int PageSize, uint PageCount) ReadDatabaseHeader(int? walPageSize)
    {
        Span<byte> header = stackalloc byte[100];
        var read = RandomAccess.Read(_database!, header, 0);
        var length = RandomAccess.GetLength(_database!);
        if (read < 100) return (walPageSize ?? 4096, 0);
        var raw = BinaryPrimitives.ReadUInt16BigEndian(header[16..]);
        var pageSize = walPageSize ?? (raw == 1 ? 65536 : raw);
        if (pageSize is < 512 or > 65536 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new FerryException(ErrorCodes.DatabaseCorrupt, $"database {DatabasePath} has an invalid page size {pageSize} in its header", _context with { Operation = "capture-snapshot" });
        }

        // The in-header size is valid only when "version-valid-for" equals the change counter (file format doc);
        // otherwise SQLite itself uses the file size.
        var changeCounter = BinaryPrimitives.ReadUInt32BigEndian(header[24..]);
        var inHeaderSize = BinaryPrimitives.ReadUInt32BigEndian(header[28..]);
        var validFor = BinaryPrimitives.ReadUInt32BigEndian(header[92..]);
        var pageCount = inHeaderSize != 0 && validFor == changeCounter ? inHeaderSize : (uint)(length / pageSize);
        return (pageSize, pageCount);
    }

    private static void ReadFully(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> destination, long offset, bool zeroFillPastEnd)
    {
        var done = 0;
        while (done < destination.Length)
        {
            var read = RandomAccess.Read(handle, destination[done..], offset + done);
            if (read == 0)
            {
                // Past the end of the .db file a page reads as zeros, as SQLite reads it; in the WAL it is a bug.
                if (!zeroFillPastEnd) throw new EndOfStreamException($"the WAL ended inside a frame at offset {offset}");
                destination[done..].Clear();
                return;
            }

            done += read;
        }
    }
}

/// <summary>
/// A consistent image of a database as of one commit (see <see cref="DatabaseCapture.TakeSnapshot"/>). Valid only
/// while its capture keeps the pin it was taken under.
/// </summary>
internal sealed class DatabaseSnapshot : IPageSource
{
    private readonly DatabaseCapture _owner;

    internal DatabaseSnapshot(DatabaseCapture owner, int pinEpoch, int pageSize, uint pageCount, Dictionary<uint, long> overlay, WalCursor cursor)
    {
        _owner = owner;
        PinEpoch = pinEpoch;
        PageSize = pageSize;
        PageCount = pageCount;
        Overlay = overlay;
        Cursor = cursor;
    }

    public int PageSize { get; }

    public uint PageCount { get; }

    /// <summary>The commit the snapshot is as of; the generation's transactions continue after it.</summary>
    public WalCursor Cursor { get; }

    /// <summary>How many pages come from the WAL rather than the database file.</summary>
    public int WalPageCount => Overlay.Count;

    internal int PinEpoch { get; }

    internal Dictionary<uint, long> Overlay { get; }

    public void ReadPage(uint pageNumber, Span<byte> destination) => _owner.ReadSnapshotPage(this, pageNumber, destination);
}
