using Ferry.Capture;

namespace Ferry.Tests.Capture;

public sealed class PagePoolTests
{
    [Fact]
    public void ReturnedPage_IsRentedAgain_OnlyForItsSize()
    {
        var pool = new PagePool(1 << 20);
        var page = pool.Rent(4096);
        pool.Return([Transaction(page)]);

        Assert.NotSame(page, pool.Rent(8192));
        Assert.Same(page, pool.Rent(4096));
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void PageReturnedTwice_IsHandedOutOnce()
    {
        // Two frames sharing one buffer would overwrite each other's page: the pool must not make that happen.
        var pool = new PagePool(1 << 20);
        var page = pool.Rent(4096);
        pool.Return([Transaction(page)]);
        pool.Return([Transaction(page)]);

        var first = pool.Rent(4096);
        var second = pool.Rent(4096);

        Assert.Same(page, first);
        Assert.NotSame(first, second);
    }

    [Fact]
    public void Retained_NeverExceedsTheCap()
    {
        var pool = new PagePool(3 * 4096);
        var pages = Enumerable.Range(0, 10).Select(_ => pool.Rent(4096)).ToList();
        pool.Return(pages.Select(Transaction));

        Assert.Equal(3 * 4096, pool.RetainedBytes);
    }

    [Fact]
    public void Slice_IsNotTakenIn()
    {
        // A page that is part of a larger array (a decoded segment's body) is not the pool's to reuse.
        var pool = new PagePool(1 << 20);
        var body = new byte[3 * 4096];
        pool.Return([new CommittedTransaction(DateTimeOffset.UnixEpoch, [new WalFrame(1, 1, body.AsMemory(4096, 4096))])]);

        Assert.Equal(0, pool.RetainedBytes);
    }

    private static CommittedTransaction Transaction(byte[] page) =>
        new(DateTimeOffset.UnixEpoch, [new WalFrame(1, 1, page)]);
}
