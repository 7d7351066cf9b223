using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using Ferry.Capture;
using Ferry.Coordination;
using K4os.Compression.LZ4;

namespace Ferry.Replica;

/// <summary>
/// What a segment's header says, readable without decoding the body (for listings and planning).
/// <see cref="Writer"/> is the fence token of the process that wrote it; null for a segment of format version 1,
/// written before segments carried one.
/// </summary>
internal sealed record SegmentHeader(
    GenerationId Generation,
    long First,
    long Last,
    int PageSize,
    DateTimeOffset FirstCapturedAt,
    DateTimeOffset LastCapturedAt,
    long FrameCount,
    FenceToken? Writer = null);

/// <summary>A decoded, verified segment: transactions <see cref="SegmentHeader.First"/>..Last in order.</summary>
internal sealed record Segment(SegmentHeader Header, IReadOnlyList<CommittedTransaction> Transactions);

/// <summary>
/// The segment object: consecutive whole committed transactions of one generation.
/// <code>
/// header  (104 bytes) "FERRYSEG", u16 version (2), u16 0, u32 page size, generation (20 ASCII), u64 first, u64 last,
///                     i64 first CapturedAt, i64 last CapturedAt (UTC ticks), u64 frame count,
///                     u64 body length, u32 compressed body length,
///                     i64 writer's deploy generation, i64 writer's epoch
/// body    LZ4 block: per transaction i64 CapturedAt, u32 frame count; per frame u32 page, u32 commit size, page
/// trailer u64 XxHash64 of header and compressed body
/// </code>
/// The checksum covers the header, so the position range, times and writer are as protected as the pages. All
/// integers are little-endian. The writer's fence token (DESIGN §5: storage writes carry the token) tells a zombie's
/// segment from the live writer's where both hold the same transactions (<see cref="OverlappingSegments"/>).
/// Version 1 (written before segments carried the token) is the same without the last two fields: an 88-byte
/// header. It is still read, with no writer.
/// </summary>
internal static class SegmentFormat
{
    /// <summary>The version this Ferry writes.</summary>
    public const ushort Version = 2;

    /// <summary>The header of the version this Ferry writes; also the most of an object that holds any version's header.</summary>
    public const int HeaderLength = 104;

    /// <summary>The header of version 1 segments, which carry no writer.</summary>
    public const int Version1HeaderLength = 88;

    private const ushort OldestVersion = 1;
    private const int TrailerLength = 8;

    /// <summary>Bodies beyond this are refused on read: a damaged length must not allocate the machine away.</summary>
    private const long MaxBodyLength = 2L << 30;

    private static ReadOnlySpan<byte> Magic => "FERRYSEG"u8;

    // Segment-sized (up to tens of MiB), so not ArrayPool.Shared: it keeps one per size in every thread that used it,
    // and flushes run on any thread-pool thread, which held hundreds of MiB after a burst. One per size, process-wide.
    private static readonly ArrayPool<byte> EncodeBuffers = ArrayPool<byte>.Create(1 << 30, maxArraysPerBucket: 1);

    /// <summary>Encodes <paramref name="transactions"/> as transactions <paramref name="first"/>.. of <paramref name="generation"/>, written by <paramref name="writer"/> (none: 0/0).</summary>
    public static byte[] Encode(GenerationId generation, long first, IReadOnlyList<CommittedTransaction> transactions, FenceToken? writer = null)
    {
        ArgumentNullException.ThrowIfNull(transactions);
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        if (transactions.Count == 0) throw new ArgumentException("a segment holds at least one transaction", nameof(transactions));
        var pageSize = transactions[0].Frames.Count > 0 ? transactions[0].Frames[0].Page.Length : 0;
        if (!ReplicaFormat.IsValidPageSize(pageSize)) throw new ArgumentException($"page size {pageSize} is not a SQLite page size", nameof(transactions));

        long frameCount = 0;
        long bodyLength = 0;
        foreach (var transaction in transactions)
        {
            CheckTransaction(transaction, pageSize);
            frameCount += transaction.Frames.Count;
            bodyLength += 12 + ((long)transaction.Frames.Count * (8 + pageSize));
        }

        if (bodyLength > MaxBodyLength) throw new ArgumentException($"{bodyLength} bytes of frames is more than one segment holds; split it", nameof(transactions));
        // The body and the compression buffer are pooled: they are segment-sized and made every flush, and fresh
        // large arrays cost a zeroing pass (and fresh pages) each time. Only the result is allocated, at its size.
        var body = EncodeBuffers.Rent((int)bodyLength);
        var scratch = EncodeBuffers.Rent(HeaderLength + LZ4Codec.MaximumOutputSize((int)bodyLength));
        try
        {
            var at = 0;
            foreach (var transaction in transactions)
            {
                ReplicaFormat.WriteTime(body.AsSpan(at), transaction.CapturedAt);
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(at + 8), (uint)transaction.Frames.Count);
                at += 12;
                foreach (var frame in transaction.Frames)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(at), frame.PageNumber);
                    BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(at + 4), frame.CommitSize);
                    frame.Page.Span.CopyTo(body.AsSpan(at + 8));
                    at += 8 + pageSize;
                }
            }

            var compressed = LZ4Codec.Encode(body.AsSpan(0, (int)bodyLength), scratch.AsSpan(HeaderLength));
            if (compressed < 0) throw new InvalidOperationException("LZ4 could not compress the segment body");

            var output = new byte[HeaderLength + compressed + TrailerLength];
            var header = output.AsSpan(0, HeaderLength);
            Magic.CopyTo(header);
            BinaryPrimitives.WriteUInt16LittleEndian(header[8..], Version);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)pageSize);
            ReplicaFormat.WriteGeneration(header[16..], generation);
            BinaryPrimitives.WriteInt64LittleEndian(header[36..], first);
            BinaryPrimitives.WriteInt64LittleEndian(header[44..], first + transactions.Count - 1);
            ReplicaFormat.WriteTime(header[52..], transactions[0].CapturedAt);
            ReplicaFormat.WriteTime(header[60..], transactions[^1].CapturedAt);
            BinaryPrimitives.WriteInt64LittleEndian(header[68..], frameCount);
            BinaryPrimitives.WriteInt64LittleEndian(header[76..], bodyLength);
            BinaryPrimitives.WriteInt32LittleEndian(header[84..], compressed);
            BinaryPrimitives.WriteInt64LittleEndian(header[88..], writer?.DeployGeneration ?? 0);
            BinaryPrimitives.WriteInt64LittleEndian(header[96..], writer?.Epoch ?? 0);
            scratch.AsSpan(HeaderLength, compressed).CopyTo(output.AsSpan(HeaderLength));
            BinaryPrimitives.WriteUInt64LittleEndian(output.AsSpan(HeaderLength + compressed), XxHash64.HashToUInt64(output.AsSpan(0, HeaderLength + compressed)));
            return output;
        }
        finally
        {
            EncodeBuffers.Return(body);
            EncodeBuffers.Return(scratch);
        }
    }

    /// <summary>
    /// Reads the header only (no checksum: that needs the whole object). <paramref name="objectName"/> names the
    /// object in errors.
    /// </summary>
    public static SegmentHeader ReadHeader(ReadOnlySpan<byte> data, string objectName) => ReadHeader(data, objectName, out _);

    private static SegmentHeader ReadHeader(ReadOnlySpan<byte> data, string objectName, out int headerLength)
    {
        if (data.Length < Version1HeaderLength) throw ReplicaFormat.Corrupt(objectName, $"it is {data.Length} bytes, shorter than a segment header");
        var version = ReplicaFormat.CheckMagic(data, Magic, objectName, "segment", OldestVersion, Version);
        headerLength = version == 1 ? Version1HeaderLength : HeaderLength;
        if (data.Length < headerLength) throw ReplicaFormat.Corrupt(objectName, $"it is {data.Length} bytes, shorter than a version {version} segment header");
        var pageSize = BinaryPrimitives.ReadUInt32LittleEndian(data[12..]);
        if (!ReplicaFormat.IsValidPageSize(pageSize)) throw ReplicaFormat.Corrupt(objectName, $"page size {pageSize} is not a SQLite page size");
        var first = BinaryPrimitives.ReadInt64LittleEndian(data[36..]);
        var last = BinaryPrimitives.ReadInt64LittleEndian(data[44..]);
        if (first < 0 || last < first) throw ReplicaFormat.Corrupt(objectName, $"transaction range {first}-{last} is not a range");
        var frames = BinaryPrimitives.ReadInt64LittleEndian(data[68..]);
        if (frames < last - first + 1) throw ReplicaFormat.Corrupt(objectName, $"{frames} frames can't hold {last - first + 1} transactions");
        FenceToken? writer = null;
        if (version >= 2)
        {
            writer = new FenceToken(BinaryPrimitives.ReadInt64LittleEndian(data[88..]), BinaryPrimitives.ReadInt64LittleEndian(data[96..]));
            if (writer.DeployGeneration < 0 || writer.Epoch < 0) throw ReplicaFormat.Corrupt(objectName, $"its writer's fence token ({writer}) is negative");
        }

        return new SegmentHeader(
            ReplicaFormat.ReadGeneration(data[16..], objectName),
            first,
            last,
            (int)pageSize,
            ReplicaFormat.ReadTime(data[52..], objectName, "first CapturedAt"),
            ReplicaFormat.ReadTime(data[60..], objectName, "last CapturedAt"),
            frames,
            writer);
    }

    /// <summary>
    /// Decodes and verifies a whole segment: checksum, lengths, body structure, and that the header says what the
    /// object's name says (<paramref name="expected"/>, when given). Any mismatch is
    /// <c>FERRY:Storage:CorruptObject</c> naming <paramref name="objectName"/>.
    /// </summary>
    public static Segment Decode(ReadOnlyMemory<byte> data, string objectName, ReplicaObjectName? expected = null)
    {
        var span = data.Span;
        var header = ReadHeader(span, objectName, out var headerLength);
        var bodyLength = BinaryPrimitives.ReadInt64LittleEndian(span[76..]);
        var compressedLength = BinaryPrimitives.ReadUInt32LittleEndian(span[84..]);
        if ((long)headerLength + compressedLength + TrailerLength != data.Length)
        {
            throw ReplicaFormat.Corrupt(objectName, $"it is {data.Length} bytes, its header says {(long)headerLength + compressedLength + TrailerLength} (truncated or extended)");
        }

        var stored = BinaryPrimitives.ReadUInt64LittleEndian(span[(headerLength + (int)compressedLength)..]);
        var actual = XxHash64.HashToUInt64(span[..(headerLength + (int)compressedLength)]);
        if (stored != actual) throw ReplicaFormat.Corrupt(objectName, $"checksum mismatch (stored {stored:x16}, computed {actual:x16})");

        if (expected is not null
            && (expected.Generation != header.Generation || expected.First != header.First || expected.Last != header.Last))
        {
            throw ReplicaFormat.Corrupt(objectName,
                $"its header holds generation {header.Generation} transactions {header.First}-{header.Last}, not what its name says");
        }

        var transactionCount = header.Last - header.First + 1;
        var expectedBody = (transactionCount * 12) + (header.FrameCount * (8 + header.PageSize));
        if (bodyLength != expectedBody || bodyLength > MaxBodyLength)
        {
            throw ReplicaFormat.Corrupt(objectName, $"body length {bodyLength} does not fit {transactionCount} transactions of {header.FrameCount} frames");
        }

        var body = new byte[bodyLength];
        var decoded = LZ4Codec.Decode(span.Slice(headerLength, (int)compressedLength), body);
        if (decoded != bodyLength) throw ReplicaFormat.Corrupt(objectName, "the compressed body does not decompress to its recorded length");

        return new Segment(header, ParseBody(body, header, objectName));
    }

    private static List<CommittedTransaction> ParseBody(byte[] body, SegmentHeader header, string objectName)
    {
        var transactions = new List<CommittedTransaction>((int)Math.Min(header.Last - header.First + 1, 1 << 20));
        var at = 0;
        for (var index = header.First; index <= header.Last; index++)
        {
            if (body.Length - at < 12) throw ReplicaFormat.Corrupt(objectName, $"transaction {index} is cut short");
            var capturedAt = ReplicaFormat.ReadTime(body.AsSpan(at), objectName, $"transaction {index} CapturedAt");
            var count = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(at + 8));
            at += 12;
            if (count == 0 || (long)count * (8 + header.PageSize) > body.Length - at)
            {
                throw ReplicaFormat.Corrupt(objectName, $"transaction {index} claims {count} frames");
            }

            var frames = new WalFrame[count];
            for (var f = 0; f < count; f++)
            {
                var page = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(at));
                var commit = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(at + 4));
                var isLast = f == count - 1;
                if (page == 0 || (commit != 0) != isLast)
                {
                    throw ReplicaFormat.Corrupt(objectName, $"transaction {index} frame {f} (page {page}, commit size {commit}) is malformed");
                }

                frames[f] = new WalFrame(page, commit, body.AsMemory(at + 8, header.PageSize));
                at += 8 + header.PageSize;
            }

            transactions.Add(new CommittedTransaction(capturedAt, frames));
        }

        if (at != body.Length) throw ReplicaFormat.Corrupt(objectName, $"{body.Length - at} bytes follow the last transaction");
        if (transactions[0].CapturedAt != header.FirstCapturedAt || transactions[^1].CapturedAt != header.LastCapturedAt)
        {
            throw ReplicaFormat.Corrupt(objectName, "the header's time range differs from its transactions'");
        }

        return transactions;
    }

    private static void CheckTransaction(CommittedTransaction transaction, int pageSize)
    {
        if (transaction.Frames.Count == 0) throw new ArgumentException("a committed transaction has at least one frame");
        for (var i = 0; i < transaction.Frames.Count; i++)
        {
            var frame = transaction.Frames[i];
            if (frame.Page.Length != pageSize) throw new ArgumentException($"frame of page {frame.PageNumber} is {frame.Page.Length} bytes, not {pageSize}");
            if (frame.PageNumber == 0) throw new ArgumentException("page numbers start at 1");
            if (frame.IsCommit != (i == transaction.Frames.Count - 1))
            {
                throw new ArgumentException("only a transaction's last frame carries a commit size, and it must");
            }
        }
    }
}
