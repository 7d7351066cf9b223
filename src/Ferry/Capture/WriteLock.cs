using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Ferry.Capture;

/// <summary>
/// The database's write lock held by one of Ferry's connections (<c>BEGIN IMMEDIATE</c> … <c>COMMIT</c>).
/// </summary>
/// <remarks>
/// Taken by retrying <c>BEGIN IMMEDIATE</c> directly, not through SQLite's busy handler or Microsoft.Data.Sqlite's
/// retry loop: those sleep between attempts (SQLite from 1 ms up to 100 ms, Microsoft.Data.Sqlite 150 ms), and an
/// application that commits back to back frees the lock only for microseconds between its transactions, so a
/// sleeping waiter practically never finds it free and Ferry could not checkpoint while the application wrote:
/// the WAL grew by gigabytes in seconds. A burst of immediate attempts catches one of those gaps; between
/// bursts the waiter yields, then sleeps 1 ms, so a long wait costs little CPU. Statements run on the connection
/// while the lock is held need no transaction object: the connection is in the transaction.
/// </remarks>
internal sealed class WriteLock : IDisposable
{
    private const int ImmediateAttempts = 200;
    private const int YieldingAttempts = 2000;

    private readonly SqliteConnection _connection;
    private bool _open = true;

    private WriteLock(SqliteConnection connection) => _connection = connection;

    /// <summary>
    /// Takes the write lock within <paramref name="timeout"/>, or throws SQLITE_BUSY's <see cref="SqliteException"/>.
    /// The connection's busy timeout is <paramref name="busyTimeoutAfter"/> afterwards, either way.
    /// </summary>
    public static WriteLock Take(SqliteConnection connection, TimeSpan timeout, TimeSpan busyTimeoutAfter)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var handle = connection.Handle ?? throw new InvalidOperationException("the connection is not open");
        // Each attempt must return at once; the waiting is ours.
        raw.sqlite3_busy_timeout(handle, 0);
        try
        {
            return Attempt(connection, handle, timeout);
        }
        finally
        {
            raw.sqlite3_busy_timeout(handle, (int)busyTimeoutAfter.TotalMilliseconds);
        }
    }

    private static WriteLock Attempt(SqliteConnection connection, sqlite3 handle, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            var rc = raw.sqlite3_exec(handle, "BEGIN IMMEDIATE");
            if (rc == raw.SQLITE_OK) return new WriteLock(connection);
            if ((rc & 0xff) != raw.SQLITE_BUSY) SqliteException.ThrowExceptionForRC(rc, handle);
            if (watch.Elapsed >= timeout)
            {
                throw new SqliteException($"the write lock stayed busy for {timeout.TotalSeconds:0.#} s ({attempt + 1} attempts)", raw.SQLITE_BUSY);
            }

            if (attempt < ImmediateAttempts) continue;
            if (attempt < YieldingAttempts) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    public void Commit() => End("COMMIT");

    public void Rollback() => End("ROLLBACK");

    /// <summary>
    /// Ends a lock neither committed nor rolled back (a failure between) without throwing, so the failure that got
    /// us here is the one reported: SQLite may already have rolled back (after SQLITE_FULL or an I/O error), and if
    /// the rollback fails the caller's failure path closes the connection, which ends the transaction anyway.
    /// </summary>
    public void Dispose()
    {
        if (!_open) return;
        _open = false;
        var handle = _connection.Handle!;
        if (raw.sqlite3_get_autocommit(handle) == 0) raw.sqlite3_exec(handle, "ROLLBACK");
    }

    private void End(string sql)
    {
        if (!_open) throw new InvalidOperationException("the write lock was already released");
        _open = false;
        var handle = _connection.Handle!;
        var rc = raw.sqlite3_exec(handle, sql);
        if (rc == raw.SQLITE_OK) return;
        var failure = new SqliteException($"{sql} failed: {raw.sqlite3_errmsg(handle).utf8_to_string()}", rc, raw.sqlite3_extended_errcode(handle));
        // A failed COMMIT can leave the transaction open: end it so the lock is not held. Should the rollback fail
        // too, the caller's failure path closes the connection, which ends the transaction either way.
        if (raw.sqlite3_get_autocommit(handle) == 0) raw.sqlite3_exec(handle, "ROLLBACK");
        throw failure;
    }
}
