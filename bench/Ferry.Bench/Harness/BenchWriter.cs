using System.Globalization;
using Ferry.TestKit.Sqlite;

namespace Ferry.Bench.Harness;

/// <summary>
/// A separate python3 process writing one SQLite database with the system's libsqlite3 (not Ferry's), the way an
/// application would: one connection kept open, autocommit, WAL mode. Driven line by line over stdin; each command
/// answers one line ("ok …" or "err …"), and timed loops run inside the process so no round trip is measured.
/// Table <c>t(id INTEGER PRIMARY KEY, data BLOB NOT NULL)</c>; rows are random bytes (incompressible).
/// </summary>
public sealed class BenchWriter : IDisposable
{
    private const string Script = """
        import os, sqlite3, sys, time
        path, sync = sys.argv[1], sys.argv[2]
        con = sqlite3.connect(path, timeout=60, isolation_level=None)
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        con.execute("PRAGMA synchronous=%s" % sync)
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        INS = "INSERT INTO t (data) VALUES (?)"
        def say(line):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        def now_ms():
            return time.time() * 1000.0
        say("ready %s %s %d %d" % (sqlite3.sqlite_version, mode, con.execute("PRAGMA synchronous").fetchone()[0],
                                   con.execute("PRAGMA wal_autocheckpoint").fetchone()[0]))
        for line in sys.stdin:
            w = line.split()
            if not w:
                continue
            try:
                cmd = w[0]
                if cmd == "burst":
                    # burst SECONDS SIZE: one-row autocommit transactions back to back for SECONDS.
                    secs, size = float(w[1]), int(w[2])
                    n = 0
                    start_ms = now_ms()
                    start = time.monotonic()
                    end = start + secs
                    while True:
                        con.execute(INS, (os.urandom(size),))
                        n += 1
                        if time.monotonic() >= end:
                            break
                    say("ok %d %.6f %.3f %.3f" % (n, time.monotonic() - start, start_ms, now_ms()))
                elif cmd == "burstmax":
                    # burstmax SECONDS SIZE: as burst, also timing each commit; reports the longest (ms).
                    secs, size = float(w[1]), int(w[2])
                    n, longest = 0, 0.0
                    start = time.monotonic()
                    end = start + secs
                    while True:
                        t = time.monotonic()
                        con.execute(INS, (os.urandom(size),))
                        d = time.monotonic() - t
                        if d > longest:
                            longest = d
                        n += 1
                        if t + d >= end:
                            break
                    say("ok %d %.6f %.3f" % (n, time.monotonic() - start, longest * 1000.0))
                elif cmd == "pacedtx":
                    # pacedtx RATE SECONDS ROWS SIZE: transactions of ROWS rows at a steady rate; for each, when it
                    # began (ms since the first) and how long BEGIN..COMMIT took (ms).
                    rate, secs, rows, size = float(w[1]), float(w[2]), int(w[3]), int(w[4])
                    out = []
                    t0 = time.monotonic()
                    for i in range(int(rate * secs)):
                        delay = t0 + i / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        t = time.monotonic()
                        con.execute("BEGIN")
                        con.executemany(INS, [(os.urandom(size),) for _ in range(rows)])
                        con.execute("COMMIT")
                        out.append("%.1f:%.3f" % ((t - t0) * 1000.0, (time.monotonic() - t) * 1000.0))
                    say("ok " + ",".join(out))
                elif cmd == "walbytes":
                    # walbytes COUNT SIZE: bytes COUNT one-row commits append to the WAL (autocheckpoint paused).
                    count, size = int(w[1]), int(w[2])
                    auto = con.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
                    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    con.execute("PRAGMA wal_autocheckpoint=0")
                    for _ in range(count):
                        con.execute(INS, (os.urandom(size),))
                    grown = os.path.getsize(path + "-wal")
                    con.execute("PRAGMA wal_autocheckpoint=%d" % auto)
                    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    say("ok %d" % grown)
                elif cmd == "maxid":
                    say("ok %d" % (con.execute("SELECT coalesce(max(id), 0) FROM t").fetchone()[0]))
                elif cmd == "paced":
                    # paced RATE SECONDS SIZE: one-row autocommit transactions at a steady rate; the wall time
                    # (unix ms) right after each COMMIT returned.
                    rate, secs, size = float(w[1]), float(w[2]), int(w[3])
                    times = []
                    t0 = time.monotonic()
                    for i in range(int(rate * secs)):
                        delay = t0 + i / rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        con.execute(INS, (os.urandom(size),))
                        times.append("%.3f" % now_ms())
                    say("ok " + ",".join(times))
                elif cmd == "bulk":
                    # bulk TOTAL_MB TXN_MB ROW_SIZE: big transactions back to back; reports the wall time before the
                    # first BEGIN and after the last COMMIT, the count, the payload bytes and the database growth.
                    total, per, size = int(w[1]) << 20, int(w[2]) << 20, int(w[3])
                    rows = max(1, per // size)
                    txns = max(1, total // (rows * size))
                    pages0 = con.execute("PRAGMA page_count").fetchone()[0]
                    start_ms = now_ms()
                    for _ in range(txns):
                        con.execute("BEGIN")
                        con.executemany(INS, [(os.urandom(size),) for _ in range(rows)])
                        con.execute("COMMIT")
                    last_ms = now_ms()
                    pages1 = con.execute("PRAGMA page_count").fetchone()[0]
                    page_size = con.execute("PRAGMA page_size").fetchone()[0]
                    say("ok %.3f %.3f %d %d %d" % (start_ms, last_ms, txns, txns * rows * size, (pages1 - pages0) * page_size))
                elif cmd == "build":
                    # build MB ROW_SIZE: fills the database fast (rollback journal off, no syncs, one statement),
                    # then puts it back in WAL mode with the chosen synchronous setting.
                    mb, size = int(w[1]), int(w[2])
                    con.execute("PRAGMA journal_mode=OFF")
                    con.execute("PRAGMA synchronous=OFF")
                    n = (mb << 20) // size
                    con.execute("BEGIN")
                    con.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                                "INSERT INTO t (data) SELECT randomblob(?) FROM c", (n, size))
                    con.execute("COMMIT")
                    m = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    con.execute("PRAGMA synchronous=%s" % sync)
                    say("ok %d %s" % (n, m))
                elif cmd == "txns":
                    # txns COUNT ROWS SIZE: COUNT transactions of ROWS rows each; the wall time after the last COMMIT.
                    for _ in range(int(w[1])):
                        con.execute("BEGIN")
                        con.executemany(INS, [(os.urandom(int(w[3])),) for _ in range(int(w[2]))])
                        con.execute("COMMIT")
                    say("ok %.3f" % now_ms())
                elif cmd == "checkpoint":
                    r = con.execute("PRAGMA wal_checkpoint(%s)" % w[1]).fetchone()
                    say("ok %d %d %d" % tuple(r))
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

    private readonly PythonScript _script;

    private BenchWriter(PythonScript script) => _script = script;

    public string SqliteVersion { get; private set; } = "?";

    /// <summary>The <c>PRAGMA synchronous</c> value in force (0 OFF, 1 NORMAL, 2 FULL).</summary>
    public int Synchronous { get; private set; }

    /// <summary>The writer's <c>PRAGMA wal_autocheckpoint</c> (pages), SQLite's default unless changed.</summary>
    public int AutoCheckpointPages { get; private set; }

    /// <summary>Starts the writer on <paramref name="databasePath"/> (created if missing) with <c>PRAGMA synchronous=<paramref name="synchronous"/></c>.</summary>
    public static async Task<BenchWriter> StartAsync(string databasePath, string synchronous, CancellationToken cancellationToken)
    {
        var writer = new BenchWriter(PythonScript.Start(Script, [databasePath, synchronous], quitTimeout: TimeSpan.FromSeconds(30)));
        try
        {
            var ready = await writer._script.ReadLineAsync(TimeSpan.FromSeconds(30), cancellationToken);
            var words = ready.Split(' ');
            if (words is not ["ready", _, "wal", _, _]) throw new InvalidOperationException("python writer did not start in WAL mode: " + ready);
            writer.SqliteVersion = words[1];
            writer.Synchronous = int.Parse(words[3], CultureInfo.InvariantCulture);
            writer.AutoCheckpointPages = int.Parse(words[4], CultureInfo.InvariantCulture);
            return writer;
        }
        catch (Exception)
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command and returns the words after "ok"; throws with the writer's message on "err".</summary>
    public async Task<string[]> SendAsync(string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var reply = await _script.SendAsync(command, timeout, cancellationToken);
        return reply.Length == 0 ? [] : reply.Split(' ');
    }

    public static string Format(FormattableString text) => FormattableString.Invariant(text);

    public static double Number(string word) => double.Parse(word, NumberStyles.Float, CultureInfo.InvariantCulture);

    public void Dispose() => _script.Dispose();
}
