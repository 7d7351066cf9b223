using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Capture;

/// <summary>Real WAL files written by SQLite (Ferry's bundled one), captured while the writing connection is open.</summary>
internal static class WalFiles
{
    /// <summary>
    /// A WAL with <paramref name="transactions"/> committed transactions of random rows. With
    /// <paramref name="resetAfter"/>, the WAL is checkpointed and restarted after that many transactions, so the
    /// rest are written from frame 1 again and stale frames of the first cycle follow them.
    /// </summary>
    public static byte[] Write(string directory, int transactions, int seed, int? resetAfter = null, int pageSize = 1024)
    {
        var path = Path.Combine(directory, $"wal-{seed}-{Guid.NewGuid():N}.db");
        var random = new Random(seed);
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Exec(connection, $"PRAGMA page_size={pageSize}; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)");
        for (var i = 0; i < transactions; i++)
        {
            if (resetAfter == i) Exec(connection, "PRAGMA wal_checkpoint(RESTART)");
            using var tx = connection.BeginTransaction();
            var rows = random.Next(1, 6);
            for (var r = 0; r < rows; r++)
            {
                using var insert = connection.CreateCommand();
                insert.Transaction = tx;
                insert.CommandText = "INSERT INTO t (data) VALUES ($d)";
                var data = new byte[random.Next(10, pageSize * 2)];
                random.NextBytes(data);
                insert.Parameters.AddWithValue("$d", data);
                insert.ExecuteNonQuery();
            }

            tx.Commit();
        }

        // Read it while the connection is open: closing the last connection checkpoints and deletes the WAL.
        return File.ReadAllBytes(path + "-wal");
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
