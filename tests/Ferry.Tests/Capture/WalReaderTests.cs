using System.Buffers.Binary;
using Ferry.Capture;
using Ferry.Errors;
using Ferry.TestKit;

namespace Ferry.Tests.Capture;

public sealed class WalReaderTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly TempDirectory _dir = new("walreader");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ReadCommitted_RealWal_ReturnsEveryTransactionEndingInCommitFrames()
    {
        var wal = WalFiles.Write(_dir.Path, transactions: 12, seed: 1);
        var header = WalHeader.Parse(wal);

        var result = Read(wal, header);

        Assert.Equal(1024, header.PageSize);
        Assert.Equal(WalHeader.SupportedFormatVersion, header.FormatVersion);
        Assert.Equal(13, result.Transactions.Count); // CREATE TABLE + 12 inserts
        Assert.All(result.Transactions, t =>
        {
            Assert.True(t.Frames[^1].IsCommit);
            Assert.All(t.Frames.SkipLast(1), f => Assert.False(f.IsCommit));
            Assert.Equal(At, t.CapturedAt);
        });
        Assert.Equal(WalStopReason.EndOfFile, result.StopReason);
        Assert.Equal((uint)((wal.Length - WalHeader.Size) / header.FrameSize), result.End.FrameIndex);
    }

    [Fact]
    public void ReadCommitted_FromMiddlePosition_ReturnsOnlyLaterTransactions()
    {
        var wal = WalFiles.Write(_dir.Path, transactions: 6, seed: 2);
        var header = WalHeader.Parse(wal);
        var all = Read(wal, header);
        var firstTwo = WalReader.ReadCommitted(new MemoryStream(wal), header, new WalPosition(0, header.Checksum), At, maxFrames: 1);

        var rest = WalReader.ReadCommitted(new MemoryStream(wal), header, firstTwo.End, At);

        Assert.Single(firstTwo.Transactions);
        Assert.Equal(WalStopReason.Limit, firstTwo.StopReason);
        Assert.Equal(all.Transactions.Count - 1, rest.Transactions.Count);
        Assert.Equal(all.End, rest.End);
        AssertSameFrames(all.Transactions.Skip(1).SelectMany(t => t.Frames).ToList(), rest.Transactions.SelectMany(t => t.Frames).ToList());
    }

    [Fact]
    public void ReadCommitted_WalAfterReset_StopsAtStaleFramesOfTheOldSalts()
    {
        var wal = WalFiles.Write(_dir.Path, transactions: 20, seed: 3, resetAfter: 17);
        var header = WalHeader.Parse(wal);

        var result = Read(wal, header);

        Assert.Equal(3, result.Transactions.Count);
        Assert.Equal(WalStopReason.SaltMismatch, result.StopReason);
        Assert.True(WalHeader.Size + (long)result.End.FrameIndex * header.FrameSize < wal.Length, "stale frames follow the valid ones");
    }

    [Fact]
    public void ReadCommitted_TornLastTransaction_EndsAtThePreviousCommit()
    {
        var wal = WalFiles.Write(_dir.Path, transactions: 5, seed: 4);
        var header = WalHeader.Parse(wal);
        var all = Read(wal, header);

        var torn = wal.AsSpan(0, wal.Length - 10).ToArray();
        var result = Read(torn, header);

        Assert.Equal(all.Transactions.Count - 1, result.Transactions.Count);
        Assert.Equal(WalStopReason.EndOfFile, result.StopReason);
        Assert.Equal(all.Transactions[^1].Frames.Count - 1, result.FramesPastLastCommit);
    }

    [Fact]
    public void ReadCommitted_BigEndianChecksums_AreValidatedToo()
    {
        var wal = WalFiles.Write(_dir.Path, transactions: 4, seed: 5);
        var expected = Read(wal, WalHeader.Parse(wal));

        var big = ReencodeBigEndian(wal);
        var header = WalHeader.Parse(big);
        var result = Read(big, header);

        Assert.True(header.BigEndianChecksum);
        AssertSameFrames(expected.Transactions.SelectMany(t => t.Frames).ToList(), result.Transactions.SelectMany(t => t.Frames).ToList());
    }

    [Theory]
    [InlineData(0, nameof(WalHeaderStatus.BadMagic))]
    [InlineData(5, nameof(WalHeaderStatus.BadVersion))]
    [InlineData(10, nameof(WalHeaderStatus.BadPageSize))]
    [InlineData(17, nameof(WalHeaderStatus.BadChecksum))]
    [InlineData(30, nameof(WalHeaderStatus.BadChecksum))]
    public void Parse_DamagedHeader_ThrowsWalInvalidHeader(int offset, string expectedStatus)
    {
        var expected = Enum.Parse<WalHeaderStatus>(expectedStatus);
        var wal = WalFiles.Write(_dir.Path, transactions: 1, seed: 6);
        wal[offset] ^= 0x40;

        var status = WalHeader.TryParse(wal, out var header);
        var error = Assert.Throws<FerryException>(() => WalHeader.Parse(wal));

        Assert.Equal(expected, status);
        Assert.Null(header);
        Assert.Same(ErrorCodes.WalInvalidHeader, error.Code);
        Assert.Equal(ErrorClass.Integrity, error.Class);
    }

    [Fact]
    public void TryParse_ShorterThanHeader_IsTooShortNotAnError()
    {
        Assert.Equal(WalHeaderStatus.TooShort, WalHeader.TryParse(new byte[31], out _));
    }

    [Fact]
    public void Checksum_KnownVector_MatchesSqliteAlgorithm()
    {
        // Words (little-endian) 1,2 then 3,4: s0=1+0=1, s1=2+1=3; s0=1+3+3=7, s1=3+4+7=14.
        var data = new byte[16];
        for (var i = 0; i < 4; i++) BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(i * 4), (uint)(i + 1));

        Assert.Equal(new WalChecksum(7, 14), WalChecksum.Compute(data, bigEndian: false, WalChecksum.Zero));
        Assert.Throws<ArgumentException>(() => WalChecksum.Compute(new byte[12], false, WalChecksum.Zero));
    }

    internal static WalReadResult Read(byte[] wal, WalHeader header) =>
        WalReader.ReadCommitted(new MemoryStream(wal, writable: false), header, new WalPosition(0, header.Checksum), At);

    internal static void AssertSameFrames(IReadOnlyList<WalFrame> expected, IReadOnlyList<WalFrame> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].PageNumber, actual[i].PageNumber);
            Assert.Equal(expected[i].CommitSize, actual[i].CommitSize);
            Assert.True(expected[i].Page.Span.SequenceEqual(actual[i].Page.Span), $"page of frame {i + 1} differs");
        }
    }

    // Rewrites a little-endian-checksum WAL with the big-endian magic and recomputed checksums.
    private static byte[] ReencodeBigEndian(byte[] wal)
    {
        var header = WalHeader.Parse(wal);
        var valid = Read(wal, header).End.FrameIndex;
        var output = wal.AsSpan(0, (int)(WalHeader.Size + valid * header.FrameSize)).ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(output, WalHeader.MagicBigEndian);
        var checksum = WalChecksum.Compute(output.AsSpan(0, 24), bigEndian: true, WalChecksum.Zero);
        BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(24), checksum.S0);
        BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(28), checksum.S1);
        for (var i = 0; i < valid; i++)
        {
            var frame = output.AsSpan((int)header.FrameOffset((uint)i + 1), header.FrameSize);
            checksum = WalChecksum.Compute(frame[..8], true, checksum);
            checksum = WalChecksum.Compute(frame[WalFrameHeader.Size..], true, checksum);
            BinaryPrimitives.WriteUInt32BigEndian(frame[16..], checksum.S0);
            BinaryPrimitives.WriteUInt32BigEndian(frame[20..], checksum.S1);
        }

        return output;
    }
}
