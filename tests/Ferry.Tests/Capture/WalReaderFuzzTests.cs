using Ferry.Capture;
using Ferry.Errors;
using Ferry.TestKit;

namespace Ferry.Tests.Capture;

/// <summary>
/// Damages real WAL files at random (seeded) and checks the two promises of the reader: it throws nothing but
/// <see cref="FerryException"/>, and what it accepts is always a prefix of what the undamaged file holds.
/// </summary>
public sealed class WalReaderFuzzTests : IDisposable
{
    private readonly TempDirectory _dir = new("walfuzz");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(11, null)]
    [InlineData(12, 9)]
    public void ReadCommitted_RandomDamage_AcceptsOnlyAPrefixOfTheGoodFrames(int seed, int? resetAfter)
    {
        var good = WalFiles.Write(_dir.Path, transactions: 14, seed: seed, resetAfter: resetAfter, pageSize: 512);
        var goodHeader = WalHeader.Parse(good);
        var goodFrames = WalReaderTests.Read(good, goodHeader).Transactions.SelectMany(t => t.Frames).ToList();
        Assert.True(goodFrames.Count > 20, "the sample WAL should hold a fair number of frames");

        var random = new Random(seed);
        int headerErrors = 0, shorter = 0;
        for (var iteration = 0; iteration < 2000; iteration++)
        {
            var damaged = Damage(good, random);
            WalReadResult result;
            try
            {
                var header = WalHeader.Parse(damaged);
                result = WalReader.ReadCommitted(new MemoryStream(damaged, writable: false), header, new WalPosition(0, header.Checksum), DateTimeOffset.UnixEpoch, maxFrames: random.Next(1, 200));
            }
            catch (FerryException e)
            {
                Assert.Same(ErrorCodes.WalInvalidHeader, e.Code);
                headerErrors++;
                continue;
            }

            var accepted = result.Transactions.SelectMany(t => t.Frames).ToList();
            Assert.True(accepted.Count <= goodFrames.Count, $"iteration {iteration}: more frames than the good file");
            WalReaderTests.AssertSameFrames(goodFrames.Take(accepted.Count).ToList(), accepted);
            if (accepted.Count < goodFrames.Count) shorter++;
        }

        // The damage must actually bite, or the test proves nothing.
        Assert.True(headerErrors > 0, "no iteration damaged the header");
        Assert.True(shorter > 500, $"only {shorter} iterations cut the valid sequence short");
    }

    private static byte[] Damage(byte[] good, Random random)
    {
        var bytes = good.ToArray();
        switch (random.Next(5))
        {
            case 0: // flip one bit anywhere
            {
                var at = random.Next(bytes.Length);
                bytes[at] ^= (byte)(1 << random.Next(8));
                return bytes;
            }

            case 1: // overwrite a few random bytes
                for (var i = random.Next(1, 8); i > 0; i--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 2: // truncate anywhere
                return bytes.AsSpan(0, random.Next(bytes.Length)).ToArray();
            case 3: // zero a range, as a torn write leaves it
            {
                var at = random.Next(bytes.Length);
                bytes.AsSpan(at, Math.Min(bytes.Length - at, random.Next(1, 2048))).Clear();
                return bytes;
            }

            default: // damage a frame header field (salt, checksum, page number, commit size)
            {
                var frames = (bytes.Length - WalHeader.Size) / (WalFrameHeader.Size + 512);
                var frame = random.Next(Math.Max(frames, 1));
                var at = WalHeader.Size + (frame * (WalFrameHeader.Size + 512)) + random.Next(WalFrameHeader.Size);
                if (at < bytes.Length) bytes[at] ^= (byte)random.Next(1, 256);
                return bytes;
            }
        }
    }
}
