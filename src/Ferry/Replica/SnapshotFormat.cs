using System.Buffers.Binary;
using System.IO.Hashing;
using Ferry.Capture;
using Ferry.Errors;
using K4os.Compression.LZ4;

namespace Ferry.Replica;

/// <summary>What a snapshot's header says.</summary>
internal sealed record SnapshotHeader(GenerationId Generation, long Index, DateTimeOffset CapturedAt, int PageSize, uint PageCount, int PagesPerChunk);

/// <summary>A snapshot read and verified to its end: its header, its checksum and its length in bytes.</summary>
internal sealed record SnapshotRead(SnapshotHeader Header, ulong Checksum, long Length);

/// <summary>
/// The snapshot object: the database after transactions &lt; Index, page by page, streamed.
/// <code>
/// header  (64 bytes) "FERRYSNP", u16 version, u16 0, u32 page size, generation (20 ASCII), u64 index,
///                    i64 CapturedAt (UTC ticks), u32 page count, u32 pages per chunk, u32 0
/// chunks  per chunk: u32 compressed length, LZ4 block of the chunk's pages (the last chunk may be shorter)
/// trailer u64 XxHash64 of everything before it
/// </code>
/// Written by <see cref="SnapshotEncoderStream"/> (pulls pages as the storage reads it: no local copy), read by
/// <see cref="ReadAsync"/>, which hands pages out as it goes and throws at the end if the checksum fails; a
/// caller publishes nothing built from them before it returns.
/// </summary>
internal static class SnapshotFormat
{
    public const int HeaderLength = 64;
    internal const int TrailerLength = 8;

    /// <summary>About 1 MiB of raw pages per chunk: big enough for LZ4, small enough to stream.</summary>
    internal const int ChunkBytes = 1 << 20;

    internal static ReadOnlySpan<byte> Magic => "FERRYSNP"u8;

    internal static void WriteHeader(Span<byte> header, SnapshotHeader value)
    {
        header[..HeaderLength].Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], ReplicaFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)value.PageSize);
        ReplicaFormat.WriteGeneration(header[16..], value.Generation);
        BinaryPrimitives.WriteInt64LittleEndian(header[36..], value.Index);
        ReplicaFormat.WriteTime(header[44..], value.CapturedAt);
        BinaryPrimitives.WriteUInt32LittleEndian(header[52..], value.PageCount);
        BinaryPrimitives.WriteUInt32LittleEndian(header[56..], (uint)value.PagesPerChunk);
    }

    public static SnapshotHeader ReadHeader(ReadOnlySpan<byte> data, string objectName)
    {
        if (data.Length < HeaderLength) throw ReplicaFormat.Corrupt(objectName, $"it is {data.Length} bytes, shorter than a snapshot header");
        ReplicaFormat.CheckMagic(data, Magic, objectName, "snapshot");
        var pageSize = BinaryPrimitives.ReadUInt32LittleEndian(data[12..]);
        if (!ReplicaFormat.IsValidPageSize(pageSize)) throw ReplicaFormat.Corrupt(objectName, $"page size {pageSize} is not a SQLite page size");
        var index = BinaryPrimitives.ReadInt64LittleEndian(data[36..]);
        if (index < 0) throw ReplicaFormat.Corrupt(objectName, $"index {index} is negative");
        var perChunk = BinaryPrimitives.ReadUInt32LittleEndian(data[56..]);
        if (perChunk == 0 || (long)perChunk * pageSize > 16 * ChunkBytes) throw ReplicaFormat.Corrupt(objectName, $"{perChunk} pages per chunk is out of range");
        return new SnapshotHeader(
            ReplicaFormat.ReadGeneration(data[16..], objectName),
            index,
            ReplicaFormat.ReadTime(data[44..], objectName, "CapturedAt"),
            (int)pageSize,
            BinaryPrimitives.ReadUInt32LittleEndian(data[52..]),
            (int)perChunk);
    }

    /// <summary>
    /// Reads and verifies a snapshot from <paramref name="stream"/>, calling <paramref name="onPage"/> for each page
    /// (1-based) when given. Returns once the checksum and the exact length have been verified.
    /// </summary>
    public static async Task<SnapshotRead> ReadAsync(
        Stream stream,
        string objectName,
        ReplicaObjectName? expected,
        Action<uint, ReadOnlyMemory<byte>>? onPage,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var hash = new XxHash64();
        var headerBytes = new byte[HeaderLength];
        await ReadExactlyAsync(stream, headerBytes, objectName, "header", cancellationToken);
        var header = ReadHeader(headerBytes, objectName);
        hash.Append(headerBytes);
        if (expected is not null && (expected.Generation != header.Generation || expected.First != header.Index))
        {
            throw ReplicaFormat.Corrupt(objectName, $"its header holds generation {header.Generation} index {header.Index}, not what its name says");
        }

        var chunkRaw = new byte[header.PagesPerChunk * header.PageSize];
        var compressed = new byte[LZ4Codec.MaximumOutputSize(chunkRaw.Length)];
        var lengthBytes = new byte[4];
        long total = HeaderLength;
        uint page = 1;
        while (page <= header.PageCount)
        {
            var pages = (int)Math.Min(header.PagesPerChunk, header.PageCount - page + 1);
            await ReadExactlyAsync(stream, lengthBytes, objectName, $"chunk at page {page}", cancellationToken);
            hash.Append(lengthBytes);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
            if (length == 0 || length > compressed.Length) throw ReplicaFormat.Corrupt(objectName, $"chunk at page {page} claims {length} bytes");
            var chunk = compressed.AsMemory(0, (int)length);
            await ReadExactlyAsync(stream, chunk, objectName, $"chunk at page {page}", cancellationToken);
            hash.Append(chunk.Span);
            total += 4 + length;
            var raw = pages * header.PageSize;
            if (LZ4Codec.Decode(chunk.Span, chunkRaw.AsSpan(0, raw)) != raw)
            {
                throw ReplicaFormat.Corrupt(objectName, $"chunk at page {page} does not decompress to {pages} pages");
            }

            if (onPage is not null)
            {
                for (var i = 0; i < pages; i++)
                {
                    onPage(page + (uint)i, chunkRaw.AsMemory(i * header.PageSize, header.PageSize));
                }
            }

            page += (uint)pages;
        }

        var trailer = new byte[TrailerLength];
        await ReadExactlyAsync(stream, trailer, objectName, "checksum trailer", cancellationToken);
        var stored = BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        var actual = hash.GetCurrentHashAsUInt64();
        if (stored != actual) throw ReplicaFormat.Corrupt(objectName, $"checksum mismatch (stored {stored:x16}, computed {actual:x16})");
        if (await ReadSomeAsync(stream, trailer, objectName, cancellationToken) != 0) throw ReplicaFormat.Corrupt(objectName, "bytes follow the checksum trailer");
        return new SnapshotRead(header, actual, total + TrailerLength);
    }

    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, string objectName, string what, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await ReadSomeAsync(stream, buffer[done..], objectName, cancellationToken);
            if (n == 0) throw ReplicaFormat.Corrupt(objectName, $"it ends inside its {what} (truncated)");
            done += n;
        }
    }

    private static async Task<int> ReadSomeAsync(Stream stream, Memory<byte> buffer, string objectName, CancellationToken cancellationToken)
    {
        try
        {
            return await stream.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is not FerryException)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"read {objectName}"), cancellationToken);
        }
    }
}

/// <summary>
/// A read-only stream that produces a snapshot object on demand: header, then one compressed chunk at a time
/// read from the <see cref="IPageSource"/>, then the checksum. Storage pulls from it, so the snapshot is never
/// staged whole. Errors from the page source come out as Database-area Ferry errors.
/// </summary>
internal sealed class SnapshotEncoderStream : Stream
{
    private readonly IPageSource _source;
    private readonly SnapshotHeader _header;
    private readonly XxHash64 _hash = new();
    private readonly byte[] _raw;
    private byte[] _pending;
    private int _pendingOffset;
    private int _pendingLength;
    private uint _nextPage = 1;
    private bool _headerDone;
    private bool _trailerDone;
    private long _position;

    public SnapshotEncoderStream(IPageSource source, GenerationId generation, long index, DateTimeOffset capturedAt)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (!ReplicaFormat.IsValidPageSize(source.PageSize)) throw new ArgumentException($"page size {source.PageSize} is not a SQLite page size", nameof(source));
        _source = source;
        _header = new SnapshotHeader(generation, index, capturedAt, source.PageSize, source.PageCount, Math.Max(1, SnapshotFormat.ChunkBytes / source.PageSize));
        _raw = new byte[_header.PagesPerChunk * _header.PageSize];
        _pending = new byte[4 + LZ4Codec.MaximumOutputSize(_raw.Length)];
    }

    public SnapshotHeader Header => _header;

    /// <summary>The trailer's checksum, once the stream has been read to its end.</summary>
    public ulong? Checksum { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_pendingLength == 0 && !Fill()) return 0;
        var n = Math.Min(buffer.Length, _pendingLength);
        _pending.AsSpan(_pendingOffset, n).CopyTo(buffer);
        _pendingOffset += n;
        _pendingLength -= n;
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Page reads are synchronous positional reads and compression is CPU work: nothing to await.
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Produces the next piece into the pending buffer; false at the end.</summary>
    private bool Fill()
    {
        _pendingOffset = 0;
        if (!_headerDone)
        {
            SnapshotFormat.WriteHeader(_pending, _header);
            Emit(SnapshotFormat.HeaderLength);
            _headerDone = true;
            return true;
        }

        if (_nextPage <= _header.PageCount)
        {
            var pages = (int)Math.Min(_header.PagesPerChunk, _header.PageCount - _nextPage + 1);
            for (var i = 0; i < pages; i++)
            {
                ReadPage(_nextPage + (uint)i, _raw.AsSpan(i * _header.PageSize, _header.PageSize));
            }

            var length = LZ4Codec.Encode(_raw.AsSpan(0, pages * _header.PageSize), _pending.AsSpan(4));
            if (length <= 0) throw new InvalidOperationException("LZ4 could not compress a snapshot chunk");
            BinaryPrimitives.WriteUInt32LittleEndian(_pending, (uint)length);
            Emit(4 + length);
            _nextPage += (uint)pages;
            return true;
        }

        if (!_trailerDone)
        {
            var checksum = _hash.GetCurrentHashAsUInt64();
            BinaryPrimitives.WriteUInt64LittleEndian(_pending, checksum);
            _pendingLength = SnapshotFormat.TrailerLength;
            _trailerDone = true;
            Checksum = checksum;
            return true;
        }

        return false;
    }

    private void Emit(int length)
    {
        _hash.Append(_pending.AsSpan(0, length));
        _pendingLength = length;
    }

    private void ReadPage(uint page, Span<byte> destination)
    {
        try
        {
            _source.ReadPage(page, destination);
        }
        catch (Exception e) when (e is not FerryException)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Database, new ErrorContext(Operation: $"read page {page} for snapshot {_header.Index}"));
        }
    }
}
