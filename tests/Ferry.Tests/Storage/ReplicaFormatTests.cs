using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Storage;

public sealed class ReplicaFormatTests
{
    private static readonly GenerationId Generation = GenerationId.New(SqliteHistory.T0);
    private static readonly ReplicaDatabase Db = new(7, "/data/app.db");

    [Theory]
    [InlineData("/data/app.db", "!data!app.db")]
    [InlineData("/a b/ü!~x.db", "!a~20b!~C3~BC~21~7Ex.db")]
    public void EncodePath_RoundTripsAndIsOneSafePart(string path, string encoded)
    {
        Assert.Equal(encoded, ReplicaLayout.EncodePath(path));
        Assert.True(ObjectNames.IsValid(encoded));
        Assert.True(ReplicaLayout.TryDecodePath(encoded, out var back));
        Assert.Equal(path, back);
    }

    [Fact]
    public void EncodePath_TooLong_NameTooLong()
    {
        var error = Assert.Throws<FerryException>(() => ReplicaLayout.EncodePath("/" + new string('x', 300)));

        Assert.Equal(ErrorCodes.StorageNameTooLong, error.Code);
    }

    [Fact]
    public void TryParse_EveryLayoutName_GivesItsParts()
    {
        Assert.True(ReplicaLayout.TryParse(ReplicaLayout.Manifest(Db, Generation), out var manifest));
        Assert.Equal(new ReplicaObjectName(ReplicaObjectKind.Manifest, Db, Generation, 0, 0), manifest);
        Assert.True(ReplicaLayout.TryParse(ReplicaLayout.Snapshot(Db, Generation, 42), out var snapshot));
        Assert.Equal(new ReplicaObjectName(ReplicaObjectKind.Snapshot, Db, Generation, 42, 42), snapshot);
        Assert.True(ReplicaLayout.TryParse(ReplicaLayout.Segment(Db, Generation, 3, 9), out var segment));
        Assert.Equal(new ReplicaObjectName(ReplicaObjectKind.Segment, Db, Generation, 3, 9), segment);
        Assert.Equal("dbs/7/!data!app.db/generations/" + Generation + "/segments/0000000000000003-0000000000000009.seg", ReplicaLayout.Segment(Db, Generation, 3, 9));

        Assert.False(ReplicaLayout.TryParse("dbs/7/!data!app.db/generations/nothex/manifest.json", out _));
        Assert.False(ReplicaLayout.TryParse("dbs/07/!data!app.db/generations/" + Generation + "/manifest.json", out _));
        Assert.False(ReplicaLayout.TryParse("dbs/7/data/generations/" + Generation + "/manifest.json", out _));
    }

    [Fact]
    public void GenerationId_SortsByCreationTime()
    {
        var earlier = GenerationId.New(SqliteHistory.T0);
        var later = GenerationId.New(SqliteHistory.T0.AddMilliseconds(1));

        Assert.True(string.CompareOrdinal(earlier.Value, later.Value) < 0);
        Assert.Equal(SqliteHistory.T0, earlier.CreatedAt);
        Assert.True(GenerationId.TryParse(later.Value, out var parsed) && parsed == later);
    }

    [Fact]
    public void Segment_RoundTrip_KeepsEveryTransactionFrameTimeAndTheWriter()
    {
        var transactions = TestTransactions.Make(5);
        var bytes = SegmentFormat.Encode(Generation, 10, transactions, new FenceToken(3, 12));

        var segment = SegmentFormat.Decode(bytes, "seg");

        Assert.Equal(
            new SegmentHeader(Generation, 10, 14, 512, transactions[0].CapturedAt, transactions[^1].CapturedAt, transactions.Sum(t => t.Frames.Count), new FenceToken(3, 12)),
            segment.Header);
        Assert.Equal(segment.Header, SegmentFormat.ReadHeader(bytes.AsSpan(0, SegmentFormat.HeaderLength), "seg"));
        Assert.Equal(transactions.Count, segment.Transactions.Count);
        for (var i = 0; i < transactions.Count; i++)
        {
            Assert.Equal(transactions[i].CapturedAt, segment.Transactions[i].CapturedAt);
            Assert.Equal(transactions[i].Frames.Select(f => (f.PageNumber, f.CommitSize)), segment.Transactions[i].Frames.Select(f => (f.PageNumber, f.CommitSize)));
            Assert.All(transactions[i].Frames.Zip(segment.Transactions[i].Frames), p => Assert.True(p.First.Page.Span.SequenceEqual(p.Second.Page.Span)));
        }
    }

    [Fact]
    public void Segment_NoWriterGiven_RecordsTokenZero()
    {
        var header = SegmentFormat.Decode(SegmentFormat.Encode(Generation, 0, TestTransactions.Make(1)), "seg").Header;

        Assert.Equal(new FenceToken(0, 0), header.Writer);
    }

    /// <summary>
    /// DESIGN §10: old backups stay readable. The segments in Fixtures/format-1 were written by Ferry before segments
    /// carried their writer's token (format version 1, an 88-byte header); they decode, verified, with no writer.
    /// </summary>
    [Fact]
    public async Task Segment_Version1ObjectWrittenByThePreviousFormat_DecodesWithNoWriter()
    {
        var storage = new FileStorage(Format1Replica.Root);
        var name = Format1Replica.Segment(0, 1);

        var bytes = await storage.ReadAllBytesAsync(name);
        var segment = SegmentFormat.Decode(bytes, name, ReplicaLayout.TryParse(name, out var parsed) ? parsed : null);
        var header = await ReplicaReader.ReadSegmentHeaderAsync(storage, name);

        Assert.Equal(1, BitConverter.ToUInt16(bytes, 8));
        Assert.Null(segment.Header.Writer);
        Assert.Equal(segment.Header, header);
        Assert.Equal((0, 1), (header.First, header.Last));
        Assert.Equal([SqliteHistory.TimeOf(0), SqliteHistory.TimeOf(1)], segment.Transactions.Select(t => t.CapturedAt));
        Assert.Equal(SqliteHistory.PageSize, header.PageSize);
    }

    [Fact]
    public void Segment_VersionThisFerryDoesNotRead_CorruptObjectSayingWhichItReads()
    {
        var bytes = SegmentFormat.Encode(Generation, 0, TestTransactions.Make(1));
        bytes[8] = 3;

        var error = Assert.Throws<FerryException>(() => SegmentFormat.Decode(bytes, "seg"));

        Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
        Assert.Contains("format version 3 is not one this Ferry reads (it reads 1 to 2)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Segment_AnyByteFlipped_CorruptObjectNamingIt()
    {
        var bytes = SegmentFormat.Encode(Generation, 0, TestTransactions.Make(2));
        for (var i = 0; i < bytes.Length; i++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[i] ^= 0x40;

            var error = Assert.Throws<FerryException>(() => SegmentFormat.Decode(damaged, "dbs/x/seg-" + i));

            Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
            Assert.Contains("dbs/x/seg-" + i, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Segment_TruncatedOrExtended_CorruptObject()
    {
        var bytes = SegmentFormat.Encode(Generation, 0, TestTransactions.Make(2));
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Equal(ErrorCodes.StorageCorruptObject, Assert.Throws<FerryException>(() => SegmentFormat.Decode(bytes.AsMemory(0, length), "s")).Code);
        }

        Assert.Equal(ErrorCodes.StorageCorruptObject, Assert.Throws<FerryException>(() => SegmentFormat.Decode(bytes.Concat(new byte[1]).ToArray(), "s")).Code);
    }

    [Fact]
    public void Segment_HeaderDiffersFromName_CorruptObject()
    {
        var bytes = SegmentFormat.Encode(Generation, 0, TestTransactions.Make(2));
        var name = ReplicaLayout.Segment(Db, Generation, 5, 6);
        ReplicaLayout.TryParse(name, out var parsed);

        var error = Assert.Throws<FerryException>(() => SegmentFormat.Decode(bytes, name, parsed));

        Assert.Equal(ErrorCodes.StorageCorruptObject, error.Code);
        Assert.Contains("not what its name says", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Snapshot_RoundTrip_ManyChunks_GivesEveryPage()
    {
        var image = new byte[4100 * 512];
        new Random(3).NextBytes(image.AsSpan(0, image.Length / 2));
        var source = new BytesPageSource(image, 512);
        using var encoded = new MemoryStream();
        await using (var encoder = new SnapshotEncoderStream(source, Generation, 3, SqliteHistory.T0))
        {
            await encoder.CopyToAsync(encoded);
        }

        var rebuilt = new byte[image.Length];
        encoded.Position = 0;
        var read = await SnapshotFormat.ReadAsync(encoded, "snap", null, (page, bytes) => bytes.Span.CopyTo(rebuilt.AsSpan((int)(page - 1) * 512)));

        Assert.Equal(image, rebuilt);
        Assert.Equal(new SnapshotHeader(Generation, 3, SqliteHistory.T0, 512, 4100, 2048), read.Header);
        Assert.Equal(encoded.Length, read.Length);
    }

    [Fact]
    public async Task Snapshot_AnyByteFlippedOrTruncated_CorruptObjectNamingIt()
    {
        var image = new byte[3 * 512];
        new Random(4).NextBytes(image);
        using var encoded = new MemoryStream();
        await new SnapshotEncoderStream(new BytesPageSource(image, 512), Generation, 0, SqliteHistory.T0).CopyToAsync(encoded);
        var bytes = encoded.ToArray();

        for (var i = 0; i < bytes.Length; i++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[i] ^= 0x01;
            var flipped = await Assert.ThrowsAsync<FerryException>(() => SnapshotFormat.ReadAsync(new MemoryStream(damaged), "snap-" + i, null, null));
            Assert.Equal(ErrorCodes.StorageCorruptObject, flipped.Code);
            Assert.Contains("snap-" + i, flipped.Message, StringComparison.Ordinal);

            var truncated = await Assert.ThrowsAsync<FerryException>(() => SnapshotFormat.ReadAsync(new MemoryStream(bytes, 0, i), "cut", null, null));
            Assert.Equal(ErrorCodes.StorageCorruptObject, truncated.Code);
        }
    }

    [Fact]
    public async Task Writer_RetriedSegmentAndSnapshot_AlreadyLandedWhenIdenticalConflictWhenNot()
    {
        using var dir = new TempDirectory("writer");
        var storage = new FileStorage(dir.Path);
        var writer = new ReplicaWriter(storage, Db);
        var generation = await writer.CreateGenerationAsync(SqliteHistory.T0, 512);
        var image = new byte[4 * 512];
        image[100] = 1;
        var transactions = TestTransactions.Make(3);

        Assert.False((await writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new BytesPageSource(image, 512))).AlreadyLanded);
        Assert.True((await writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new BytesPageSource(image, 512))).AlreadyLanded);
        Assert.False((await writer.WriteSegmentAsync(generation, 0, transactions)).AlreadyLanded);
        Assert.True((await writer.WriteSegmentAsync(generation, 0, transactions)).AlreadyLanded);

        image[100] = 2;
        var snapshotConflict = await Assert.ThrowsAsync<FerryException>(() => writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new BytesPageSource(image, 512)));
        var segmentConflict = await Assert.ThrowsAsync<FerryException>(() => writer.WriteSegmentAsync(generation, 0, TestTransactions.Make(3, seed: 9)));

        Assert.Equal(ErrorCodes.StorageObjectConflict, snapshotConflict.Code);
        Assert.Equal(ErrorCodes.StorageObjectConflict, segmentConflict.Code);
        var manifest = await ReplicaReader.ReadManifestAsync(storage, ReplicaLayout.Manifest(Db, generation));
        Assert.Equal(new GenerationManifest(1, 7, "/data/app.db", generation.Value, SqliteHistory.T0, 512), manifest);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Manifest_WritesTheFenceTokenOnceAndReadsItBack()
    {
        var manifest = new GenerationManifest(1, 7, "/data/app.db", GenerationId.New(SqliteHistory.T0).Value, SqliteHistory.T0, 512, 3, 9);

        var json = System.Text.Encoding.UTF8.GetString(manifest.ToJson());

        Assert.Contains("\"deploy_generation\": 3", json, StringComparison.Ordinal);
        Assert.DoesNotContain("token", json, StringComparison.Ordinal);
        Assert.Equal(new Ferry.Coordination.FenceToken(3, 9), GenerationManifest.Parse(manifest.ToJson(), "manifest.json").Token);
    }

    [Fact]
    public async Task Writer_PageSourceFails_DatabaseErrorNoObjectNoTempFile()
    {
        using var dir = new TempDirectory("writer-fail");
        var storage = new FileStorage(dir.Path);
        var writer = new ReplicaWriter(storage, Db);
        var generation = await writer.CreateGenerationAsync(SqliteHistory.T0, 512);

        var error = await Assert.ThrowsAsync<FerryException>(() => writer.WriteSnapshotAsync(generation, 0, SqliteHistory.T0, new FailingPages()));

        Assert.Equal(ErrorCodes.DatabaseIo, error.Code);
        Assert.Null(await storage.TryOpenReadAsync(ReplicaLayout.Snapshot(Db, generation, 0)));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    private sealed class FailingPages : Ferry.Capture.IPageSource
    {
        public int PageSize => 512;

        public uint PageCount => 5000;

        public void ReadPage(uint pageNumber, Span<byte> destination)
        {
            if (pageNumber == 4000) throw new IOException("the database file went away");
            destination.Clear();
        }
    }
}
