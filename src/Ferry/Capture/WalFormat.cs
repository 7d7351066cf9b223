using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Ferry.Errors;

namespace Ferry.Capture;

/// <summary>The two 32-bit words of SQLite's cumulative WAL checksum.</summary>
internal readonly record struct WalChecksum(uint S0, uint S1)
{
    public static readonly WalChecksum Zero = default;

    /// <summary>
    /// SQLite's WAL checksum (wal.c, walChecksumBytes): over the data as 32-bit words, two at a time,
    /// <c>s0 += x0 + s1; s1 += x1 + s0</c>, starting from <paramref name="seed"/>. The words are read big-endian
    /// when the WAL magic is 0x377f0683 and little-endian when it is 0x377f0682. The length must be a multiple of 8.
    /// </summary>
    public static WalChecksum Compute(ReadOnlySpan<byte> data, bool bigEndian, WalChecksum seed)
    {
        if ((data.Length & 7) != 0) throw new ArgumentException("the WAL checksum covers whole 8-byte chunks", nameof(data));
        uint s0 = seed.S0, s1 = seed.S1;
        if (bigEndian)
        {
            for (var i = 0; i < data.Length; i += 8)
            {
                s0 += BinaryPrimitives.ReadUInt32BigEndian(data[i..]) + s1;
                s1 += BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..]) + s0;
            }
        }
        else if (BitConverter.IsLittleEndian)
        {
            // The common case (SQLite writes its native order, little-endian here): read the words in place; this
            // runs over every shipped page.
            var words = MemoryMarshal.Cast<byte, uint>(data);
            for (var i = 0; i < words.Length; i += 2)
            {
                s0 += words[i] + s1;
                s1 += words[i + 1] + s0;
            }
        }
        else
        {
            for (var i = 0; i < data.Length; i += 8)
            {
                s0 += BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) + s1;
                s1 += BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]) + s0;
            }
        }

        return new WalChecksum(s0, s1);
    }
}

/// <summary>How a WAL header failed to parse; <see cref="Valid"/> when it did not.</summary>
internal enum WalHeaderStatus
{
    Valid,

    /// <summary>Fewer than 32 bytes: no WAL yet, or truncated to nothing by a TRUNCATE checkpoint.</summary>
    TooShort,
    BadMagic,
    BadVersion,
    BadPageSize,
    BadChecksum,
}

/// <summary>
/// The 32-byte WAL header. Every field is big-endian on disk; the magic's low bit only picks the byte order
/// of the checksum words.
/// </summary>
internal sealed record WalHeader(
    uint Magic,
    uint FormatVersion,
    int PageSize,
    uint CheckpointSequence,
    uint Salt1,
    uint Salt2,
    WalChecksum Checksum)
{
    public const int Size = 32;
    public const uint MagicLittleEndian = 0x377f0682;
    public const uint MagicBigEndian = 0x377f0683;
    public const uint SupportedFormatVersion = 3007000;

    public bool BigEndianChecksum => (Magic & 1) != 0;

    /// <summary>Size of one frame (24-byte header and a page) in this WAL.</summary>
    public int FrameSize => WalFrameHeader.Size + PageSize;

    /// <summary>File offset of frame <paramref name="frameIndex"/> (1-based).</summary>
    public long FrameOffset(uint frameIndex) => Size + ((long)frameIndex - 1) * FrameSize;

    /// <summary>Parses a header; never throws. <paramref name="header"/> is set only when the result is <see cref="WalHeaderStatus.Valid"/>.</summary>
    public static WalHeaderStatus TryParse(ReadOnlySpan<byte> bytes, out WalHeader? header)
    {
        header = null;
        if (bytes.Length < Size) return WalHeaderStatus.TooShort;
        var magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        if (magic is not (MagicLittleEndian or MagicBigEndian)) return WalHeaderStatus.BadMagic;
        var version = BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]);
        if (version != SupportedFormatVersion) return WalHeaderStatus.BadVersion;
        var pageSize = BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]);
        if (pageSize is < 512 or > 65536 || (pageSize & (pageSize - 1)) != 0) return WalHeaderStatus.BadPageSize;
        var stored = new WalChecksum(BinaryPrimitives.ReadUInt32BigEndian(bytes[24..]), BinaryPrimitives.ReadUInt32BigEndian(bytes[28..]));
        var computed = WalChecksum.Compute(bytes[..24], (magic & 1) != 0, WalChecksum.Zero);
        if (stored != computed) return WalHeaderStatus.BadChecksum;
        header = new WalHeader(
            magic,
            version,
            (int)pageSize,
            BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[20..]),
            stored);
        return WalHeaderStatus.Valid;
    }

    /// <summary>Parses a header or throws <see cref="ErrorCodes.WalInvalidHeader"/>.</summary>
    public static WalHeader Parse(ReadOnlySpan<byte> bytes, ErrorContext? context = null)
    {
        var status = TryParse(bytes, out var header);
        return status == WalHeaderStatus.Valid
            ? header!
            : throw new FerryException(ErrorCodes.WalInvalidHeader, $"the WAL header is not valid: {Describe(status)}", context);
    }

    public static string Describe(WalHeaderStatus status) => status switch
    {
        WalHeaderStatus.Valid => "valid",
        WalHeaderStatus.TooShort => "shorter than 32 bytes",
        WalHeaderStatus.BadMagic => "bad magic number (not a SQLite WAL file)",
        WalHeaderStatus.BadVersion => $"unsupported WAL format version (expected {SupportedFormatVersion})",
        WalHeaderStatus.BadPageSize => "page size is not a power of two from 512 to 65536",
        WalHeaderStatus.BadChecksum => "header checksum mismatch",
        _ => status.ToString(),
    };
}

/// <summary>The 24-byte header in front of each WAL frame's page.</summary>
internal readonly record struct WalFrameHeader(uint PageNumber, uint CommitSize, uint Salt1, uint Salt2, WalChecksum Checksum)
{
    public const int Size = 24;

    public static WalFrameHeader Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Size) throw new ArgumentException("a WAL frame header is 24 bytes", nameof(bytes));
        return new WalFrameHeader(
            BinaryPrimitives.ReadUInt32BigEndian(bytes),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]),
            new WalChecksum(BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt32BigEndian(bytes[20..])));
    }
}

/// <summary>
/// What the wal-index (the <c>-shm</c> file) says of the WAL's progress: the last committed frame and how many
/// frames have been copied into the database. A reader that begins while every frame is copied takes read mark 0
/// and reads the database file alone, which does not keep a writer from resetting the WAL.
/// </summary>
/// <remarks>
/// Layout (sqlite.org/walformat.html, "the wal-index header"), host byte order: two copies of a 48-byte header
/// whose <c>mxFrame</c> is at offset 16, then the checkpoint information, whose <c>nBackfill</c> is at offset 96.
/// </remarks>
internal readonly record struct WalIndexProgress(uint LastFrame, uint Backfilled)
{
    public const int Size = 100;

    public bool FullyBackfilled => Backfilled >= LastFrame;

    /// <summary>Parses the first bytes of a -shm file; null when it is too short or its two header copies disagree (a writer is mid-update).</summary>
    public static WalIndexProgress? TryParse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Size) return null;
        var last = MemoryMarshal.Read<uint>(bytes[16..]);
        if (last != MemoryMarshal.Read<uint>(bytes[(48 + 16)..])) return null;
        return new WalIndexProgress(last, MemoryMarshal.Read<uint>(bytes[96..]));
    }
}
