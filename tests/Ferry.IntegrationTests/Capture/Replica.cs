using System.Diagnostics;
using Ferry.Capture;
using Ferry.Restore;

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

        Assert.Equal("ok", Sqlite3(path, "PRAGMA integrity_check").Trim());
        return Sqlite3(path, ".dump");
    }

    /// <summary>Runs the sqlite3 command-line shell (the system's SQLite, independent of Ferry's).</summary>
    public static string Sqlite3(string database, string command)
    {
        var info = new ProcessStartInfo("/usr/bin/sqlite3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(database);
        info.ArgumentList.Add(command);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "sqlite3 hung");
        Assert.True(process.ExitCode == 0, $"sqlite3 {command} failed: {stderr.Result}");
        return stdout.Result;
    }

    private sealed class Pages(byte[][] pages, int pageSize) : IPageSource
    {
        public int PageSize => pageSize;

        public uint PageCount => (uint)pages.Length;

        public void ReadPage(uint pageNumber, Span<byte> destination) => pages[pageNumber - 1].CopyTo(destination);
    }
}
