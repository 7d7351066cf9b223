using System.Globalization;

namespace Ferry.TestKit.Sqlite;

/// <summary>
/// A separate process writing to a SQLite database with Python's sqlite3 module (the machine's libsqlite3, not
/// Ferry's), driven line by line over stdin. Every command is acknowledged ("ok …" or "err …"), so a test awaits
/// the acknowledgement instead of sleeping. The writer keeps its connection open until disposed, like an
/// application would, so Ferry's connections are never the last ones to close.
/// </summary>
public sealed class PythonWriter : IDisposable
{
    /// <summary>The script: one connection in autocommit mode, table <c>t(id INTEGER PRIMARY KEY, data BLOB)</c>.</summary>
    public const string Script = """
        import os, sqlite3, sys
        path, cache_size = sys.argv[1], int(sys.argv[2])
        con = sqlite3.connect(path, timeout=5, isolation_level=None)
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        con.execute("PRAGMA cache_size=%d" % cache_size)
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        def say(line):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        def rows(n, size, marker):
            body = (marker * (size // len(marker) + 1))[:size] if marker else None
            for _ in range(n):
                con.execute("INSERT INTO t (data) VALUES (?)", (body if body else os.urandom(size),))
        say("ready %s %s" % (sqlite3.sqlite_version, mode))
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                cmd = words[0]
                if cmd == "insert":
                    con.execute("BEGIN")
                    rows(int(words[1]), int(words[2]), None)
                    con.execute("COMMIT")
                    say("ok")
                elif cmd == "txns":
                    for _ in range(int(words[1])):
                        rows(1, int(words[2]), None)
                    say("ok")
                elif cmd == "rollback":
                    con.execute("BEGIN")
                    rows(int(words[1]), int(words[2]), words[3].encode() if len(words) > 3 else None)
                    con.execute("ROLLBACK")
                    say("ok")
                elif cmd == "checkpoint":
                    r = con.execute("PRAGMA wal_checkpoint(%s)" % words[1]).fetchone()
                    say("ok %d %d %d" % tuple(r))
                elif cmd == "sql":
                    r = con.execute(line.strip()[4:]).fetchall()
                    say("ok " + "|".join(",".join(str(v) for v in row) for row in r))
                elif cmd == "quit":
                    con.close()
                    say("ok")
                    break
                else:
                    say("err unknown command " + cmd)
            except Exception as e:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                say("err " + str(e).replace("\n", " "))
        """;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private readonly PythonScript _script;

    private PythonWriter(PythonScript script)
    {
        _script = script;
    }

    /// <summary>The writer's process id.</summary>
    public int ProcessId => _script.ProcessId;

    /// <summary>The SQLite version of the writer process (the system's library).</summary>
    public string SqliteVersion { get; private set; } = "?";

    /// <summary>Starts the writer; it puts the database in WAL mode and creates table t.</summary>
    public static async Task<PythonWriter> StartAsync(string databasePath, int cacheSizePages = 2000, CancellationToken cancellationToken = default)
    {
        var writer = new PythonWriter(PythonScript.Start(Script, [databasePath, cacheSizePages.ToString(CultureInfo.InvariantCulture)]));
        try
        {
            var ready = await writer._script.ReadLineAsync(CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (!ready.StartsWith("ready ", StringComparison.Ordinal)) throw new InvalidOperationException("python writer did not start: " + ready);
            writer.SqliteVersion = ready.Split(' ')[1];
            return writer;
        }
        catch (Exception)
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command and returns what follows "ok"; throws with the writer's message on "err".</summary>
    public Task<string> SendAsync(string command, CancellationToken cancellationToken = default) =>
        _script.SendAsync(command, CommandTimeout, cancellationToken);

    /// <summary>One transaction inserting <paramref name="rows"/> rows of <paramref name="size"/> random bytes.</summary>
    public Task InsertAsync(int rows, int size = 100, CancellationToken cancellationToken = default) =>
        SendAsync(string.Create(CultureInfo.InvariantCulture, $"insert {rows} {size}"), cancellationToken);

    /// <summary><paramref name="count"/> transactions of one row each.</summary>
    public Task TransactionsAsync(int count, int size = 100, CancellationToken cancellationToken = default) =>
        SendAsync(string.Create(CultureInfo.InvariantCulture, $"txns {count} {size}"), cancellationToken);

    /// <summary>Inserts rows filled with <paramref name="marker"/> (no spaces) in a transaction, then rolls it back.</summary>
    public Task RollbackAsync(int rows, int size, string marker, CancellationToken cancellationToken = default) =>
        SendAsync(string.Create(CultureInfo.InvariantCulture, $"rollback {rows} {size} {marker}"), cancellationToken);

    /// <summary>Runs <c>PRAGMA wal_checkpoint(MODE)</c>; returns (busy, WAL frames, checkpointed frames).</summary>
    public async Task<(int Busy, int Log, int Checkpointed)> CheckpointAsync(string mode, CancellationToken cancellationToken = default)
    {
        var parts = (await SendAsync("checkpoint " + mode, cancellationToken).ConfigureAwait(false)).Split(' ');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    /// <summary>Runs one SQL statement; rows come back as "a,b|c,d".</summary>
    public Task<string> SqlAsync(string sql, CancellationToken cancellationToken = default) => SendAsync("sql " + sql, cancellationToken);

    public void Dispose() => _script.Dispose();
}
