using Ferry.Capture;
using Ferry.Restore;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Capture;

/// <summary>What a restore would see: a snapshot's pages and the shipped transactions, built into a file with <see cref="DatabaseImage"/>.</summary>
internal sealed class Replica
{
    private readonly byte[][] _snapshot;
    private readonly List<CommittedTransaction> _transactions = [];

    public Replica(IPageSource snapshot)
    {
        PageSize = snapshot.PageSize;
        _snapshot = new byte[snapshot.PageCount][];
        for (uint page = 1; page <= snapshot.PageCount; page++)
        {
            _snapshot[page - 1] = new byte[PageSize];
            snapshot.ReadPage(page, _snapshot[page - 1]);
        }
    }

    public int PageSize { get; }

    public IReadOnlyList<CommittedTransaction> Transactions => _transactions;

    public void Apply(IEnumerable<CommittedTransaction> transactions) => _transactions.AddRange(transactions);

    /// <summary>Writes snapshot then transactions to a new file and returns its <c>.dump</c>.</summary>
    public string Dump(string path)
    {
        using (var image = new DatabaseImage(path, PageSize))
        {
            image.WriteSnapshot(new Pages(_snapshot, PageSize));
            foreach (var transaction in _transactions) image.Apply(transaction);
            image.Flush();
        }

        Assert.Equal("ok", Sqlite3.Run(path, "PRAGMA integrity_check").Trim());
        return Sqlite3.Run(path, ".dump");
    }


    private sealed class Pages(byte[][] pages, int pageSize) : IPageSource
    {
        public int PageSize => pageSize;

        public uint PageCount => (uint)pages.Length;

        public void ReadPage(uint pageNumber, Span<byte> destination) => pages[pageNumber - 1].CopyTo(destination);
    }
}
