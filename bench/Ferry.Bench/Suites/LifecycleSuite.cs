using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Bench.Harness;
using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Replica;
using Ferry.Restore;
using Ferry.Retention;
using Ferry.S3;
using Ferry.Storage;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Prometheus;
using Ferry.TestKit.S3;
using Ferry.TestKit.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Bench.Suites;

/// <summary>
/// The storage lifecycle (DESIGN §10), three ways: (1) <c>ferry restore</c> of a long chain of one-second segments
/// before and after retention passes packed it, from a directory and from a real s3rver; (2) the storage requests per
/// hour a real agent makes for an idle database and for one written once a second, from its /metrics; (3) what storage
/// holds after hours of one commit a second with and without retention, simulated under a fake clock.
/// </summary>
public sealed partial class LifecycleSuite : IBenchSuite
{
    private const int DefaultChain = 5_400;
    private const int DefaultSeconds = 120;
    private const int Rounds = 3;
    private const int InitialRows = 5_000;
    private const int InitialRowSize = 400;
    private const int RowSize = 100;
    private const int WriteConcurrency = 8;
    private const int MaxPasses = 10;
    private const int SimulatedHours = 6;
    private const long StoreId = 1;
    private const string IdleTask = "lifecycle-idle";
    private const string WrittenTask = "lifecycle-written";
    private static readonly TimeSpan SimulatedWindow = TimeSpan.FromHours(1);
    private static readonly TimeSpan ClockLead = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private static readonly FenceToken Fence = new(1, 1);
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public string Name => "lifecycle";

    public string Summary => "restore of a long chain before/after packing (file://, s3rver); agent storage requests per hour; storage with vs without retention";

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var length = Math.Max(2, context.Options.Ops ?? DefaultChain);
        var seconds = context.Options.Seconds ?? DefaultSeconds;
        var started = DateTime.UtcNow;
        var loads = new List<(string When, double? Load)> { ("start", MachineInfo.LoadAverage()) };

        using var dir = new TempDirectory("bench-lifecycle");

        // (2) measures request counts, which follow the agent's timers and the writer's commits, not the machine's
        // speed, and mostly waits (a pass interval until the first retention pass, then the interval): (3), a
        // simulation that counts, then (1) run meanwhile. (1)'s restore times carry that background alike before
        // and after packing.
        ChainRun? chains = null;
        Simulation? simulation = null;
        var agent = await MeasureAgentAsync(
            context,
            dir,
            seconds,
            async token =>
            {
                simulation = await SimulateAsync(context, dir, token);
                chains = await MeasureChainsAsync(context, dir, length, token);
            },
            cancellationToken);
        loads.Add(("end", MachineInfo.LoadAverage()));

        return Report(context, started, length, seconds, chains!, agent, simulation!, loads);
    }

    // ---------------------------------------------------------------- (1) restore of a long chain, before and after packing

    /// <summary>The source of (1): the database's snapshot, its transactions as read from its WAL, and dumps of the states a restore must give back.</summary>
    private sealed record Chain(
        string Source,
        string Dump,
        byte[] Snapshot,
        int PageSize,
        DateTimeOffset SnapshotAt,
        IReadOnlyList<CommittedTransaction> Transactions,
        DateTimeOffset MidAt,
        string MidDump,
        long SourceBytes,
        double BuildSeconds);

    private sealed record RestoreRound(string State, int Round, double Seconds, int Segments, long Transactions);

    private sealed record CountedRestore(double Seconds, int Segments, Dictionary<string, long> Requests);

    private sealed record Pass(int Number, int Packs, int PackedSegments, int Deleted, long DeletedBytes, double Seconds, Dictionary<string, long> Requests);

    private sealed record StoreRun(
        string Label,
        string? Skipped,
        double WriteSeconds,
        (int Objects, long Bytes) Before,
        (int Objects, long Bytes) After,
        IReadOnlyList<RestoreRound> Rounds,
        CountedRestore? CountedBefore,
        CountedRestore? CountedAfter,
        IReadOnlyList<Pass> Passes);

    private sealed record ChainRun(Chain Chain, double StartupSeconds, string S3rverVersion, IReadOnlyList<StoreRun> Stores);

    private static async Task<ChainRun> MeasureChainsAsync(BenchContext context, TempDirectory dir, int length, CancellationToken cancellationToken)
    {
        var chain = await BuildChainAsync(context, dir, length, cancellationToken);
        var startup = await StartupFloorAsync(dir, cancellationToken);
        context.Log($"lifecycle (1): `ferry --version`, the process start-up floor under every restore below: {startup:0.00} s (best of {Rounds})");

        var stores = new List<StoreRun>();
        var fileStore = dir.File("store-file");
        Directory.CreateDirectory(fileStore);
        stores.Add(await MeasureStoreAsync(context, dir, "file://", fileStore, null, () => StorageFactory.Open(StorageUrl.Parse(fileStore)), chain, cancellationToken));

        var s3rverVersion = S3rverVersion();
        var server = new S3rverServer();
        try
        {
            await server.InitializeAsync();
        }
        catch (InvalidOperationException e)
        {
            context.Log($"lifecycle (1): s3rver could not start, its rows are left out: {e.Message}");
            stores.Add(new StoreRun("s3rver", e.Message, 0, default, default, [], null, null, []));
            return new ChainRun(chain, startup, s3rverVersion, stores);
        }

        try
        {
            var url = $"s3://{server.Bucket}/lifecycle";
            var options = new S3StorageOptions { Endpoint = server.Endpoint, AccessKeyId = S3rverServer.AccessKey, SecretAccessKey = new S3Secret(S3rverServer.SecretKey) };
            stores.Add(await MeasureStoreAsync(context, dir, "s3rver", url, server.Environment, () => new S3ObjectStorage(StorageUrl.Parse(url), options), chain, cancellationToken));
        }
        finally
        {
            await server.DisposeAsync();
        }

        return new ChainRun(chain, startup, s3rverVersion, stores);
    }

    /// <summary>
    /// A real database with <paramref name="length"/> one-row transactions after its snapshot, stamped one second apart,
    /// ending an hour before the last full hour: every hour of the chain is over, as the day before is for a live database.
    /// </summary>
    private static async Task<Chain> BuildChainAsync(BenchContext context, TempDirectory dir, int length, CancellationToken cancellationToken)
    {
        var source = dir.File("chain.db");
        var hours = (length + 3599) / 3600;
        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero) - TimeSpan.FromHours(hours + 1);
        var mid = length / 2;
        var build = Stopwatch.StartNew();
        byte[] snapshot;
        int pageSize;
        var transactions = new List<CommittedTransaction>(length);
        string midDump;
        using (var chain = SqliteChain.Create(source, InitialRows, InitialRowSize, RowSize))
        {
            pageSize = chain.PageSize;
            snapshot = chain.Image();
            for (var i = 0; i < mid; i++) transactions.Add(chain.Commit(start + TimeSpan.FromSeconds(i)));
            midDump = await DumpImageAsync(dir.File("chain-mid.db"), chain.Image(), cancellationToken);
            for (var i = mid; i < length; i++) transactions.Add(chain.Commit(start + TimeSpan.FromSeconds(i)));
        }

        var seconds = build.Elapsed.TotalSeconds;
        var dump = await DumpAsync(source, cancellationToken);
        var frames = transactions.Sum(t => t.Frames.Count);
        context.Log($"lifecycle (1): {source}: snapshot of {snapshot.Length / DiskSpeed.MiB:0.0} MiB ({InitialRows} rows of {InitialRowSize} bytes), then {Markdown.Count(length)} one-row transactions "
            + $"({Markdown.Count(frames)} WAL frames of {pageSize} bytes) in {seconds:0.0} s; {new FileInfo(source).Length / DiskSpeed.MiB:0.0} MiB at the end");
        return new Chain(source, dump, snapshot, pageSize, start - TimeSpan.FromSeconds(1), transactions, transactions[mid - 1].CapturedAt, midDump, new FileInfo(source).Length, seconds);
    }

    private static async Task<StoreRun> MeasureStoreAsync(
        BenchContext context, TempDirectory dir, string label, string url, IReadOnlyDictionary<string, string>? environment, Func<IObjectStorage> open, Chain chain, CancellationToken cancellationToken)
    {
        await using var storage = open();
        using var requests = new StorageRequests();
        var database = new ReplicaDatabase(StoreId, chain.Source);
        var writer = new ReplicaWriter(storage, database, Fence);
        var count = chain.Transactions.Count;

        // The chain as a live stream leaves it: a generation, its snapshot, one segment per transaction.
        var write = Stopwatch.StartNew();
        var generation = await writer.CreateGenerationAsync(chain.SnapshotAt, chain.PageSize, cancellationToken);
        await writer.WriteSnapshotAsync(generation, 0, chain.SnapshotAt, new ImagePages(chain.Snapshot, chain.PageSize), cancellationToken);
        var headers = new HeaderCache();
        await Parallel.ForEachAsync(
            Enumerable.Range(0, count),
            new ParallelOptions { MaxDegreeOfParallelism = WriteConcurrency, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                var transaction = chain.Transactions[i];
                var written = await writer.WriteSegmentAsync(generation, i, [transaction], token);
                var header = new SegmentHeader(generation, i, i, chain.PageSize, transaction.CapturedAt, transaction.CapturedAt, transaction.Frames.Count, Fence);
                lock (headers) headers.Add(written.Name, header);
            });
        var writeSeconds = write.Elapsed.TotalSeconds;
        var before = await ObjectsAsync(storage, cancellationToken);
        context.Log($"lifecycle (1) {label}: wrote the chain ({Markdown.Count(before.Objects)} objects, {before.Bytes / DiskSpeed.MiB:0.0} MiB) in {writeSeconds:0.0} s, {WriteConcurrency} in flight");

        var rounds = new List<RestoreRound>();
        await RestoreRoundsAsync(context, dir, label, url, environment, chain, "before", rounds, cancellationToken);
        var countedBefore = await CountedRestoreAsync(context, dir, label, requests, storage, chain, "before", cancellationToken);

        // Passes as the agent runs them, with no grace and the whole chain published, until one finds nothing to do.
        // The lifecycle's clock is a fake one, set ahead of the real clock before each pass: every hour of the chain
        // is closed, and the packs just written (their storage time is the real clock's) are past the grace of 0.
        var policy = new RetentionPolicy(TaskOptions.Defaults.Retention, TimeSpan.Zero, TaskOptions.Defaults.FlushInterval);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow + ClockLead);
        var counted = requests.Wrap(storage, "lifecycle");
        var lifecycle = new ReplicaLifecycle(counted, database, policy, clock, new ReplicaWriter(counted, database, Fence), published: () => new PublishedPosition(generation, count), headers: headers);
        var passes = new List<Pass>();
        for (var number = 1; number <= MaxPasses; number++)
        {
            var now = DateTimeOffset.UtcNow + ClockLead;
            if (now > clock.GetUtcNow()) clock.SetUtcNow(now);
            var requestsBefore = requests.ByOp("lifecycle");
            var watch = Stopwatch.StartNew();
            var result = await lifecycle.RunPassAsync(null, cancellationToken);
            var pass = new Pass(number, result.Packed, result.PackedSegments, result.Deleted, result.DeletedBytes, watch.Elapsed.TotalSeconds, Delta(requests.ByOp("lifecycle"), requestsBefore));
            passes.Add(pass);
            context.Log($"lifecycle (1) {label}: pass {number}: {pass.Packs} packs of {Markdown.Count(pass.PackedSegments)} segments, {Markdown.Count(pass.Deleted)} objects deleted "
                + $"({pass.DeletedBytes / DiskSpeed.MiB:0.0} MiB) in {pass.Seconds:0.0} s; requests {Show(pass.Requests)}; pending deletions {result.Plan.Pending.Count}");
            if (result.Packed == 0 && result.Deleted == 0) break;
        }

        if (requests.Failed("lifecycle") is > 0 and var failed) throw new InvalidOperationException($"{failed} storage requests of the retention passes failed on {label}");
        var after = await ObjectsAsync(storage, cancellationToken);
        context.Log($"lifecycle (1) {label}: after the passes: {Markdown.Count(after.Objects)} objects, {after.Bytes / DiskSpeed.MiB:0.0} MiB");

        await RestoreRoundsAsync(context, dir, label, url, environment, chain, "after", rounds, cancellationToken);
        var countedAfter = await CountedRestoreAsync(context, dir, label, requests, storage, chain, "after", cancellationToken);
        return new StoreRun(label, null, writeSeconds, before, after, rounds, countedBefore, countedAfter, passes);
    }

    /// <summary>
    /// <see cref="Rounds"/> timed <c>ferry restore</c> (latest) processes, each result compared with the source by
    /// <c>sqlite3 .dump</c>; then one untimed restore to the middle of the chain (<c>--time</c>), compared with the
    /// state captured there.
    /// </summary>
    private static async Task RestoreRoundsAsync(
        BenchContext context, TempDirectory dir, string label, string url, IReadOnlyDictionary<string, string>? environment, Chain chain, string state, List<RestoreRound> rounds, CancellationToken cancellationToken)
    {
        var home = dir.File("home");
        var name = Path.GetFileName(chain.Source);
        for (var round = 1; round <= Rounds; round++)
        {
            var output = dir.File($"restored-{label.TrimEnd(':', '/')}-{state}-{round}.db");
            await ToolAsync("sync", [], cancellationToken);
            var watch = Stopwatch.StartNew();
            var result = await FerryCli.RunAsync(["restore", "--from", url, "--db", name, "--out", output], home, environment, TimeSpan.FromMinutes(30));
            var seconds = watch.Elapsed.TotalSeconds;
            if (result.ExitCode != 0) throw new InvalidOperationException($"ferry restore from {label} ({state} packing) failed: {result}");
            var (segments, transactions) = Applied(result.Stdout);
            if (transactions != chain.Transactions.Count) throw new InvalidOperationException($"ferry restore from {label} applied {transactions} transactions, not {chain.Transactions.Count}: {result.Stdout}");
            await CheckSameAsync(output, chain.Dump, $"the restore from {label} {state} packing", cancellationToken);
            rounds.Add(new RestoreRound(state, round, seconds, segments, transactions));
            context.Log($"lifecycle (1) {label}: restore {state} packing, round {round}: {seconds:0.00} s, {Markdown.Count(segments)} segments, {Markdown.Count(transactions)} transactions; .dump equals the source");
        }

        var mid = dir.File($"restored-{label.TrimEnd(':', '/')}-{state}-mid.db");
        var time = chain.MidAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", Invariant);
        var pit = await FerryCli.RunAsync(["restore", "--from", url, "--db", name, "--out", mid, "--time", time], home, environment, TimeSpan.FromMinutes(30));
        if (pit.ExitCode != 0) throw new InvalidOperationException($"ferry restore --time {time} from {label} ({state} packing) failed: {pit}");
        await CheckSameAsync(mid, chain.MidDump, $"the restore to {time} from {label} {state} packing", cancellationToken);
        context.Log($"lifecycle (1) {label}: restore {state} packing to {time} (the middle of the chain): .dump equals the state captured then");
    }

    /// <summary>One restore in this process through counted storage: the requests a restore makes, and its time without a process start.</summary>
    private static async Task<CountedRestore> CountedRestoreAsync(
        BenchContext context, TempDirectory dir, string label, StorageRequests requests, IObjectStorage storage, Chain chain, string state, CancellationToken cancellationToken)
    {
        var tag = $"restore-{state}";
        var output = dir.File($"restored-{label.TrimEnd(':', '/')}-{state}-counted.db");
        var watch = Stopwatch.StartNew();
        var result = await DatabaseRestore.RunAsync(requests.Wrap(storage, tag), new RestoreRequest(chain.Source, output, null, Verify: false), null, cancellationToken);
        var seconds = watch.Elapsed.TotalSeconds;
        await CheckSameAsync(output, chain.Dump, $"the in-process restore from {label} {state} packing", cancellationToken);
        var counted = new CountedRestore(seconds, result.SegmentsApplied, requests.ByOp(tag));
        context.Log($"lifecycle (1) {label}: in-process restore {state} packing: {seconds:0.00} s, {result.SegmentsApplied} segments; requests {Show(counted.Requests)}");
        return counted;
    }

    /// <summary>The best of <see cref="Rounds"/> <c>ferry --version</c> processes: what every restore process pays before it reads anything.</summary>
    private static async Task<double> StartupFloorAsync(TempDirectory dir, CancellationToken cancellationToken)
    {
        var best = double.MaxValue;
        for (var i = 0; i < Rounds; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var watch = Stopwatch.StartNew();
            var result = await FerryCli.RunAsync(["--version"], dir.File("home"));
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
            if (result.ExitCode != 0) throw new InvalidOperationException($"ferry --version failed: {result}");
        }

        return best;
    }

    [GeneratedRegex(@"\+ (\d+) transactions from (\d+) segments")]
    private static partial Regex AppliedLine();

    private static (int Segments, long Transactions) Applied(string stdout)
    {
        var match = AppliedLine().Match(stdout);
        if (!match.Success) throw new InvalidOperationException($"no '+ N transactions from M segments' in the output of ferry restore: {stdout}");
        return (int.Parse(match.Groups[2].Value, Invariant), long.Parse(match.Groups[1].Value, Invariant));
    }

    private static async Task<(int Objects, long Bytes)> ObjectsAsync(IObjectStorage storage, CancellationToken cancellationToken)
    {
        var objects = await storage.ListAsync(ReplicaLayout.Root, cancellationToken);
        return (objects.Count, objects.Sum(o => o.Size));
    }

    // ---------------------------------------------------------------- (2) storage requests per hour of a running agent

    private sealed record AgentTask(string Name, string Database, Dictionary<string, double> StartUp, Dictionary<string, double> Interval, RetentionRecord? Retention);

    private sealed record AgentRun(string EtcdVersion, double StartUpSeconds, double IntervalSeconds, long Commits, IReadOnlyList<AgentTask> Tasks, double AlongsideEndedAt);

    /// <summary>
    /// (2), with <paramref name="alongside"/> started as soon as the tasks are; returns once both are done (an
    /// error of either ends the run).
    /// </summary>
    private static async Task<AgentRun> MeasureAgentAsync(BenchContext context, TempDirectory dir, int seconds, Func<CancellationToken, Task> alongside, CancellationToken cancellationToken)
    {
        var etcd = new EtcdServer();
        using var stopAlongside = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<double>? work = null;
        try
        {
            context.Log("lifecycle (2): starting etcd");
            await etcd.InitializeAsync();
            var etcdVersion = (MachineInfo.ToolVersion("etcd", "--version") ?? "version unknown").Replace("etcd Version:", "", StringComparison.Ordinal).Trim();
            var home = dir.File("agent");
            Directory.CreateDirectory(home);
            Directory.CreateDirectory(dir.File("agent-dbs"));
            var databases = new Dictionary<string, string> { [IdleTask] = dir.File("agent-dbs/idle.db"), [WrittenTask] = dir.File("agent-dbs/written.db") };
            using var idle = await BenchWriter.StartAsync(databases[IdleTask], "NORMAL", cancellationToken);
            using var written = await BenchWriter.StartAsync(databases[WrittenTask], "NORMAL", cancellationToken);
            foreach (var writer in new[] { idle, written }) await writer.SendAsync("txns 20 1 100", CommandTimeout, cancellationToken);

            await using var meta = await EtcdMetaStore.ConnectAsync([etcd.Endpoint], cancellationToken: cancellationToken);
            var control = new TaskControl(meta, new MetaKeys(), TimeProvider.System);
            await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, StoreId, home);
            context.Log($"lifecycle (2): agent up at {agent.BaseAddress}");
            var startUp = Stopwatch.StartNew();
            foreach (var (task, database) in databases)
            {
                var backup = dir.File($"agent-store-{task}");
                Directory.CreateDirectory(backup);
                var start = await FerryCli.RunAsync(["task", "start", task, "--db", database, "--to", backup, "--meta", etcd.MetaUrl], home);
                if (start.ExitCode != 0) throw new InvalidOperationException($"ferry task start {task} failed: {start}");
            }

            // The application: one commit a second, each a round trip to the python writer, until the end.
            using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            long commits = 0;
            var writing = Task.Run(
                async () =>
                {
                    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                    try
                    {
                        while (await timer.WaitForNextTickAsync(stopWriting.Token))
                        {
                            await written.SendAsync("txns 1 1 100", CommandTimeout, cancellationToken);
                            Interlocked.Increment(ref commits);
                        }
                    }
                    catch (OperationCanceledException) when (stopWriting.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        // The measurement is over.
                    }
                },
                CancellationToken.None);

            work = Task.Run(
                async () =>
                {
                    await alongside(stopAlongside.Token);
                    return startUp.Elapsed.TotalSeconds;
                },
                stopAlongside.Token);

            // Start-up: both streams running and each through its first retention pass (a pass interval after its start).
            await UntilAsync(
                async () =>
                {
                    if (writing.IsFaulted) await writing;
                    if (work.IsFaulted) await work;
                    var status = await control.StatusAsync(cancellationToken: cancellationToken);
                    return databases.Keys.All(task => RetentionOf(status, task) is { LastPassAt: not null });
                },
                "both tasks' first retention pass", agent, cancellationToken);
            var startUpSeconds = startUp.Elapsed.TotalSeconds;
            context.Log($"lifecycle (2): both tasks running and through their first retention pass after {startUpSeconds:0} s; measuring for {seconds} s");

            var atStart = await RequestsAsync(agent);
            var commitsAtStart = Interlocked.Read(ref commits);
            var interval = Stopwatch.StartNew();
            // The measured interval itself, not a wait for anything; cut short only by a failure of the work alongside.
            var measured = Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken);
            if (await Task.WhenAny(measured, work) == work)
            {
                await work;
                await measured;
            }

            var atEnd = await RequestsAsync(agent);
            var intervalSeconds = interval.Elapsed.TotalSeconds;
            var intervalCommits = Interlocked.Read(ref commits) - commitsAtStart;
            var final = await control.StatusAsync(cancellationToken: cancellationToken);

            await stopWriting.CancelAsync();
            await writing;
            var exit = await agent.StopAsync();
            if (exit != 0) throw new InvalidOperationException($"the agent exited {exit}:\n{agent.Log}");
            if (!work.IsCompleted) context.Log("lifecycle (2): done; waiting for (1) and (3)");
            var alongsideEndedAt = await work;

            var tasks = databases.Select(kv =>
            {
                var startUpRequests = ByOp(atStart, kv.Key);
                var inInterval = ByOp(atEnd, kv.Key).ToDictionary(op => op.Key, op => op.Value - startUpRequests[op.Key], StringComparer.Ordinal);
                var failed = Failed(atEnd, kv.Key);
                if (failed > 0) context.Log($"lifecycle (2): {kv.Key}: {failed} storage requests did not succeed");
                context.Log($"lifecycle (2): {kv.Key}: start-up {Show(startUpRequests)}; in {intervalSeconds:0} s {Show(inInterval)}");
                return new AgentTask(kv.Key, kv.Value, startUpRequests, inInterval, RetentionOf(final, kv.Key));
            }).ToList();
            return new AgentRun(etcdVersion, startUpSeconds, intervalSeconds, intervalCommits, tasks, alongsideEndedAt);
        }
        finally
        {
            if (work is { IsCompleted: false })
            {
                // This measurement failed: stop the work alongside before its files go (its own error, if any, is a consequence).
                await stopAlongside.CancelAsync();
                await Task.WhenAny(work, Task.Delay(TimeSpan.FromMinutes(1), CancellationToken.None));
            }

            await etcd.DisposeAsync();
        }
    }

    private static RetentionRecord? RetentionOf(IReadOnlyList<TaskStatusReport> status, string task) =>
        status.FirstOrDefault(t => t.Name == task)?.Stores.FirstOrDefault(s => s.StoreId == StoreId)?.CheckpointRecord?.Retention?.Values.FirstOrDefault();

    private static async Task<IReadOnlyList<PrometheusSample>> RequestsAsync(AgentProcess agent) =>
        [.. PrometheusText.Parse(await agent.MetricsAsync()).Where(s => s.Name == "ferry_storage_requests_total")];

    /// <summary>A task's requests per op, whatever their outcome, every op present (0 when never counted: a series appears at its first count).</summary>
    private static Dictionary<string, double> ByOp(IReadOnlyList<PrometheusSample> samples, string task) =>
        StorageRequests.Ops.ToDictionary(op => op, op => samples.Where(s => s.Labels.GetValueOrDefault("task") == task && s.Labels.GetValueOrDefault("op") == op).Sum(s => s.Value), StringComparer.Ordinal);

    private static double Failed(IReadOnlyList<PrometheusSample> samples, string task) =>
        samples.Where(s => s.Labels.GetValueOrDefault("task") == task && s.Labels.GetValueOrDefault("outcome") != "ok").Sum(s => s.Value);

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, AgentProcess agent, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (agent.Process.HasExited) throw new InvalidOperationException($"the agent exited {agent.Process.ExitCode} while waiting for {what}:\n{agent.Log}");
            if (watch.Elapsed > StepTimeout) throw new TimeoutException($"timed out after {StepTimeout.TotalMinutes:0} min waiting for {what}; agent log:\n{agent.Log}");
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    // ---------------------------------------------------------------- (3) storage with and without retention, simulated

    private sealed record Hour(int Number, int KeptObjects, long KeptBytes, int AllObjects, long AllBytes, Dictionary<string, long> Requests);

    private sealed record Simulation(
        RetentionPolicy Policy, int Commits, int Generations, int Passes, long PackedSegments, long Deleted, IReadOnlyList<Hour> Hours, DateTimeOffset? OldestRestorable, DateTimeOffset End,
        IReadOnlyList<string> Checks, double Seconds);

    /// <summary>
    /// <see cref="SimulatedHours"/> hours of one commit a second under a fake clock, to two in-memory stores at once
    /// (the same transactions, snapshots and generations): one with the agent's retention passes at every pass
    /// interval, one without. Storage's times follow the fake clock, so the grace period runs as it would.
    /// </summary>
    private static async Task<Simulation> SimulateAsync(BenchContext context, TempDirectory dir, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var policy = RetentionPolicy.Of(new TaskOptions { Retention = SimulatedWindow });
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var kept = new MemoryStorage(time);
        var all = new MemoryStorage(time);
        using var requests = new StorageRequests();
        var counted = requests.Wrap(kept, "retention");
        var database = new ReplicaDatabase(StoreId, "/data/app.db");
        var keptWriter = new ReplicaWriter(counted, database, Fence);
        var allWriter = new ReplicaWriter(all, database, Fence);
        var headers = new HeaderCache();
        GenerationId keptGeneration = default, allGeneration = default;
        long next = 0;
        var lifecycle = new ReplicaLifecycle(counted, database, policy, time, keptWriter, published: () => new PublishedPosition(keptGeneration, next), headers: headers);

        using var chain = SqliteChain.Create(dir.File("simulated.db"), InitialRows, InitialRowSize, RowSize);
        var generationStartedAt = time.GetUtcNow();
        var generations = 0;
        async Task RotateAsync()
        {
            // As the stream does when a snapshot is due: a new generation, whose snapshot holds every commit so far.
            var at = time.GetUtcNow();
            var image = chain.Image();
            keptGeneration = await keptWriter.CreateGenerationAsync(at, chain.PageSize, cancellationToken);
            await keptWriter.WriteSnapshotAsync(keptGeneration, 0, at, new ImagePages(image, chain.PageSize), cancellationToken);
            allGeneration = await allWriter.CreateGenerationAsync(at, chain.PageSize, cancellationToken);
            await allWriter.WriteSnapshotAsync(allGeneration, 0, at, new ImagePages(image, chain.PageSize), cancellationToken);
            next = 0;
            generationStartedAt = at;
            generations++;
        }

        await RotateAsync();
        var nextPass = time.GetUtcNow() + policy.PassInterval;
        var hours = new List<Hour>();
        var hourRequests = requests.ByOp("retention");
        int passes = 0, commits = 0;
        long packed = 0, deleted = 0;
        DateTimeOffset? oldest = null;
        for (var second = 1; second <= SimulatedHours * 3600; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            if (time.GetUtcNow() - generationStartedAt >= policy.SnapshotInterval) await RotateAsync();
            var transaction = chain.Commit(time.GetUtcNow());
            commits++;
            var segment = await keptWriter.WriteSegmentAsync(keptGeneration, next, [transaction], cancellationToken);
            headers.Add(segment.Name, new SegmentHeader(keptGeneration, next, next, chain.PageSize, transaction.CapturedAt, transaction.CapturedAt, transaction.Frames.Count, Fence));
            await allWriter.WriteSegmentAsync(allGeneration, next, [transaction], cancellationToken);
            next++;

            if (time.GetUtcNow() >= nextPass)
            {
                var pass = await lifecycle.RunPassAsync(null, cancellationToken);
                passes++;
                packed += pass.PackedSegments;
                deleted += pass.Deleted;
                oldest = pass.Plan.OldestRestorable;
                nextPass = time.GetUtcNow() + policy.PassInterval;
            }

            if (second % 3600 == 0)
            {
                var (keptObjects, keptBytes) = await ObjectsAsync(kept, cancellationToken);
                var (allObjects, allBytes) = await ObjectsAsync(all, cancellationToken);
                var now = requests.ByOp("retention");
                var hour = new Hour(second / 3600, keptObjects, keptBytes, allObjects, allBytes, Delta(now, hourRequests));
                hourRequests = now;
                hours.Add(hour);
                context.Log($"lifecycle (3): simulated hour {hour.Number}: with retention {Markdown.Count(keptObjects)} objects, {keptBytes / DiskSpeed.MiB:0.0} MiB; "
                    + $"without {Markdown.Count(allObjects)} objects, {allBytes / DiskSpeed.MiB:0.0} MiB; requests of the hour with retention {Show(hour.Requests)}");
            }
        }

        if (requests.Failed("retention") is > 0 and var failed) throw new InvalidOperationException($"{failed} storage requests of the simulation failed");

        // Every instant of the window restores the same from both stores, and the latest is the database itself.
        var end = time.GetUtcNow();
        var checks = new List<string>();
        foreach (var at in new DateTimeOffset?[] { end - policy.Window + TimeSpan.FromMinutes(1), end - (policy.Window / 2), end - TimeSpan.FromMinutes(1), null })
        {
            var fromKept = await RestoreBytesAsync(kept, database, dir.File("sim-kept.db"), at, cancellationToken);
            var fromAll = await RestoreBytesAsync(all, database, dir.File("sim-all.db"), at, cancellationToken);
            var what = at is { } t ? $"{(end - t).TotalMinutes:0} min before the end" : "latest";
            if (!fromKept.AsSpan().SequenceEqual(fromAll)) throw new InvalidOperationException($"(3): the restore {what} differs between the stores with and without retention");
            checks.Add(what);
        }

        var image = chain.Image();
        if (!(await RestoreBytesAsync(kept, database, dir.File("sim-kept.db"), null, cancellationToken)).AsSpan().SequenceEqual(image))
        {
            throw new InvalidOperationException("(3): the latest restore with retention is not the database file");
        }

        context.Log($"lifecycle (3): {commits} commits, {generations} generations, {passes} passes in {watch.Elapsed.TotalSeconds:0} s; restores {string.Join(", ", checks)} equal in both stores, latest equals the database file");
        return new Simulation(policy, commits, generations, passes, packed, deleted, hours, oldest, end, checks, watch.Elapsed.TotalSeconds);
    }

    private static async Task<byte[]> RestoreBytesAsync(IObjectStorage storage, ReplicaDatabase database, string output, DateTimeOffset? at, CancellationToken cancellationToken)
    {
        await DatabaseRestore.RunAsync(storage, new RestoreRequest(database.Path, output, at, Verify: false), null, cancellationToken);
        var bytes = await File.ReadAllBytesAsync(output, cancellationToken);
        File.Delete(output);
        return bytes;
    }

    // ---------------------------------------------------------------- shared

    private static Dictionary<string, long> Delta(Dictionary<string, long> now, Dictionary<string, long> before) =>
        now.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key), StringComparer.Ordinal);

    private static string Show<T>(Dictionary<string, T> byOp) => string.Join(", ", byOp.Select(kv => $"{kv.Key} {kv.Value}"));

    private static async Task<string> DumpImageAsync(string path, byte[] image, CancellationToken cancellationToken)
    {
        await File.WriteAllBytesAsync(path, image, cancellationToken);
        try
        {
            return await DumpAsync(path, cancellationToken);
        }
        finally
        {
            DeleteDatabase(path);
        }
    }

    private static async Task<string> DumpAsync(string database, CancellationToken cancellationToken)
    {
        var (exit, stdout, stderr) = await ToolAsync("sqlite3", [database, ".dump"], cancellationToken);
        if (exit != 0 || stdout.Length == 0) throw new InvalidOperationException($"sqlite3 {database} .dump exited {exit}: {stderr}");
        return stdout;
    }

    /// <summary>Fails unless <paramref name="database"/> dumps to <paramref name="expected"/>; removes it either way.</summary>
    private static async Task CheckSameAsync(string database, string expected, string what, CancellationToken cancellationToken)
    {
        try
        {
            var dump = await DumpAsync(database, cancellationToken);
            if (!string.Equals(dump, expected, StringComparison.Ordinal)) throw new InvalidOperationException($"{what} differs from the source: .dump of {dump.Length} characters, the source's {expected.Length}");
        }
        finally
        {
            DeleteDatabase(database);
        }
    }

    private static void DeleteDatabase(string path)
    {
        foreach (var file in new[] { path, path + "-wal", path + "-shm" }) File.Delete(file);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> ToolAsync(string tool, string[] args, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string S3rverVersion()
    {
        var package = Path.Combine(S3rverServer.ToolDirectory, "node_modules", "s3rver", "package.json");
        if (!File.Exists(package)) return "not installed";
        using var json = JsonDocument.Parse(File.ReadAllText(package));
        return json.RootElement.TryGetProperty("version", out var version) ? version.GetString() ?? "?" : "?";
    }

    // ---------------------------------------------------------------- report

    private static string Report(
        BenchContext context, DateTime started, int length, int seconds, ChainRun chains, AgentRun agent, Simulation simulation, List<(string When, double? Load)> loads)
    {
        string F(double value, string format) => value.ToString(format, Invariant);
        static string Passes(int n) => n == 1 ? "1 pass" : $"{n} passes";
        string MiB(long bytes) => F(bytes / DiskSpeed.MiB, bytes < 10 * DiskSpeed.MiB ? "0.00" : "0.0");
        var chain = chains.Chain;
        var defaults = TaskOptions.Defaults;
        var daily = RetentionPolicy.Of(defaults);
        var node = MachineInfo.ToolVersion("node", "--version") ?? "?";
        var sqliteCli = MachineInfo.ToolVersion("sqlite3", "--version")?.Split(' ')[0] ?? "?";
        var frames = chain.Transactions.Sum(t => t.Frames.Count);
        var sb = new StringBuilder();
        sb.AppendLine("## lifecycle: restores of a long chain, storage requests per hour, storage with and without retention");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {context.Machine.OneLine}; s3rver {chains.S3rverVersion} (node {node}), etcd {agent.EtcdVersion}, sqlite3 CLI {sqliteCli} for the checks.");
        sb.AppendLine($"Command: `dotnet run -c Release --project bench/Ferry.Bench -- lifecycle --out docs/benchmarks.md`"
            + (context.Options.Ops is not null || context.Options.Seconds is not null
                ? $" (this run: `--ops {length} --seconds {seconds}`)."
                : $" (`--ops N` sets the chain's length, default {Markdown.Count(DefaultChain)}; `--seconds N` the agent's measured interval, default {DefaultSeconds})."));
        sb.AppendLine($"1-minute load average: {string.Join(", ", loads.Select(l => $"{l.When} {(l.Load is { } v ? F(v, "0.00") : "?")}"))}. "
            + $"(2) mostly waits (a pass interval for its first retention pass, then its interval) and measures counts, which follow the agent's timers and the writer's commits, not the machine's speed: "
            + $"(3) and then (1) ran meanwhile, from (2)'s start to {F(agent.AlongsideEndedAt, "0")} s after it (its interval: {F(agent.StartUpSeconds, "0")}–{F(agent.StartUpSeconds + agent.IntervalSeconds, "0")} s). "
            + "(1)'s restore times therefore carry one running agent and one commit a second in the background, before and after packing alike.");
        sb.AppendLine();

        // ---- (1)
        sb.AppendLine("### (1) Restore of a long chain, before and after packing");
        sb.AppendLine();
        sb.AppendLine($"- **The chain**: a real SQLite database (`t(id INTEGER PRIMARY KEY, data BLOB)`, {Markdown.Count(InitialRows)} rows of {InitialRowSize} random bytes, {MiB(chain.Snapshot.Length)} MiB, {chain.PageSize}-byte pages) "
            + $"written in this process in WAL mode, snapshotted, then {Markdown.Count(length)} one-row transactions ({RowSize} random bytes each), each read back from the -wal file with Ferry's WAL reader "
            + $"({Markdown.Count(frames)} frames in all) and written with `ReplicaWriter` as one segment, captured one second apart (built in {F(chain.BuildSeconds, "0.0")} s; {MiB(chain.SourceBytes)} MiB at the end). "
            + $"That is {F(length / 3600.0, "0.##")} h of a database committing once a second, as a stream with a 1 s flush interval ships it; a day would be {Markdown.Count(86_400)} segments, "
            + $"so the chain is a day scaled by {F(length / 86_400.0, "0.###")} (1/{F(86_400.0 / length, "0.#")}). Its hours are over (it ends more than an hour ago), as the day before is for a live database.");
        sb.AppendLine($"- **Stores**: a directory (`file://`; one fsynced file per object) and a real s3rver on loopback (`s3://BUCKET/lifecycle`; the CLI gets `FERRY_S3_ENDPOINT` and dummy `AWS_*` credentials), "
            + $"each written with {WriteConcurrency} objects in flight ({string.Join(", ", chains.Stores.Where(st => st.Skipped is null).Select(st => $"{st.Label} {F(st.WriteSeconds, "0.0")} s"))}).");
        sb.AppendLine($"- **ferry restore**: `ferry restore --from URL --db chain.db --out PATH` (latest, with its `PRAGMA integrity_check`), timed as a process from start to exit, {Rounds} rounds per state, after a `sync`; "
            + $"the page cache is not dropped (the chain is small: these are per-object costs, not disk reads). A process start alone (`ferry --version`) takes {F(chains.StartupSeconds, "0.00")} s (best of {Rounds}). "
            + "Segments in the plan come from the CLI's own summary line. Every result's `sqlite3 .dump` equals the source's, and a `--time` restore to the middle of the chain equals a dump of the state captured there "
            + "(each store, before and after packing).");
        sb.AppendLine("- **in-process**: one `DatabaseRestore.RunAsync` (what the CLI runs, without the integrity check) in the bench process through Ferry's `CountedStorage`: the requests a restore makes (GET = objects read) and its time without a process start.");
        sb.AppendLine($"- **Packing**: `ReplicaLifecycle.RunPassAsync` as the agent's retention stage runs it: the default task's policy (window {F(defaults.Retention.TotalDays, "0")} d: fine span {F(daily.FineSpan.TotalMinutes, "0")} min, "
            + $"coarse span {F(daily.CoarseSpan.TotalMinutes, "0")} min) with a grace of 0, the published position at the end of the chain, its header cache filled by the writer (as the stage's is, from what shipping wrote), "
            + $"and its clock a `FakeTimeProvider` set {F(ClockLead.TotalMinutes, "0")} min ahead of the real clock before each pass, so every hour of the chain is closed and the packs just written "
            + "(storage stamps them with the real clock) are past the grace. Passes run until one packs and deletes nothing.");
        sb.AppendLine();
        foreach (var skipped in chains.Stores.Where(st => st.Skipped is not null)) sb.AppendLine($"**{skipped.Label} was not measured**: {skipped.Skipped}").AppendLine();

        var measured = chains.Stores.Where(st => st.Skipped is null).ToList();
        double Best(StoreRun st, string state) => st.Rounds.Where(r => r.State == state).Min(r => r.Seconds);
        double Spread(StoreRun st, string state)
        {
            var times = st.Rounds.Where(r => r.State == state).Select(r => r.Seconds).ToList();
            return (times.Max() / times.Min()) - 1;
        }

        sb.Append(Markdown.Table(
            ["store", "packing", "objects stored:", "MiB stored:", "segments in the plan:", "GET:", "LIST:", "ferry restore, best:", "rounds", "spread:", "in-process:"],
            measured.SelectMany(st => new[] { ("before", st.Before, st.CountedBefore!), ("after", st.After, st.CountedAfter!) }.Select(x => (IReadOnlyList<string>)
            [
                st.Label, x.Item1, Markdown.Count(x.Item2.Objects), MiB(x.Item2.Bytes), Markdown.Count(st.Rounds.First(r => r.State == x.Item1).Segments),
                Markdown.Count(x.Item3.Requests["get"]), Markdown.Count(x.Item3.Requests["list"]), $"{F(Best(st, x.Item1), "0.00")} s",
                string.Join(", ", st.Rounds.Where(r => r.State == x.Item1).Select(r => F(r.Seconds, "0.00"))), $"{F(Spread(st, x.Item1) * 100, "0")}%", $"{F(x.Item3.Seconds, "0.00")} s",
            ]))));
        sb.AppendLine();
        sb.AppendLine("Before ÷ after packing (above 1× means packing made the restore cheaper):");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["store", "objects stored:", "segments read:", "GET requests:", "ferry restore time:", "in-process restore time:"],
            measured.Select(st => (IReadOnlyList<string>)
            [
                st.Label, Markdown.Ratio((double)st.Before.Objects / st.After.Objects),
                Markdown.Ratio((double)st.Rounds.First(r => r.State == "before").Segments / st.Rounds.First(r => r.State == "after").Segments),
                Markdown.Ratio((double)st.CountedBefore!.Requests["get"] / st.CountedAfter!.Requests["get"]),
                Markdown.Ratio(Best(st, "before") / Best(st, "after")), Markdown.Ratio(st.CountedBefore.Seconds / st.CountedAfter.Seconds),
            ])));
        sb.AppendLine();
        sb.AppendLine("The passes (requests counted through `CountedStorage`; a pack is written, then read back whole and compared before anything it holds may be deleted):");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["store", "pass", "packs written:", "segments packed:", "objects deleted:", "MiB deleted:", "put:", "get:", "list:", "delete:", "seconds:"],
            measured.SelectMany(st => st.Passes.Select(p => (IReadOnlyList<string>)
            [
                st.Label, p.Number.ToString(Invariant), Markdown.Count(p.Packs), Markdown.Count(p.PackedSegments), Markdown.Count(p.Deleted), MiB(p.DeletedBytes),
                Markdown.Count(p.Requests["put"]), Markdown.Count(p.Requests["get"]), Markdown.Count(p.Requests["list"]), Markdown.Count(p.Requests["delete"]), F(p.Seconds, "0.0"),
            ]))));
        sb.AppendLine();
        string PerObject(StoreRun st)
        {
            var before = st.CountedBefore!;
            var after = st.CountedAfter!;
            var perSegment = (before.Seconds - after.Seconds) / Math.Max(1, before.Segments - after.Segments) * 1000;
            var deletions = st.Passes.Where(p => p.Deleted > 0).ToList();
            var perDeletion = deletions.Sum(p => p.Seconds) / Math.Max(1, deletions.Sum(p => p.Deleted)) * 1000;
            return $"{st.Label} {F(perSegment, "0.00")} ms per segment restored and {F(perDeletion, "0.00")} ms per object deleted";
        }

        sb.AppendLine("\"Spread\" is slowest ÷ fastest − 1 over the rounds: differences smaller than it are noise. A restore downloads up to 8 segments at once (the default `--parallelism`) and applies them in order, and a pass deletes "
            + "one object after another (on S3 a HEAD, then a DELETE, which `ferry_storage_requests_total` counts as one delete): "
            + $"{string.Join("; ", measured.Select(PerObject))} (in-process restores, deleting passes). "
            + "So before packing a restore's time is about one request's latency per segment, and after it the process start, the snapshot and the pack bytes.");
        sb.AppendLine();

        // ---- (2)
        var hourly = 3600 / agent.IntervalSeconds;
        sb.AppendLine("### (2) Storage requests per hour of a running agent");
        sb.AppendLine();
        sb.AppendLine($"A real single-node etcd on loopback and one real `ferry agent --http 127.0.0.1:PORT` process; two tasks created with `ferry task start NAME --db DB --to DIR` and every default "
            + $"(retention {F(defaults.Retention.TotalDays, "0")} d, so a pass interval of {F(daily.PassInterval.TotalMinutes, "0")} min and a grace of {F(daily.Grace.TotalMinutes, "0")} min; flush interval {F(defaults.FlushInterval.TotalSeconds, "0")} s): "
            + $"**{IdleTask}** over a database a python `sqlite3` process filled with 20 one-row transactions and then kept open without writing; **{WrittenTask}** over one the same kind of writer commits a "
            + $"{RowSize}-byte row to once a second ({Markdown.Count(agent.Commits)} commits in the interval). **Start-up**: from `task start` to both tasks' first retention pass, as recorded in their checkpoint "
            + $"records ({F(agent.StartUpSeconds, "0")} s; a stream's first pass comes a pass interval after it starts). Then `/metrics` was scraped at the start and the end of a {F(agent.IntervalSeconds, "0")} s interval: "
            + $"`ferry_storage_requests_total` by op (every outcome; none failed unless noted). **Per hour** is the interval's count × 3600 ÷ {F(agent.IntervalSeconds, "0")}: scaled, not measured over an hour.");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["task", "op", "at start-up:", "in the interval:", "per hour (scaled):"],
            agent.Tasks.SelectMany(t => StorageRequests.Ops.Select(op => (IReadOnlyList<string>)
            [
                t.Name, op, Markdown.Count((long)t.StartUp[op]), Markdown.Count((long)t.Interval[op]), Markdown.Count((long)Math.Round(t.Interval[op] * hourly)),
            ]))));
        sb.AppendLine();
        foreach (var t in agent.Tasks)
        {
            var r = t.Retention;
            sb.AppendLine($"- {t.Name}: {(t.Interval.Values.Sum() == 0 ? "**no request at all in the interval**" : $"{Markdown.Count((long)t.Interval.Values.Sum())} requests in the interval")}; "
                + (r is null ? "no retention record." : $"retention record at the end: {r.Objects} objects, {MiB(r.Bytes)} MiB, last pass {(r.LastPassAt is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at).ToString("HH:mm:ss'Z'", Invariant) : "none")}, {r.FailedPasses} failed passes{(r.ErrorCode is null ? "" : $", last error {r.ErrorCode}")}."));
        }

        var writtenTask = agent.Tasks.First(t => t.Name == WrittenTask);
        sb.AppendLine($"- {WrittenTask}: {F(writtenTask.Interval["put"] / Math.Max(1, agent.Commits), "0.00")} puts per commit in the interval (one segment per flush that saw a commit, plus packs). "
            + $"An interval of {F(agent.IntervalSeconds / 60, "0.#")} min holds about {Passes((int)Math.Round(agent.IntervalSeconds / daily.PassInterval.TotalSeconds))}, and no deletion of packed segments (they fall due {F(daily.Grace.TotalMinutes, "0")} min after their pack) nor an hourly pack: "
            + "the steady state, deletions included, is in (3)'s simulated hours.");
        sb.AppendLine();

        // ---- (3)
        var p3 = simulation.Policy;
        var last = simulation.Hours[^1];
        sb.AppendLine($"### (3) Storage with and without retention ({SimulatedHours} simulated hours, one commit a second)");
        sb.AppendLine();
        sb.AppendLine($"The same kind of database as (1), {Markdown.Count(simulation.Commits)} one-row transactions from its WAL, one per simulated second under a `FakeTimeProvider`, each written as a segment "
            + "to two in-memory stores at once (TestKit's `MemoryStorage`, whose object times follow the fake clock, so the grace period runs as it would): the same transactions, snapshots and generations. "
            + $"Policy: `RetentionPolicy.Of` a task with `--retention {F(p3.Window.TotalHours, "0")}h` (the agent's: grace {F(p3.Grace.TotalMinutes, "0")} min, flush {F(p3.FlushInterval.TotalSeconds, "0")} s; so fine span {F(p3.FineSpan.TotalMinutes, "0")} min, "
            + $"coarse span {F(p3.CoarseSpan.TotalMinutes, "0")} min, snapshot interval {F(p3.SnapshotInterval.TotalMinutes, "0")} min, pass interval {F(p3.PassInterval.TotalMinutes, "0")} min). Both start a new generation with a fresh snapshot "
            + $"every snapshot interval, as the stream does ({simulation.Generations} generations); only **with retention** runs `ReplicaLifecycle` passes, every pass interval ({simulation.Passes} passes: "
            + $"{Markdown.Count(simulation.PackedSegments)} objects merged into packs, segments into minute packs and those into {F(p3.CoarseSpan.TotalMinutes, "0")}-minute ones; {Markdown.Count(simulation.Deleted)} objects deleted), its header cache fed by the writer as the agent's is. "
            + $"The requests of each hour are those of the store with retention, shipping included (counted through `CountedStorage`); without retention every object written is one put, and nothing else is asked. Simulated in {F(simulation.Seconds, "0")} s.");
        sb.AppendLine();
        var previous = 0;
        sb.Append(Markdown.Table(
            ["hour", "objects with:", "MiB with:", "objects without:", "MiB without:", "objects, without ÷ with:", "bytes, without ÷ with:", "put:", "get:", "list:", "delete:", "requests, with ÷ without:"],
            simulation.Hours.Select(h =>
            {
                var puts = h.AllObjects - previous;
                previous = h.AllObjects;
                return (IReadOnlyList<string>)
                [
                    h.Number.ToString(Invariant), Markdown.Count(h.KeptObjects), MiB(h.KeptBytes), Markdown.Count(h.AllObjects), MiB(h.AllBytes),
                    Markdown.Ratio((double)h.AllObjects / h.KeptObjects), Markdown.Ratio((double)h.AllBytes / h.KeptBytes),
                    Markdown.Count(h.Requests["put"]), Markdown.Count(h.Requests["get"]), Markdown.Count(h.Requests["list"]), Markdown.Count(h.Requests["delete"]),
                    Markdown.Ratio((double)h.Requests.Values.Sum() / puts),
                ];
            })));
        sb.AppendLine();
        sb.AppendLine($"After {SimulatedHours} h: **{Markdown.Ratio((double)last.AllObjects / last.KeptObjects)} fewer objects and {Markdown.Ratio((double)last.AllBytes / last.KeptBytes)} fewer bytes with retention** "
            + $"({Markdown.Count(last.KeptObjects)} objects, {MiB(last.KeptBytes)} MiB against {Markdown.Count(last.AllObjects)}, {MiB(last.AllBytes)} MiB). "
            + $"Oldest restorable instant with retention: {(simulation.OldestRestorable is { } o ? $"{F((simulation.End - o).TotalMinutes, "0")} min before the end" : "none")} (the window is {F(p3.Window.TotalMinutes, "0")} min). "
            + $"Checked: the restores {string.Join(", ", simulation.Checks)} give the same bytes from both stores, and the latest equals the database file. "
            + "Without retention both columns grow for as long as the database is written; with it, what is kept is about the window plus a snapshot interval and the grace, "
            + "and grows only as the database (and so each snapshot) does. "
            + $"The price is requests: in the last hour, per commit, {F(last.Requests["put"] / 3600.0, "0.00")} puts (its segment, and packs), {F(last.Requests["get"] / 3600.0, "0.00")} gets "
            + $"(packing reads each segment back, then each pack it wrote) and {F(last.Requests["delete"] / 3600.0, "0.00")} deletes (each packed segment, once its grace is over), "
            + $"{Markdown.Ratio(last.Requests.Values.Sum() / (double)(last.AllObjects - simulation.Hours[^2].AllObjects))} the requests of shipping without retention.");
        return sb.ToString();
    }
}
