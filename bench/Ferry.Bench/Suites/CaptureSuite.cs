using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Bench.Harness;
using Ferry.TestKit;

namespace Ferry.Bench.Suites;

/// <summary>
/// Capture as an application sees it, against a real <c>ferry replicate</c> process and a separate python3 writer:
/// (a) the writer's transactions/s without and with Ferry attached, (b) capture-to-durable lag at a steady write
/// rate (commit → published checkpoint), (c) capture throughput in MB/s against the disk's own sequential write
/// speed. Each figure is reported against its baseline measured in the same run.
/// </summary>
public sealed class CaptureSuite : IBenchSuite
{
    private const string Synchronous = "NORMAL";
    private const int RowSize = 100;
    private const int DefaultSeconds = 10;
    private const int WarmupSeconds = 2;
    private const int PacedRate = 50;
    private const int PacedSeconds = 20;
    private const int DefaultBulkMb = 200;
    private const int BulkTransactionMb = 4;
    private const int BulkRowSize = 1000;
    private const int DiskProbeMb = 512;
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PollPeriod = TimeSpan.FromMilliseconds(20);

    /// <summary>Storage counts as settled (everything captured uploaded) after this long without a change: 3 flush intervals.</summary>
    private static readonly TimeSpan SettleQuiet = TimeSpan.FromSeconds(3);

    /// <summary>After (c), how long the writer stays idle while the segments Ferry still writes are counted.</summary>
    private static readonly TimeSpan IdleWatch = TimeSpan.FromSeconds(5);
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public string Name => "capture";

    public string Summary => "writer tx/s with vs without ferry replicate, commit-to-durable lag, capture MB/s vs the disk";

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var seconds = context.Options.Seconds ?? DefaultSeconds;
        var bulkMb = context.Options.SizeMb ?? DefaultBulkMb;
        var started = DateTime.UtcNow;
        var loads = new List<(string When, double? Load)> { ("start", MachineInfo.LoadAverage()) };

        using var dir = new TempDirectory("bench-capture");
        var disk = DiskSpeed.SequentialWrite(dir.Path, DiskProbeMb);
        context.Log($"capture: disk sequential write of {DiskProbeMb} MiB + fsync in {dir.Path}: {disk:0} MiB/s");

        var overhead = await MeasureOverheadAsync(context, dir, seconds, cancellationToken);
        loads.Add(("after (a)", MachineInfo.LoadAverage()));
        var lag = await MeasureLagAsync(context, dir, cancellationToken);
        loads.Add(("after (b)", MachineInfo.LoadAverage()));
        var bulk = await MeasureThroughputAsync(context, dir, bulkMb, cancellationToken);
        loads.Add(("end", MachineInfo.LoadAverage()));

        return Report(context.Machine, started, seconds, disk, overhead, lag, bulk, loads, context.Options.Seconds is not null || context.Options.SizeMb is not null);
    }

    // ---- (a) writer transactions/s with and without Ferry ----

    private sealed record BurstRun(int Order, bool WithFerry, long Transactions, double Seconds, double? CatchUpMs, double? SettledMs, long? LateBytes, double? FerryCores, long WalBytes)
    {
        public double PerSecond => Transactions / Seconds;
    }

    private sealed record Overhead(string SqliteVersion, int Synchronous, int AutoCheckpoint, IReadOnlyList<BurstRun> Runs);

    private static async Task<Overhead> MeasureOverheadAsync(BenchContext context, TempDirectory dir, int seconds, CancellationToken cancellationToken)
    {
        var db = dir.File("overhead.db");
        using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
        var timeout = TimeSpan.FromSeconds(seconds + 60);
        await writer.SendAsync(BenchWriter.Format($"burst {WarmupSeconds} {RowSize}"), timeout, cancellationToken);

        // ABBA: without, with, with, without, so a drift of the machine's load over the run weighs on both sides alike.
        var runs = new List<BurstRun>();
        bool[] order = [false, true, true, false];
        for (var i = 0; i < order.Length; i++)
        {
            FerryReplicate? ferry = null;
            StorageWatch? watch = null;
            var replica = dir.File("replica-overhead");
            try
            {
                // The -wal file never shrinks by itself: empty it so its size after the run is what this run made of it.
                await writer.SendAsync("checkpoint TRUNCATE", timeout, cancellationToken);
                if (order[i])
                {
                    ferry = FerryReplicate.Start(db, replica, dir.File("home-overhead"), FlushInterval);
                    await ferry.WaitUntilRunningAsync(cancellationToken);
                    watch = StorageWatch.Start(replica, PollPeriod);
                }

                var cpuBefore = ferry?.CpuTime;
                var reply = await writer.SendAsync(BenchWriter.Format($"burst {seconds} {RowSize}"), timeout, cancellationToken);
                var cpu = ferry is null ? (TimeSpan?)null : ferry.CpuTime - cpuBefore!.Value;
                var (count, elapsed, endMs) = (long.Parse(reply[0], Invariant), BenchWriter.Number(reply[1]), BenchWriter.Number(reply[3]));
                var walBytes = new FileInfo(db + "-wal").Length;
                double? catchUp = null, settled = null;
                long? lateBytes = null;
                if (ferry is not null && watch is not null)
                {
                    catchUp = await ferry.WaitForCheckpointAsync(endMs, PollPeriod, TimeSpan.FromMinutes(10), cancellationToken) - endMs;
                    var atCoverage = DiskSpeed.DirectoryBytes(replica);
                    settled = await watch.WaitQuietAsync(SettleQuiet, cancellationToken) - endMs;
                    var atSettle = DiskSpeed.DirectoryBytes(replica);
                    var exit = await ferry.StopAsync(cancellationToken);
                    if (exit != 0) throw new InvalidOperationException($"ferry replicate exited with {exit}:\n{ferry.Output}");
                    lateBytes = Math.Max(atSettle, DiskSpeed.DirectoryBytes(replica)) - atCoverage;
                }

                var run = new BurstRun(i + 1, order[i], count, elapsed, catchUp, settled, lateBytes, cpu?.TotalSeconds / elapsed, walBytes);
                runs.Add(run);
                context.Log($"capture (a) run {i + 1}: {(order[i] ? "with ferry   " : "without ferry")} {Markdown.Count(count)} tx in {elapsed:0.00} s = {Markdown.Rate(run.PerSecond)} tx/s"
                    + (catchUp is { } c ? $"; checkpoint covered the last commit {c:0} ms after it, storage last grew {settled:0} ms after it ({lateBytes / DiskSpeed.MiB:0.0} MiB arrived after the checkpoint covered it); ferry used {run.FerryCores:0.00} CPUs" : ""));
            }
            finally
            {
                if (watch is not null) await watch.DisposeAsync();
                if (ferry is not null) await ferry.DisposeAsync();
            }
        }

        return new Overhead(writer.SqliteVersion, writer.Synchronous, writer.AutoCheckpointPages, runs);
    }

    // ---- (b) commit-to-durable lag at a steady rate ----

    private sealed record Lag(IReadOnlyList<double> LagsMs, double PollMedianMs, int Polls, int Transactions, double WriterSeconds);

    private static async Task<Lag> MeasureLagAsync(BenchContext context, TempDirectory dir, CancellationToken cancellationToken)
    {
        var db = dir.File("lag.db");
        using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
        await using var ferry = FerryReplicate.Start(db, dir.File("replica-lag"), dir.File("home-lag"), FlushInterval);
        await ferry.WaitUntilRunningAsync(cancellationToken);

        // Poll the published checkpoint every 20 ms while the writer commits at a steady rate, then until the
        // checkpoint covers the last commit.
        var observations = new List<(double SeenMs, long Checkpoint)>();
        var pollDurations = new List<double>();
        var target = double.PositiveInfinity;
        using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var poller = Task.Run(
            async () =>
            {
                using var timer = new PeriodicTimer(PollPeriod);
                var deadline = Stopwatch.StartNew();
                while (await timer.WaitForNextTickAsync(stopPolling.Token))
                {
                    var begin = Stopwatch.GetTimestamp();
                    var checkpoint = await ferry.CheckpointAsync(stopPolling.Token);
                    var seen = FerryReplicate.NowMs();
                    pollDurations.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                    if (checkpoint is { } cp)
                    {
                        observations.Add((seen, cp));
                        if (cp >= Volatile.Read(ref target)) return;
                    }

                    if (deadline.Elapsed > TimeSpan.FromSeconds(PacedSeconds + 120)) throw new TimeoutException($"the checkpoint never covered the last commit:\n{ferry.Output}");
                }
            },
            cancellationToken);

        var wall = Stopwatch.StartNew();
        var commits = (await writer.SendAsync(BenchWriter.Format($"paced {PacedRate} {PacedSeconds} {RowSize}"), TimeSpan.FromSeconds(PacedSeconds + 60), cancellationToken))[0]
            .Split(',').Select(BenchWriter.Number).ToList();
        var writerSeconds = wall.Elapsed.TotalSeconds;
        Volatile.Write(ref target, commits[^1]);
        await poller;
        var exit = await ferry.StopAsync(cancellationToken);
        if (exit != 0) throw new InvalidOperationException($"ferry replicate exited with {exit}:\n{ferry.Output}");

        // A transaction's lag: from its commit to the first poll that saw a checkpoint at or after its commit time.
        var lags = new List<double>(commits.Count);
        var o = 0;
        foreach (var commit in commits)
        {
            while (o < observations.Count && observations[o].Checkpoint < commit) o++;
            if (o == observations.Count) throw new InvalidOperationException("a commit was never covered by the checkpoint");
            lags.Add(observations[o].SeenMs - commit);
        }

        var result = new Lag(lags, Percentiles.NearestRank(pollDurations, 50), pollDurations.Count, commits.Count, writerSeconds);
        context.Log($"capture (b): {commits.Count} tx at {PacedRate}/s: lag p50 {Percentiles.NearestRank(lags, 50):0} ms, p99 {Percentiles.NearestRank(lags, 99):0} ms, max {lags.Max():0} ms; "
            + $"{pollDurations.Count} checkpoint reads, median {result.PollMedianMs:0.0} ms each");
        return result;
    }

    // ---- (c) capture throughput ----

    private sealed record Bulk(
        int Transactions, long PayloadBytes, long GrowthBytes, double WriterSeconds, double CoveredSeconds, double SettledSeconds,
        long StorageAtCoverage, long StorageAtSettle, long StorageAtStop, string StoppedLine, int IdleSegments, long WalFileBytes)
    {
        public long LateBytes => Math.Max(StorageAtSettle, StorageAtStop) - StorageAtCoverage;
    }

    private static async Task<Bulk> MeasureThroughputAsync(BenchContext context, TempDirectory dir, int megabytes, CancellationToken cancellationToken)
    {
        var db = dir.File("bulk.db");
        var replica = dir.File("replica-bulk");
        using var writer = await BenchWriter.StartAsync(db, Synchronous, cancellationToken);
        await using var ferry = FerryReplicate.Start(db, replica, dir.File("home-bulk"), FlushInterval);
        await ferry.WaitUntilRunningAsync(cancellationToken);
        var storageBefore = DiskSpeed.DirectoryBytes(replica);
        await using var watch = StorageWatch.Start(replica, PollPeriod);

        var reply = await writer.SendAsync(BenchWriter.Format($"bulk {megabytes} {BulkTransactionMb} {BulkRowSize}"), TimeSpan.FromMinutes(30), cancellationToken);
        var (startMs, lastMs) = (BenchWriter.Number(reply[0]), BenchWriter.Number(reply[1]));
        var covered = await ferry.WaitForCheckpointAsync(lastMs, PollPeriod, TimeSpan.FromMinutes(30), cancellationToken);
        var storageAtCoverage = DiskSpeed.DirectoryBytes(replica) - storageBefore;
        var settled = await watch.WaitQuietAsync(SettleQuiet, cancellationToken);
        var storageAtSettle = DiskSpeed.DirectoryBytes(replica) - storageBefore;

        // The writer is idle now: does Ferry stay quiet too?
        var filesBefore = Directory.GetFiles(replica, "*.seg", SearchOption.AllDirectories).Length;
        await Task.Delay(IdleWatch, cancellationToken);
        var idleSegments = Directory.GetFiles(replica, "*.seg", SearchOption.AllDirectories).Length - filesBefore;
        var walBytes = new FileInfo(db + "-wal").Length;
        var exit = await ferry.StopAsync(cancellationToken);
        if (exit != 0) throw new InvalidOperationException($"ferry replicate exited with {exit}:\n{ferry.Output}");
        var storageAtStop = DiskSpeed.DirectoryBytes(replica) - storageBefore;
        var stopped = ferry.Output.Split('\n').LastOrDefault(l => l.StartsWith("stopped:", StringComparison.Ordinal))?.Trim() ?? "(no 'stopped:' line)";

        var bulk = new Bulk(int.Parse(reply[2], Invariant), long.Parse(reply[3], Invariant), long.Parse(reply[4], Invariant),
            (lastMs - startMs) / 1000, (covered - startMs) / 1000, (settled - startMs) / 1000, storageAtCoverage, storageAtSettle, storageAtStop, stopped, idleSegments, walBytes);
        context.Log($"capture (c): {bulk.Transactions} tx, database grew {bulk.GrowthBytes / DiskSpeed.MiB:0} MiB; writer done in {bulk.WriterSeconds:0.0} s, "
            + $"checkpoint covered the last commit after {bulk.CoveredSeconds:0.0} s = {bulk.GrowthBytes / DiskSpeed.MiB / bulk.CoveredSeconds:0.0} MiB/s, storage last grew after {bulk.SettledSeconds:0.0} s = {bulk.GrowthBytes / DiskSpeed.MiB / bulk.SettledSeconds:0.0} MiB/s; "
            + $"storage +{storageAtCoverage / DiskSpeed.MiB:0.0} MiB at coverage, +{storageAtSettle / DiskSpeed.MiB:0.0} MiB settled, +{storageAtStop / DiskSpeed.MiB:0.0} MiB after the stop; ferry said '{stopped}'");
        return bulk;
    }

    // ---- report ----

    private static string Report(
        MachineInfo machine, DateTime started, int seconds, double disk, Overhead overhead, Lag lag, Bulk bulk,
        List<(string When, double? Load)> loads, bool overridden)
    {
        string F(double value, string format) => value.ToString(format, Invariant);
        var sb = new StringBuilder();
        sb.AppendLine("## capture: cost of capture to the writer, capture-to-durable lag, capture throughput");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {machine.OneLine}; writer: python3 `sqlite3` with the system SQLite {overhead.SqliteVersion}, "
            + $"`journal_mode=WAL`, `synchronous={Synchronous}` (the usual setting for WAL; python's default would be FULL, an fsync per commit), "
            + $"`wal_autocheckpoint={overhead.AutoCheckpoint}` (SQLite's default, left on), one connection in autocommit. "
            + $"Ferry: a real `ferry replicate DB --to DIR --flush-interval {FlushInterval.TotalSeconds:0}s` process (Release build, embedded metadata store, file storage in the same temp directory).");
        sb.AppendLine($"Command: `dotnet run -c Release --project bench/Ferry.Bench -- capture --out docs/benchmarks.md`"
            + (overridden ? $" (this run: `--seconds {seconds}`, bulk {bulk.PayloadBytes / DiskSpeed.MiB:0} MiB)." : "."));
        sb.AppendLine();
        sb.AppendLine($"1-minute load average: {string.Join(", ", loads.Select(l => $"{l.When} {(l.Load is { } v ? F(v, "0.00") : "?")}"))}. "
            + $"The writer takes one of the {machine.ProcessorCount} CPUs and Ferry part of the other, so anything else running on the machine "
            + "shows up directly in these figures; a load average well above 2 means the run shared the CPUs with other work.");
        sb.AppendLine();

        // (a)
        var without = overhead.Runs.Where(r => !r.WithFerry).ToList();
        var with = overhead.Runs.Where(r => r.WithFerry).ToList();
        var rateWithout = without.Sum(r => r.Transactions) / without.Sum(r => r.Seconds);
        var rateWith = with.Sum(r => r.Transactions) / with.Sum(r => r.Seconds);
        var slowdown = 1 - rateWith / rateWithout;
        var noise = Math.Abs(without[0].PerSecond - without[^1].PerSecond) / rateWithout;
        sb.AppendLine($"### (a) writer transactions/s without and with Ferry");
        sb.AppendLine();
        sb.AppendLine($"One-row transactions (a {RowSize}-byte random blob inserted, autocommit) back to back for {seconds} s per run, "
            + $"after a {WarmupSeconds} s warm-up; runs in the order without, with, with, without on the same database. "
            + $"For the runs with Ferry, `ferry replicate` was started before the run and the run began once its first checkpoint was published "
            + "(the snapshot durable), so start-up is not in the figures. After each run with Ferry: \"checkpoint covers\" is how long after the last commit "
            + "a read of the published checkpoint first showed it at or after that commit; \"storage settled\" is how long after the last commit the replica directory "
            + $"last grew by {StorageWatch.ThresholdBytes / 1024} KiB or more (polled every {PollPeriod.TotalMilliseconds:0} ms until {SettleQuiet.TotalSeconds:0} s without such growth; "
            + "smaller growth is Ferry's own idle checkpoint segments, see (c)): when what was captured had all been uploaded; "
            + "\"MiB after checkpoint\" is what reached storage after the checkpoint already covered the last commit. "
            + "\"ferry CPUs\" is the CPU time the ferry process used during the run ÷ the run's length. "
            + "\"WAL file\" is the size of the database's -wal file at the end of the run (emptied with `wal_checkpoint(TRUNCATE)` before it): "
            + "how far the WAL grew, since SQLite reuses the file from the start after a reset but never shrinks it. "
            + "A negative \"storage settled\" means storage last grew before the writer's last commit returned: capture had kept up.");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["run", "Ferry", "transactions:", "seconds:", "tx/s:", "ferry CPUs:", "checkpoint covers:", "storage settled:", "MiB after checkpoint:", "WAL file MiB:"],
            overhead.Runs.Select(r => (IReadOnlyList<string>)
            [
                r.Order.ToString(Invariant), r.WithFerry ? "attached" : "—", Markdown.Count(r.Transactions), F(r.Seconds, "0.00"), Markdown.Rate(r.PerSecond),
                r.FerryCores is { } cores ? F(cores, "0.00") : "—", r.CatchUpMs is { } c ? Markdown.Latency(c * 1000) : "—",
                r.SettledMs is { } settled ? Markdown.Latency(settled * 1000) : "—", r.LateBytes is { } late ? F(late / DiskSpeed.MiB, "0.0") : "—",
                F(r.WalBytes / DiskSpeed.MiB, "0.0"),
            ])));
        sb.AppendLine();
        sb.AppendLine($"- **Writer throughput with Ferry ÷ without: {Markdown.Ratio(rateWith / rateWithout)}** ({Markdown.Rate(rateWith)} vs {Markdown.Rate(rateWithout)} tx/s, "
            + $"{(slowdown >= 0 ? $"{F(slowdown * 100, "0.0")}% slower" : $"{F(-slowdown * 100, "0.0")}% faster")}; goal: under 5% slower — "
            + (noise > 0.05 && noise > Math.Abs(slowdown)
                ? $"not decidable in this run: the runs without Ferry alone differ by more than that, see the next line)."
                : $"{(slowdown < 0.05 ? "met" : "not met")} in this run)."));
        sb.AppendLine($"- WAL file: at most {F(without.Max(r => r.WalBytes) / DiskSpeed.MiB, "0.0")} MiB without Ferry (the writer's own checkpoints, every "
            + $"{overhead.AutoCheckpoint} pages), at most {F(with.Max(r => r.WalBytes) / DiskSpeed.MiB, "0.0")} MiB with Ferry attached: Ferry holds the WAL until what it read is shipped, then "
            + "asks for an early flush and runs its checkpoint cycle, which resets the WAL while the writer keeps committing.");
        sb.AppendLine($"- Noise: the two runs without Ferry differ by {F(noise * 100, "0.0")}% of their mean; a difference between with and without smaller than that is not a measured effect.");
        var shipRates = with.Where(r => r.SettledMs is not null).Select(r => r.Transactions / (r.Seconds + r.SettledMs!.Value / 1000)).ToList();
        if (shipRates.Count > 0)
        {
            sb.AppendLine($"- Capture kept pace? Storage settled {string.Join(" and ", with.Select(r => Markdown.Latency(r.SettledMs!.Value * 1000)))} after the end of the runs with Ferry: "
                + $"the writer's transactions reached storage at about {string.Join(" and ", shipRates.Select(Markdown.Rate))} tx/s (transactions ÷ (run + settle time)), "
                + $"against the writer's {Markdown.Rate(rateWith)} tx/s with Ferry attached"
                + (shipRates.Max() < 0.9 * rateWith ? ": a writer committing small transactions flat out builds a backlog that Ferry ships after the burst. " : ". ")
                + "From the code: capture reads up to 4096 frames at a time (`DatabaseCaptureOptions.MaxFramesPerRead`) and reads again at once while more are committed; "
                + "what limits it here is CPU (the writer takes one of the 2 CPUs; Ferry's reading, checksumming, compressing and uploading of every page share the other).");
        }

        if (with.Any(r => r.LateBytes > (1 << 20)))
        {
            sb.AppendLine("- **Suspicious:** after a burst, the published checkpoint covered the last commit well before storage had received the data (last column): "
                + "the checkpoint claims durability for transactions that were not yet in storage. See (c).");
        }
        sb.AppendLine();

        // (b)
        var p50 = Percentiles.NearestRank(lag.LagsMs, 50);
        var p99 = Percentiles.NearestRank(lag.LagsMs, 99);
        var ratio = p99 / FlushInterval.TotalMilliseconds;
        sb.AppendLine("### (b) capture-to-durable lag");
        sb.AppendLine();
        sb.AppendLine($"{lag.Transactions} one-row transactions at a steady {PacedRate} tx/s ({lag.WriterSeconds:0.0} s) with Ferry attached. A transaction's commit time is the writer's wall clock "
            + "right after its `COMMIT` returned; its lag is the time from then until a read of the published checkpoint (`TaskControl.StatusAsync` over `SqliteMetaStore` on "
            + $"$FERRY_HOME/meta.db, in the bench process, every {PollPeriod.TotalMilliseconds:0} ms; global checkpoint in unix ms) first showed a checkpoint at or after that commit time. "
            + $"{Markdown.Count(lag.Polls)} checkpoint reads, median {F(lag.PollMedianMs, "0.0")} ms each: the polling adds up to about {PollPeriod.TotalMilliseconds + lag.PollMedianMs:0} ms to a lag.");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["flush interval:", "lag p50:", "lag p99:", "lag max:", "p99 ÷ flush interval:"],
            [[Markdown.Latency(FlushInterval.TotalMilliseconds * 1000), Markdown.Latency(p50 * 1000), Markdown.Latency(p99 * 1000), Markdown.Latency(lag.LagsMs.Max() * 1000), Markdown.Ratio(ratio)]]));
        sb.AppendLine();
        sb.AppendLine($"- Goal: p99 under 1.5× the flush interval — {(ratio < 1.5 ? "met" : "not met")} in this run. What adds up, from the code: capture reads the WAL every "
            + $"flush interval ÷ 10 (at most 100 ms; {Math.Min(100, FlushInterval.TotalMilliseconds / 10):0} ms here), the ship stage uploads a segment once a flush interval has passed, "
            + "and a shipment wakes the task runner, which publishes the checkpoint at once: worst case about "
            + $"{Math.Min(100, FlushInterval.TotalMilliseconds / 10) + FlushInterval.TotalMilliseconds:0} ms plus the upload and the metadata write.");
        sb.AppendLine();

        // (c)
        var growthMb = bulk.GrowthBytes / DiskSpeed.MiB;
        var captureRate = growthMb / bulk.SettledSeconds;
        var claimedRate = growthMb / bulk.CoveredSeconds;
        sb.AppendLine("### (c) capture throughput");
        sb.AppendLine();
        sb.AppendLine($"With Ferry attached, the writer commits {bulk.Transactions} transactions of {BulkTransactionMb} MiB each ({BulkRowSize}-byte random blobs; "
            + $"{bulk.PayloadBytes / DiskSpeed.MiB:0} MiB of payload, the database grew by {growthMb:0} MiB: that many MiB of new pages went through the WAL) back to back. "
            + "Capture throughput is that growth ÷ the time from the first `BEGIN` until storage settled (the replica directory last changed, polled every "
            + $"{PollPeriod.TotalMilliseconds:0} ms until {SettleQuiet.TotalSeconds:0} s without growth of {StorageWatch.ThresholdBytes / 1024} KiB or more). The time until a read of the published checkpoint first covered "
            + "the last commit is shown too, but it is not used: in this run it came before the data was in storage (below). "
            + $"Baseline: the disk's own sequential write speed, measured in the same run on the same temp directory ({DiskProbeMb} MiB in 4 MiB writes through a `FileStream`, then fsync).");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["what", "MiB:", "seconds:", "MiB/s:"],
            [
                ["disk: sequential write + fsync", F(DiskProbeMb, "0"), F(DiskProbeMb / disk, "0.00"), F(disk, "0")],
                ["writer: first BEGIN → last COMMIT (Ferry attached)", F(growthMb, "0"), F(bulk.WriterSeconds, "0.00"), F(growthMb / bulk.WriterSeconds, "0")],
                ["Ferry: first BEGIN → storage settled (all shipped)", F(growthMb, "0"), F(bulk.SettledSeconds, "0.00"), F(captureRate, "0")],
                ["(Ferry: first BEGIN → checkpoint covers last commit)", F(growthMb, "0"), F(bulk.CoveredSeconds, "0.00"), F(claimedRate, "0")],
            ]));
        sb.AppendLine();
        sb.AppendLine($"- **Capture throughput ÷ disk sequential write: {Markdown.Ratio(captureRate / disk)}.** The writer, Ferry's reads of the WAL, the WAL checkpoints and the uploads "
            + "all use the same disk (and page cache) at once, so 1× is out of reach by construction; the disk figure is the ceiling.");
        sb.AppendLine($"- Bytes added to storage (segments, under the replica directory): {bulk.StorageAtCoverage / DiskSpeed.MiB:0.0} MiB when the checkpoint first covered the last commit, "
            + $"{bulk.StorageAtSettle / DiskSpeed.MiB:0.0} MiB once settled, {bulk.StorageAtStop / DiskSpeed.MiB:0.0} MiB after `ferry replicate` stopped (SIGTERM; it ships what it captured). "
            + $"Ferry printed: `{bulk.StoppedLine}`"
            + (bulk.StoppedLine.Contains("stopped: 0 bytes", StringComparison.Ordinal) && bulk.StorageAtStop > 0
                ? " — **suspicious:** it shipped the whole run; the count is taken from `TaskRunner.Report()` after `StopStreamsAsync` has removed every stream from the runner, so it is always 0."
                : "."));
        sb.AppendLine($"- Idle afterwards: with the writer idle for {IdleWatch.TotalSeconds:0} s after the run, Ferry wrote {bulk.IdleSegments} segment(s) "
            + $"(the database's -wal file is {bulk.WalFileBytes / DiskSpeed.MiB:0} MiB; SQLite reuses it from the start after a checkpoint but does not shrink it)."
            + (bulk.IdleSegments > 1
                ? " **Suspicious:** Ferry's checkpoint decision (`DatabaseCapture.CheckpointIfNeeded`) compares the -wal *file* length with its 4 MiB / 1000-frame threshold, "
                    + "so once the file has grown past it, Ferry runs a checkpoint cycle (write lock, nonce transaction, checkpoint, a one-transaction segment) about once a flush interval forever, even with no application writes."
                : ""));
        if (bulk.LateBytes > (1 << 20))
        {
            sb.AppendLine($"- **Suspicious:** {bulk.LateBytes / DiskSpeed.MiB:0.0} MiB reached storage only after the published checkpoint already covered the last commit, i.e. "
                + "claimed every transaction up to it was durable: the checkpoint ran ahead of what was in storage (a product bug, reported, not fixed here).");
        }

        return sb.ToString();
    }
}
