using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Bench.Harness;
using Ferry.TestKit;
using Ferry.TestKit.Cli;

namespace Ferry.Bench.Suites;

/// <summary>
/// <c>ferry restore</c> (latest) of a large database against the two ordinary ways to copy the same database:
/// <c>sqlite3 SRC ".backup DEST"</c> and <c>cp SRC DEST</c>. The database is built, replicated by a real
/// <c>ferry replicate</c> process until durable, and the process stopped before anything is timed.
/// </summary>
public sealed class RestoreSuite : IBenchSuite
{
    private const int DefaultSizeMb = 1024;
    private const int DefaultRounds = 3;
    private const int RowSize = 1000;
    private const int TailTransactions = 200;
    private const string DatabaseName = "restore.db";
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PollPeriod = TimeSpan.FromMilliseconds(20);
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly string[] Methods = ["ferry restore", "ferry restore --no-verify", "sqlite3 .backup", "cp"];

    public string Name => "restore";

    public string Summary => "ferry restore of a ~1 GiB database vs sqlite3 .backup and cp of the same file";

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var requestedMb = context.Options.SizeMb ?? DefaultSizeMb;
        var rounds = context.Options.Ops ?? DefaultRounds;
        var started = DateTime.UtcNow;
        var loads = new List<(string When, double? Load)> { ("start", MachineInfo.LoadAverage()) };

        using var dir = new TempDirectory("bench-restore");
        // Source, replica (snapshot ≈ the database) and one output at a time: about 3× the size, plus headroom.
        var free = new DriveInfo(dir.Path).AvailableFreeSpace;
        var sizeMb = requestedMb;
        string? sizeNote = null;
        if (free < 5L << 30 || free < 4L * requestedMb << 20)
        {
            sizeMb = (int)Math.Max(16, Math.Min(requestedMb, ((free >> 20) - 1024) / 4));
            sizeNote = $"only {free / DiskSpeed.MiB / 1024:0.0} GiB free under {Path.GetTempPath()}: the database was reduced from {requestedMb} MiB to {sizeMb} MiB";
            context.Log("restore: " + sizeNote);
        }

        var dropCaches = CanDropCaches();
        context.Log($"restore: {free / DiskSpeed.MiB / 1024:0} GiB free in {dir.Path}; page cache dropped before each copy: {(dropCaches ? "yes (root)" : "no (not root)")}");

        // Build, replicate until durable, stop.
        var db = dir.File(DatabaseName);
        var replica = dir.File("replica");
        string sqliteVersion;
        long rows;
        double buildSeconds, snapshotSeconds, durableSeconds;
        using (var writer = await BenchWriter.StartAsync(db, "NORMAL", cancellationToken))
        {
            sqliteVersion = writer.SqliteVersion;
            var build = Stopwatch.StartNew();
            var reply = await writer.SendAsync(BenchWriter.Format($"build {sizeMb} {RowSize}"), TimeSpan.FromHours(1), cancellationToken);
            buildSeconds = build.Elapsed.TotalSeconds;
            rows = long.Parse(reply[0], Invariant);
            context.Log($"restore: built {db}: {Markdown.Count(rows)} rows, {new FileInfo(db).Length / DiskSpeed.MiB:0} MiB in {buildSeconds:0.0} s (journal mode now {reply[1]})");

            await using var ferry = FerryReplicate.Start(db, replica, dir.File("home"), FlushInterval);
            var snapshot = Stopwatch.StartNew();
            await ferry.WaitUntilRunningAsync(cancellationToken);
            snapshotSeconds = snapshot.Elapsed.TotalSeconds;
            context.Log($"restore: ferry replicate published its first checkpoint (snapshot durable) after {snapshotSeconds:0.0} s");

            // Some WAL after the snapshot, so the restore applies segments too, as a real one does.
            await using var watch = StorageWatch.Start(replica, PollPeriod);
            var lastCommit = BenchWriter.Number((await writer.SendAsync(BenchWriter.Format($"txns {TailTransactions} 10 {RowSize}"), TimeSpan.FromMinutes(5), cancellationToken))[0]);
            rows += TailTransactions * 10;
            var durable = Stopwatch.StartNew();
            await ferry.WaitForCheckpointAsync(lastCommit, PollPeriod, TimeSpan.FromMinutes(10), cancellationToken);
            await watch.WaitQuietAsync(TimeSpan.FromSeconds(3), cancellationToken);
            durableSeconds = durable.Elapsed.TotalSeconds;
            var exit = await ferry.StopAsync(cancellationToken);
            if (exit != 0) throw new InvalidOperationException($"ferry replicate exited with {exit}:\n{ferry.Output}");

            // The copies below read the .db file alone: fold the WAL into it first.
            await writer.SendAsync("checkpoint TRUNCATE", TimeSpan.FromMinutes(10), cancellationToken);
        }

        var sourceBytes = new FileInfo(db).Length;
        var replicaBytes = DiskSpeed.DirectoryBytes(replica);
        context.Log($"restore: source {sourceBytes / DiskSpeed.MiB:0} MiB, {Markdown.Count(rows)} rows; replica {replicaBytes / DiskSpeed.MiB:0} MiB");
        loads.Add(("before timing", MachineInfo.LoadAverage()));

        var results = new List<(int Round, string Method, double Seconds, double SyncSeconds)>();
        for (var round = 1; round <= rounds; round++)
        {
            // Alternate the order so neither side always runs first (or last) in a round.
            var order = round % 2 == 1 ? Methods : [.. Methods.Reverse()];
            foreach (var method in order)
            {
                var output = dir.File($"out-{round}-{method.Replace(' ', '-').Replace(".", "", StringComparison.Ordinal)}.db");
                await SettleAsync(dropCaches, cancellationToken);
                var wall = Stopwatch.StartNew();
                var (exit, text) = method switch
                {
                    "ferry restore" => await FerryAsync(["restore", "--from", replica, "--db", DatabaseName, "--out", output], dir.File("home")),
                    "ferry restore --no-verify" => await FerryAsync(["restore", "--from", replica, "--db", DatabaseName, "--out", output, "--no-verify"], dir.File("home")),
                    "sqlite3 .backup" => await ToolAsync("sqlite3", [db, $".backup '{output}'"], cancellationToken),
                    _ => await ToolAsync("cp", [db, output], cancellationToken),
                };
                var seconds = wall.Elapsed.TotalSeconds;
                if (exit != 0) throw new InvalidOperationException($"{method} exited with {exit}: {text}");
                var sync = Stopwatch.StartNew();
                await ToolAsync("sync", [], cancellationToken);
                var syncSeconds = sync.Elapsed.TotalSeconds;

                var (count, pages) = await CountAsync(output, cancellationToken);
                if (count != rows) throw new InvalidOperationException($"{method}: {output} has {count} rows, the source {rows}");
                context.Log($"restore: round {round} {method,-26} {seconds,6:0.00} s (+ sync {syncSeconds:0.00} s) = {sourceBytes / DiskSpeed.MiB / (seconds + syncSeconds),5:0} MiB/s; {Markdown.Count(count)} rows, {Markdown.Count(pages)} pages, {new FileInfo(output).Length / DiskSpeed.MiB:0} MiB");
                results.Add((round, method, seconds, syncSeconds));
                foreach (var file in new[] { output, output + "-wal", output + "-shm" }) File.Delete(file);
            }
        }

        loads.Add(("end", MachineInfo.LoadAverage()));
        return Report(context, started, sizeMb, sizeNote, dropCaches, sqliteVersion, rows, sourceBytes, replicaBytes, buildSeconds, snapshotSeconds, durableSeconds, rounds, results, loads);
    }

    private static bool CanDropCaches()
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return false;
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Flushes dirty pages, then (when allowed) drops the page cache, so every copy starts from the disk.</summary>
    private static async Task SettleAsync(bool dropCaches, CancellationToken cancellationToken)
    {
        await ToolAsync("sync", [], cancellationToken);
        if (dropCaches) await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3", cancellationToken);
    }

    private static async Task<(int Exit, string Output)> FerryAsync(string[] args, string home)
    {
        var result = await FerryCli.RunAsync(args, home, timeout: TimeSpan.FromHours(1));
        return (result.ExitCode, result.ToString());
    }

    private static async Task<(int Exit, string Output)> ToolAsync(string tool, string[] args, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static async Task<(long Rows, long Pages)> CountAsync(string database, CancellationToken cancellationToken)
    {
        var (exit, text) = await ToolAsync("sqlite3", ["-readonly", database, "SELECT count(*) FROM t; PRAGMA page_count;"], cancellationToken);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (exit != 0 || lines.Length < 2) throw new InvalidOperationException($"could not read {database}: {text}");
        return (long.Parse(lines[0], Invariant), long.Parse(lines[1], Invariant));
    }

    private static string Report(
        BenchContext context, DateTime started, int sizeMb, string? sizeNote, bool dropCaches, string sqliteVersion, long rows, long sourceBytes, long replicaBytes,
        double buildSeconds, double snapshotSeconds, double durableSeconds, int rounds, List<(int Round, string Method, double Seconds, double SyncSeconds)> results,
        List<(string When, double? Load)> loads)
    {
        string F(double value, string format) => value.ToString(format, Invariant);
        var mib = sourceBytes / DiskSpeed.MiB;
        var sqliteCli = MachineInfo.ToolVersion("sqlite3", "--version")?.Split(' ')[0] ?? "?";
        var sb = new StringBuilder();
        sb.AppendLine("## restore: `ferry restore` vs `sqlite3 .backup` and `cp`");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {context.Machine.OneLine}; sqlite3 CLI {sqliteCli}, python3 `sqlite3` (system SQLite {sqliteVersion}) for the writer.");
        sb.AppendLine($"Command: `dotnet run -c Release --project bench/Ferry.Bench -- restore --out docs/benchmarks.md`"
            + (context.Options.SizeMb is not null || context.Options.Ops is not null ? $" (this run: `--size-mb {sizeMb} --ops {rounds}`)." : $" (`--size-mb N` sets the size, default {DefaultSizeMb}; `--ops N` the rounds, default {DefaultRounds})."));
        if (sizeNote is not null) sb.AppendLine($"Note: {sizeNote}.");
        sb.AppendLine();
        sb.AppendLine($"- Source: a {F(mib, "0")} MiB database (`t(id INTEGER PRIMARY KEY, data BLOB)`, {Markdown.Count(rows)} rows of {RowSize}-byte random blobs, "
            + $"built in one statement with the journal off in {F(buildSeconds, "0.0")} s, then put in WAL mode). A real `ferry replicate --flush-interval {FlushInterval.TotalSeconds:0}s` "
            + $"snapshotted it (first checkpoint after {F(snapshotSeconds, "0.0")} s), then {TailTransactions} more transactions of 10 rows were committed and shipped as segments "
            + $"(durable after {F(durableSeconds, "0.0")} s, storage settled), and the process was stopped; replica: {F(replicaBytes / DiskSpeed.MiB, "0")} MiB in a directory on the same disk. "
            + "The WAL was then checkpointed into the source file (TRUNCATE), so all four copy the same state, and every result's row count was checked against the source.");
        sb.AppendLine("- **ferry restore**: `ferry restore --from DIR --db restore.db --out PATH` (latest): snapshot + segments, checksums, then `PRAGMA integrity_check` (the default). "
            + "**--no-verify**: the same without the integrity check. **sqlite3 .backup**: `sqlite3 SRC \".backup DEST\"` (the online backup API). **cp**: `cp SRC DEST`. "
            + "Each is timed as a process, from start to exit (the ferry rows include .NET start-up, about 0.1–0.2 s).");
        sb.AppendLine($"- Before each copy: `sync`{(dropCaches ? ", then `echo 3 > /proc/sys/vm/drop_caches` (run as root), so every copy reads from the disk, not from the page cache" : "; the page cache was not dropped (not root), so reads may come from memory")}. "
            + "\"+ sync\" adds a `sync` right after the copy, the time until the copy is on disk: `cp` leaves its data in the page cache, so its bare time is not comparable. "
            + $"MiB/s = the source's {F(mib, "0")} MiB ÷ (time + sync). {rounds} round(s), the order of the four reversed in every other round.");
        sb.AppendLine($"- 1-minute load average: {string.Join(", ", loads.Select(l => $"{l.When} {(l.Load is { } v ? F(v, "0.00") : "?")}"))} (the copies are mostly I/O; other work on the machine's disk shows up here).");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["round", "method", "seconds:", "+ sync:", "MiB/s:"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.Round.ToString(Invariant), r.Method, F(r.Seconds, "0.00"), F(r.Seconds + r.SyncSeconds, "0.00"), F(mib / (r.Seconds + r.SyncSeconds), "0"),
            ])));
        sb.AppendLine();

        double Best(string method) => results.Where(r => r.Method == method).Min(r => r.Seconds + r.SyncSeconds);
        double Spread(string method)
        {
            var times = results.Where(r => r.Method == method).Select(r => r.Seconds + r.SyncSeconds).ToList();
            return times.Max() / times.Min() - 1;
        }

        sb.AppendLine("Relative to the baselines (best round of each, time + sync; above 1× means ferry restore takes longer):");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["ferry", "÷ sqlite3 .backup:", "÷ cp:", "MiB/s:", "spread over rounds:"],
            Methods.Take(2).Select(m => (IReadOnlyList<string>)
            [
                m, Markdown.Ratio(Best(m) / Best("sqlite3 .backup")), Markdown.Ratio(Best(m) / Best("cp")), F(mib / Best(m), "0"), $"{F(Spread(m) * 100, "0")}%",
            ])));
        sb.AppendLine();
        sb.AppendLine($"Baselines: sqlite3 .backup {F(mib / Best("sqlite3 .backup"), "0")} MiB/s (spread {F(Spread("sqlite3 .backup") * 100, "0")}%), "
            + $"cp {F(mib / Best("cp"), "0")} MiB/s (spread {F(Spread("cp") * 100, "0")}%). \"Spread\" is slowest ÷ fastest − 1 over the rounds: differences smaller than it are noise.");
        return sb.ToString();
    }
}
