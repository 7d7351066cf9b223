using Ferry.Capture;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Storage;

/// <summary>An <see cref="IPageSource"/> over a database file's bytes.</summary>
internal sealed class BytesPageSource(byte[] image, int pageSize) : IPageSource
{
    public int PageSize => pageSize;

    public uint PageCount => (uint)(image.Length / pageSize);

    public int Reads { get; private set; }

    public void ReadPage(uint pageNumber, Span<byte> destination)
    {
        Reads++;
        image.AsSpan((int)(pageNumber - 1) * pageSize, pageSize).CopyTo(destination);
    }
}

/// <summary>
/// Real SQLite history for restore tests: a WAL-mode database changed statement by statement; after each change
/// the connection closes (SQLite checkpoints and removes the WAL) and the file's bytes are one state. A
/// transaction is the pages that differ from the previous state, committed with the new page count: what capture
/// would ship as full-page frames.
/// </summary>
internal sealed class SqliteHistory
{
    public const int PageSize = 4096;

    private readonly string _path;

    public SqliteHistory(string directory)
    {
        _path = Path.Combine(directory, "source.db");
        Execute("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", record: false);
        States.Add(File.ReadAllBytes(_path));
    }

    /// <summary>States[0] is the database after the CREATE; States[i] after i changes.</summary>
    public List<byte[]> States { get; } = [];

    public List<CommittedTransaction> Transactions { get; } = [];

    public static DateTimeOffset T0 { get; } = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>Capture times: transaction i at T0 + (i+1) seconds; the snapshot at T0.</summary>
    public static DateTimeOffset TimeOf(int transaction) => T0.AddSeconds(transaction + 1);

    public void Insert(int rows, int size = 300)
    {
        var id = States.Count;
        Execute($"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) INSERT INTO t(v) SELECT printf('%0{size}d', {id} * 1000 + i) FROM n;");
    }

    public void Execute(string sql, bool record = true)
    {
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        if (!record) return;
        var before = States[^1];
        var after = File.ReadAllBytes(_path);
        var frames = new List<WalFrame>();
        var pages = after.Length / PageSize;
        for (var p = 0; p < pages; p++)
        {
            var page = after.AsMemory(p * PageSize, PageSize);
            if ((p + 1) * PageSize > before.Length || !page.Span.SequenceEqual(before.AsSpan(p * PageSize, PageSize)))
            {
                frames.Add(new WalFrame((uint)(p + 1), 0, page));
            }
        }

        // A commit always carries at least its last frame; page 1 changes on every commit (change counter).
        var last = frames[^1];
        frames[^1] = last with { CommitSize = (uint)pages };
        Transactions.Add(new CommittedTransaction(TimeOf(Transactions.Count), frames));
        States.Add(after);
    }

    public static int CountRows(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM t";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

internal static class TestTransactions
{
    /// <summary>Synthetic transactions (no SQLite meaning) for format tests.</summary>
    public static List<CommittedTransaction> Make(int count, int pageSize = 512, int seed = 1)
    {
        var random = new Random(seed);
        var list = new List<CommittedTransaction>();
        for (var i = 0; i < count; i++)
        {
            var frames = new List<WalFrame>();
            var n = 1 + random.Next(3);
            for (var f = 0; f < n; f++)
            {
                var page = new byte[pageSize];
                random.NextBytes(page.AsSpan(0, pageSize / 4));
                frames.Add(new WalFrame((uint)(1 + random.Next(10)), f == n - 1 ? 10u : 0u, page));
            }

            list.Add(new CommittedTransaction(SqliteHistory.T0.AddMilliseconds(i * 10), frames));
        }

        return list;
    }
}
