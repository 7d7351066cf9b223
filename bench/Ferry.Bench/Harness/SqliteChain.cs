using Ferry.Capture;
using Microsoft.Data.Sqlite;

namespace Ferry.Bench.Harness;

/// <summary>
/// A real SQLite database written in this process (Microsoft.Data.Sqlite, WAL mode, automatic checkpoints off,
/// <c>synchronous=OFF</c>: durability is not what is measured), whose transactions are read back from its -wal file
/// with Ferry's own WAL reader, frame for frame: the page changes a capture of it would ship. Table
/// <c>t(id INTEGER PRIMARY KEY, data BLOB NOT NULL)</c>; each transaction inserts one row of random bytes.
/// <see cref="Image"/> checkpoints the WAL into the file and returns the file's pages: the state a snapshot holds.
/// </summary>
internal sealed class SqliteChain : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly string _walPath;
    private WalHeader? _header;
    private WalPosition _position;

    private SqliteChain(string path, SqliteConnection connection, int rowSize)
    {
        Path = path;
        _connection = connection;
        _walPath = path + "-wal";
        _insert = connection.CreateCommand();
        _insert.CommandText = "INSERT INTO t (data) VALUES (randomblob($size))";
        _insert.Parameters.AddWithValue("$size", rowSize);
        using var pageSize = connection.CreateCommand();
        pageSize.CommandText = "PRAGMA page_size";
        PageSize = Convert.ToInt32(pageSize.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Path { get; }

    public int PageSize { get; }

    /// <summary>Transactions committed so far (the initial rows excluded).</summary>
    public long Commits { get; private set; }

    /// <summary>
    /// Creates the database at <paramref name="path"/> with <paramref name="initialRows"/> rows of
    /// <paramref name="initialRowSize"/> bytes (one transaction, not returned); each <see cref="Commit"/> then inserts
    /// one of <paramref name="rowSize"/> bytes.
    /// </summary>
    public static SqliteChain Create(string path, int initialRows, int initialRowSize, int rowSize)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL");
            Execute(connection, "PRAGMA wal_autocheckpoint=0");
            Execute(connection, "PRAGMA synchronous=OFF");
            Execute(connection, "CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
            Execute(connection, $"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {initialRows}) INSERT INTO t (data) SELECT randomblob({initialRowSize}) FROM c");
            var chain = new SqliteChain(path, connection, rowSize);
            chain.Image(); // the initial rows go into the file; the WAL starts empty
            return chain;
        }
        catch (Exception)
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Commits one transaction and returns it as read from the WAL, stamped <paramref name="capturedAt"/>.</summary>
    public CommittedTransaction Commit(DateTimeOffset capturedAt)
    {
        _insert.ExecuteNonQuery();
        Commits++;
        using var wal = new FileStream(_walPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (_header is null)
        {
            var bytes = new byte[WalHeader.Size];
            wal.ReadExactly(bytes);
            _header = WalHeader.Parse(bytes);
            _position = new WalPosition(0, _header.Checksum);
        }

        var read = WalReader.ReadCommitted(wal, _header, _position, capturedAt);
        if (read.Transactions.Count != 1)
        {
            throw new InvalidOperationException($"expected one committed transaction in {_walPath} after frame {_position.FrameIndex}, read {read.Transactions.Count} (stopped: {read.StopReason})");
        }

        _position = read.End;
        return read.Transactions[0];
    }

    /// <summary>
    /// Checkpoints the WAL into the database file (TRUNCATE: the next commit starts a new WAL) and returns the file:
    /// the database after every commit so far, page by page.
    /// </summary>
    public byte[] Image()
    {
        using (var checkpoint = _connection.CreateCommand())
        {
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            using var reader = checkpoint.ExecuteReader();
            if (!reader.Read() || reader.GetInt32(0) != 0) throw new InvalidOperationException($"the TRUNCATE checkpoint of {Path} was blocked");
        }

        _header = null;
        using var file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var image = new byte[file.Length];
        file.ReadExactly(image);
        if (image.Length % PageSize != 0) throw new InvalidOperationException($"{Path} is {image.Length} bytes, not a whole number of {PageSize}-byte pages");
        return image;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Closes the connection: SQLite checkpoints the WAL into the file and removes it.</summary>
    public void Dispose()
    {
        _insert.Dispose();
        _connection.Dispose();
    }
}

/// <summary>A database image in memory (the bytes of a database file), as the pages a snapshot is written from.</summary>
internal sealed class ImagePages(byte[] image, int pageSize) : IPageSource
{
    public int PageSize => pageSize;

    public uint PageCount => (uint)(image.Length / pageSize);

    public void ReadPage(uint pageNumber, Span<byte> destination) => image.AsSpan((int)(pageNumber - 1) * pageSize, pageSize).CopyTo(destination);
}
