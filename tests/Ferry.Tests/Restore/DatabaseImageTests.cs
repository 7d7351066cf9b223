using Ferry.Capture;
using Ferry.Restore;

namespace Ferry.Tests.Restore;

public sealed class DatabaseImageTests : IDisposable
{
    private const int PageSize = 4096;
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-image-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SnapshotThenFrames_FileHoldsTheLastWriteOfEachPage()
    {
        // Snapshot pages are gathered into long writes; a frame that rewrites a page inside the gathered run, or
        // before it, must still land after it.
        var path = Path.Combine(_dir, "image.db");
        const uint pages = 600; // more than one 1 MiB run of 4 KiB pages
        using (var image = new DatabaseImage(path, PageSize))
        {
            image.WriteSnapshot(new FilledPages(pages));
            image.Apply(new CommittedTransaction(DateTimeOffset.UnixEpoch,
            [
                new WalFrame(599, 0, Page(0xA1)),
                new WalFrame(3, 0, Page(0xA2)),
                new WalFrame(4, 0, Page(0xA3)),
                new WalFrame(3, 601, Page(0xA4)),
            ]));
            image.Flush();
        }

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(601 * PageSize, bytes.Length);
        byte At(uint page) => bytes[(page - 1) * PageSize];
        Assert.Equal(1, At(1));
        Assert.Equal(0xA4, At(3));
        Assert.Equal(0xA3, At(4));
        Assert.Equal((byte)(300 % 251), At(300));
        Assert.Equal(0xA1, At(599));
        Assert.Equal(0, At(601)); // grown by the commit's size, never written
    }

    private static byte[] Page(byte fill) => Enumerable.Repeat(fill, PageSize).ToArray();

    private sealed class FilledPages(uint count) : IPageSource
    {
        public int PageSize => DatabaseImageTests.PageSize;

        public uint PageCount => count;

        public void ReadPage(uint pageNumber, Span<byte> destination) => destination.Fill((byte)(pageNumber % 251));
    }
}
