using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Ferry.Bench.Harness;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Bench.Suites;

/// <summary>
/// The error mechanism's cost: (a) how long an injected permanent storage error takes to become a visible
/// PAUSED_DUE_TO_ERROR, end to end (real etcd, a real agent process, a real python writer, <c>ferry task status
/// --json</c>); (b) what an unarmed failpoint costs on the data path; (c) what reporting one error costs.
/// </summary>
public sealed class ErrorsSuite : IBenchSuite
{
    private const int DefaultPauses = 10;
    private const int DefaultPauseWarmup = 1;
    private const int CallsPerRound = 10_000_000;
    private const int ReportsPerRound = 200_000;
    private const int WarmupRounds = 8;
    private const int MeasuredRounds = 15;
    private const string Armed = "storage.put=error(FERRY:Storage:QuotaExceeded)\n";
    private const string Disarmed = "storage.put=off\n";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    public string Name => "errors";

    public string Summary => "injected permanent error to visible PAUSED_DUE_TO_ERROR; unarmed failpoint and error report cost";

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var pauses = context.Options.Ops ?? DefaultPauses;
        var warmup = context.Options.Warmup ?? DefaultPauseWarmup;
        var started = DateTime.UtcNow;
        var loadBefore = MachineInfo.LoadAverage();

        // The in-process micro-measurements first, before any child process shares the CPUs.
        var calls = MeasureCalls(context);
        var reports = MeasureReports(context);
        var pause = await MeasurePausesAsync(context, pauses, warmup, cancellationToken);
        return Report(context.Machine, started, (loadBefore, MachineInfo.LoadAverage()), pause, calls, reports);
    }

    // ---------------------------------------------------------------- (a) permanent error → PAUSED_DUE_TO_ERROR

    private sealed record PauseRun(Measurement Written, Measurement InProcess, Measurement Cli, Measurement CliCall, string EtcdVersion);

    private static async Task<PauseRun> MeasurePausesAsync(BenchContext context, int pauses, int warmup, CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory("bench-errors");
        var etcd = new EtcdServer();
        try
        {
            context.Log("errors: starting etcd");
            await etcd.InitializeAsync();
            var etcdVersion = (MachineInfo.ToolVersion("etcd", "--version") ?? "version unknown").Replace("etcd Version:", "", StringComparison.Ordinal).Trim();
            var failpoints = dir.File("failpoints");
            await File.WriteAllTextAsync(failpoints, Disarmed, cancellationToken);
            await using var meta = await EtcdMetaStore.ConnectAsync([etcd.Endpoint], cancellationToken: cancellationToken);
            var control = new TaskControl(meta, new MetaKeys(), TimeProvider.System);
            var storeId = Random.Shared.NextInt64(1000, 1_000_000);
            await using var agent = await AgentProcess.StartAsync(
                etcd.MetaUrl, storeId, dir.Path, new Dictionary<string, string> { [Failpoints.FileVariable] = failpoints });
            context.Log($"errors: agent store {storeId} up at {agent.BaseAddress}");

            var written = new List<long>();
            var inProcess = new List<long>();
            var cli = new List<long>();
            var cliCalls = new List<long>();
            var wall = Stopwatch.StartNew();
            for (var i = 0; i < warmup + pauses; i++)
            {
                var one = await OnePauseAsync(dir, etcd, control, agent, storeId, failpoints, i, cancellationToken);
                var measured = i >= warmup;
                context.Log($"errors: pause {i + 1}/{warmup + pauses}{(measured ? "" : " (warm-up)")}: written {Ms(one.Written)}, in-process status {Ms(one.InProcess)}, `ferry task status` {Ms(one.Cli)} ({one.CliCalls.Count} calls)");
                if (!measured) continue;
                written.Add(one.Written);
                inProcess.Add(one.InProcess);
                cli.Add(one.Cli);
                cliCalls.AddRange(one.CliCalls);
            }

            wall.Stop();
            return new PauseRun(
                new Measurement("written", 1, written, wall.Elapsed),
                new Measurement("in-process", 1, inProcess, wall.Elapsed),
                new Measurement("cli", 1, cli, wall.Elapsed),
                new Measurement("cli call", 1, cliCalls, wall.Elapsed),
                etcdVersion);
        }
        finally
        {
            await etcd.DisposeAsync();
        }
    }

    private sealed record OnePause(long Written, long InProcess, long Cli, List<long> CliCalls);

    /// <summary>
    /// One task over one database, shipping; then, at a recorded instant, the failpoint file is armed and the writer
    /// commits (an idle database never reaches storage.put); the three latencies are from that instant, in
    /// Stopwatch ticks: to the pause value's own time stamp (written by the agent), to the first in-process
    /// <see cref="TaskControl.StatusAsync"/> that shows it, and to the exit of the first <c>ferry task status --json</c>
    /// that shows it (polled back to back).
    /// </summary>
    private static async Task<OnePause> OnePauseAsync(
        TempDirectory dir, EtcdServer etcd, TaskControl control, AgentProcess agent, long storeId, string failpoints, int i, CancellationToken cancellationToken)
    {
        var task = $"bench-errors-{Guid.NewGuid():N}"[..24];
        var db = dir.File($"db{i}/app.db");
        Directory.CreateDirectory(Path.GetDirectoryName(db)!);
        Directory.CreateDirectory(dir.File($"backup{i}"));
        using var writer = await PythonWriter.StartAsync(db, cancellationToken: cancellationToken);
        await writer.InsertAsync(10, cancellationToken: cancellationToken);
        var start = await FerryCli.RunAsync(
            ["task", "start", task, "--db", db, "--to", dir.File($"backup{i}"), "--flush-interval", "200ms", "--meta", etcd.MetaUrl], dir.Path);
        if (start.ExitCode != 0) throw new InvalidOperationException($"task start failed: {start}");
        await writer.TransactionsAsync(3, cancellationToken: cancellationToken);
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await UntilAsync(
            async () => (await control.StatusAsync(task, cancellationToken))[0].Stores.FirstOrDefault(s => s.StoreId == storeId) is { State: TaskState.RUNNING, Checkpoint: { } c } && c >= committed,
            $"task {task} RUNNING with its checkpoint past the last commit", agent, cancellationToken);

        // The status poll above sees the checkpoint just after the runner published it, i.e. at a fixed phase of the
        // runner's control round; a random wait (up to the round plus a flush) makes the fault land at any phase, as a
        // real one does. Not a synchronisation: nothing waits for anything here.
        await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, 700)), cancellationToken);

        // The fault, at a recorded instant.
        var armedAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var armedAt = Stopwatch.GetTimestamp();
        await File.WriteAllTextAsync(failpoints, Armed, cancellationToken);

        // The database stays busy: a commit every 20 ms until the pause shows. One commit is not enough: the agent
        // looks at the failpoint file at most every 100 ms, so a put just after an earlier look still passes, and an
        // idle database never reaches storage.put again.
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var writing = Task.Run(
            async () =>
            {
                while (!stopWriting.IsCancellationRequested)
                {
                    await writer.TransactionsAsync(1, cancellationToken: CancellationToken.None);
                    await Task.Delay(20, CancellationToken.None);
                }
            },
            CancellationToken.None);

        var inProcess = Task.Run(
            async () =>
            {
                while (true)
                {
                    var status = (await control.StatusAsync(task, cancellationToken))[0];
                    if (status.Status == TaskState.PAUSED_DUE_TO_ERROR) return (Stopwatch.GetTimestamp() - armedAt, status.Pause!);
                    CheckTimeout(armedAt, "in-process status to show PAUSED_DUE_TO_ERROR", agent);
                    await Task.Delay(5, cancellationToken);
                }
            },
            cancellationToken);
        var cliCalls = new List<long>();
        long cli;
        while (true)
        {
            var callStart = Stopwatch.GetTimestamp();
            var result = await FerryCli.RunAsync(["task", "status", task, "--json", "--meta", etcd.MetaUrl], dir.Path);
            var now = Stopwatch.GetTimestamp();
            cliCalls.Add(now - callStart);
            if (result.ExitCode != 0) throw new InvalidOperationException($"task status failed: {result}");
            using var doc = JsonDocument.Parse(result.Stdout);
            if (doc.RootElement.GetProperty("tasks")[0].GetProperty("status").GetString() == "PAUSED_DUE_TO_ERROR")
            {
                cli = now - armedAt;
                break;
            }

            if (Stopwatch.GetElapsedTime(armedAt) > StepTimeout)
            {
                using var agentStatus = await agent.StatusAsync();
                throw new TimeoutException($"no PAUSED_DUE_TO_ERROR {StepTimeout.TotalSeconds:0} s after arming at {armedAtUnixMs}; status: {result.Stdout}\nagent /status: {agentStatus.RootElement}\nagent log:\n{agent.Log}");
            }
        }

        var (seen, pause) = await inProcess;
        await stopWriting.CancelAsync();
        await writing;
        if (pause.ErrorCode != ErrorCodes.StorageQuotaExceeded.Code) throw new InvalidOperationException($"paused with {pause.ErrorCode}, not {ErrorCodes.StorageQuotaExceeded.Code}");
        var writtenTicks = (pause.At - armedAtUnixMs) * Stopwatch.Frequency / 1000;

        // Clean up for the next round: disarm, remove the task (the agent stops its runner).
        await File.WriteAllTextAsync(failpoints, Disarmed, cancellationToken);
        await control.StopAsync(task, cancellationToken);
        return new OnePause(writtenTicks, seen, cli, cliCalls);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, AgentProcess agent, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            CheckTimeout(start, what, agent);
            await Task.Delay(20, cancellationToken);
        }
    }

    private static void CheckTimeout(long start, string what, AgentProcess agent)
    {
        if (Stopwatch.GetElapsedTime(start) > StepTimeout) throw new TimeoutException($"timed out waiting for {what}; agent log:\n{agent.Log}");
        if (agent.Process.HasExited) throw new InvalidOperationException($"the agent exited {agent.Process.ExitCode}: {agent.Log}");
    }

    private static string Ms(long ticks) => Markdown.Latency(ticks * 1_000_000.0 / Stopwatch.Frequency);

    // ---------------------------------------------------------------- (b) an unarmed failpoint

    private sealed record PerCall(string Label, string Description, double MedianNs, double MinNs, double MaxNs);

    private static List<PerCall> MeasureCalls(BenchContext context)
    {
        // Nothing armed and no file watched in this process: the state every production hit is in.
        Failpoints.Configure(null, null);
        var results = new List<PerCall>
        {
            Rounds(context, "empty call", "a non-inlined empty static method with the same arguments `(string, CancellationToken)`: the baseline", CallsPerRound, EmptyLoop),
            Rounds(context, "`Failpoints.Hit`", "`Failpoints.Hit(\"storage.put\", token)`, nothing armed in the process", CallsPerRound, HitLoop),
            Rounds(context, "`Failpoints.HitAsync`", "`await Failpoints.HitAsync(\"storage.put\", token)` as the data path calls it, nothing armed (a completed `ValueTask`)", CallsPerRound, HitAsyncLoop),
        };
        using (Failpoints.Arm("bench.other", "off"))
        {
            results.Add(Rounds(context, "`Failpoints.Hit`, another point armed", "the same hit while a different point is armed in code: the slow path's dictionary lookup", CallsPerRound, HitLoop));
        }

        return results;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Empty(string name, CancellationToken cancellationToken)
    {
        _ = name;
        _ = cancellationToken;
    }

    private static void EmptyLoop(int n)
    {
        var token = CancellationToken.None;
        for (var i = 0; i < n; i++) Empty("storage.put", token);
    }

    private static void HitLoop(int n)
    {
        var token = CancellationToken.None;
        for (var i = 0; i < n; i++) Failpoints.Hit("storage.put", token);
    }

    private static void HitAsyncLoop(int n)
    {
        var token = CancellationToken.None;
        for (var i = 0; i < n; i++)
        {
            var pending = Failpoints.HitAsync("storage.put", token);
            if (!pending.IsCompletedSuccessfully) pending.AsTask().GetAwaiter().GetResult();
        }
    }

    // ---------------------------------------------------------------- (c) reporting one error

    private static List<PerCall> MeasureReports(BenchContext context)
    {
        using var metrics = new FerryMetrics();
        var reporter = new ErrorReporter(NullLogger<ErrorReporter>.Instance, metrics);
        var errorContext = new ErrorContext(Task: "bench", StoreId: 7, Database: "/data/app.db", Operation: "upload");
        FerryException[] Fresh(int n)
        {
            var errors = new FerryException[n];
            for (var i = 0; i < n; i++) errors[i] = new FerryException(ErrorCodes.StorageQuotaExceeded, "quota exceeded", errorContext);
            return errors;
        }

        var results = new List<PerCall>
        {
            Rounds(context, "new error", "constructing a `FerryException` (code, message, context, a random 4-byte error id): not part of reporting, for scale", ReportsPerRound, n =>
            {
                for (var i = 0; i < n; i++) GC.KeepAlive(new FerryException(ErrorCodes.StorageQuotaExceeded, "quota exceeded", errorContext));
            }),
            RoundsOver(context, "`Report`, no listener", "`ErrorReporter.Report` of a fresh error to a `NullLogger`, nothing listening to the meter", ReportsPerRound, Fresh, errors =>
            {
                foreach (var error in errors) reporter.Report(error);
            }),
        };

        // What the agent has: something listening to ferry_errors_total (here a callback that sums, the floor under any exporter).
        long counted = 0;
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument, metrics.ErrorsTotal)) l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref counted, value));
            listener.Start();
            results.Add(RoundsOver(context, "`Report`, counter listened to", "the same with a `MeterListener` summing `ferry_errors_total` (three tags: code, class, task), as an exporter would listen", ReportsPerRound, Fresh, errors =>
            {
                foreach (var error in errors) reporter.Report(error);
            }));
            var once = new FerryException(ErrorCodes.StorageQuotaExceeded, "quota exceeded", errorContext);
            reporter.Report(once);
            results.Add(Rounds(context, "`Report` of an error already reported", "a second report of the same instance (a supervisor reported it, the recorder passes it on): logged and counted once, so this is only the check", CallsPerRound, n =>
            {
                for (var i = 0; i < n; i++) reporter.Report(once);
            }));
        }

        if (counted == 0) throw new InvalidOperationException("the listener saw no ferry_errors_total measurement");
        return results;
    }

    /// <summary>Runs <paramref name="loop"/> (n calls) for warm-up rounds, then measured ones; ns per call over the measured rounds.</summary>
    private static PerCall Rounds(BenchContext context, string label, string description, int n, Action<int> loop)
    {
        for (var r = 0; r < WarmupRounds; r++) loop(n / 10);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var perCall = new double[MeasuredRounds];
        for (var r = 0; r < MeasuredRounds; r++)
        {
            var start = Stopwatch.GetTimestamp();
            loop(n);
            perCall[r] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / n;
        }

        Array.Sort(perCall);
        var result = new PerCall(label, description, perCall[MeasuredRounds / 2], perCall[0], perCall[^1]);
        context.Log($"errors: {label}: {Ns(result.MedianNs)}/call (min {Ns(result.MinNs)}, max {Ns(result.MaxNs)})");
        return result;
    }

    /// <summary>Like <see cref="Rounds"/>, but each round first builds its input (not timed): the errors to report.</summary>
    private static PerCall RoundsOver<T>(BenchContext context, string label, string description, int n, Func<int, T> setup, Action<T> loop)
    {
        for (var r = 0; r < WarmupRounds; r++) loop(setup(n / 10));
        var perCall = new double[MeasuredRounds];
        for (var r = 0; r < MeasuredRounds; r++)
        {
            var input = setup(n);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var start = Stopwatch.GetTimestamp();
            loop(input);
            perCall[r] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / n;
        }

        Array.Sort(perCall);
        var result = new PerCall(label, description, perCall[MeasuredRounds / 2], perCall[0], perCall[^1]);
        context.Log($"errors: {label}: {Ns(result.MedianNs)}/call (min {Ns(result.MinNs)}, max {Ns(result.MaxNs)})");
        return result;
    }

    private static string Ns(double ns) => ns < 10 ? ns.ToString("0.00 'ns'", CultureInfo.InvariantCulture)
        : ns < 1000 ? ns.ToString("0.0 'ns'", CultureInfo.InvariantCulture)
        : (ns / 1000).ToString("0.00 'µs'", CultureInfo.InvariantCulture);

    // ---------------------------------------------------------------- report

    private static string Report(
        MachineInfo machine, DateTime started, (double? Before, double? After) load, PauseRun pause, List<PerCall> calls, List<PerCall> reports)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## errors: the error mechanism's latency and cost");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {machine.OneLine}; etcd {pause.EtcdVersion}.");
        sb.AppendLine("Command: `dotnet run -c Release --project bench/Ferry.Bench -- errors --out docs/benchmarks.md` (`--ops N` repetitions of the pause measurement, `--warmup N` discarded ones before them).");
        if (load.Before is { } before && load.After is { } after)
        {
            sb.AppendLine($"1-minute load average before the run {before.ToString("0.00", CultureInfo.InvariantCulture)}, after it {after.ToString("0.00", CultureInfo.InvariantCulture)}.");
        }

        sb.AppendLine();
        sb.AppendLine("### Injected permanent error → `PAUSED_DUE_TO_ERROR` (goal: under 2 s)");
        sb.AppendLine();
        sb.AppendLine("A real single-node etcd on loopback, one real `ferry agent` process (`--http` on loopback) started with `FERRY_FAILPOINTS_FILE`, and per repetition a new task " +
                      "(`--flush-interval 200ms`) over a new database written by a python `sqlite3` process. Once the store is `RUNNING` with its checkpoint past the last commit, the " +
                      "clock starts and the failpoint file is rewritten to `storage.put=error(FERRY:Storage:QuotaExceeded)`; from then on the writer commits a transaction every 20 ms until the pause shows (an idle database " +
                      "never reaches `storage.put`, and the agent looks at the failpoint file at most every 100 ms, which is part of the figures). Each repetition then disarms the file and removes the task.");
        sb.AppendLine();
        sb.AppendLine("- **pause written**: from the instant to the pause value's own time stamp (`at`, the agent's clock on the same machine, millisecond resolution), i.e. inside the agent: failpoint file noticed, next flush fails, the stream ends, the runner's next control round writes LastError + pause in one etcd transaction.");
        sb.AppendLine("- **seen in-process**: to the first `TaskControl.StatusAsync` (the code `ferry task status` runs) over an etcd connection in the bench process, polled every 5 ms, that shows `PAUSED_DUE_TO_ERROR`.");
        sb.AppendLine("- **seen by `ferry task status --json`**: to the exit of the first CLI run, polled back to back, whose output shows it: what an operator's script sees. One CLI run (a new `dotnet` process connecting to etcd) takes the **CLI call** time, so this row is the in-process one plus up to about one call.");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["from the injected error to", "repetitions:", "median:", "p99:", "max:"],
            new[] { ("pause written", pause.Written), ("seen in-process", pause.InProcess), ("seen by `ferry task status --json`", pause.Cli), ("(one `ferry task status --json` call)", pause.CliCall) }
                .Select(r => (IReadOnlyList<string>)
                [
                    r.Item1, Markdown.Count(r.Item2.Ops), Markdown.Latency(r.Item2.MedianMicros), Markdown.Latency(r.Item2.P99Micros), Markdown.Latency(r.Item2.MaxMicros),
                ])));
        sb.AppendLine();
        sb.AppendLine($"With {pause.Cli.Ops} repetitions p99 is the largest sample (nearest rank). Most of the in-agent time is waiting, not work: the flush interval (200 ms) until the failing put, and the runner's control interval (500 ms), on which it collects ended streams and writes the pause.");
        sb.AppendLine();
        sb.AppendLine("### An unarmed failpoint");
        sb.AppendLine();
        sb.AppendLine($"Per call, in a loop of {Markdown.Count(CallsPerRound)} calls per round; the median of {MeasuredRounds} rounds after {WarmupRounds} warm-up rounds (min and max of the rounds beside it). `Failpoints` is configured with nothing armed and no file, as in every production process. The unarmed hit is one volatile read and a branch, which the JIT inlines into the caller: it costs less than the baseline's call, which it is not forced to make. Figures of a few ns are at the edge of what a loop can resolve on a shared 2-CPU machine: read them as \"about a nanosecond\", not to the digit.");
        sb.AppendLine();
        sb.Append(PerCallTable(calls, calls[0]));
        sb.AppendLine();
        sb.AppendLine("### Reporting one error (`ErrorReporter.Report`)");
        sb.AppendLine();
        sb.AppendLine($"Per call, {Markdown.Count(ReportsPerRound)} reports per round (the already-reported row {Markdown.Count(CallsPerRound)}); median of {MeasuredRounds} rounds after {WarmupRounds} warm-up rounds. The errors to report are built before each timed round, so the `Report` rows are the reporter alone. The log line goes to a `NullLogger` (the source-generated logging call checks `IsEnabled` and returns), so they measure the reporter's own work: the once-only check, the class switch and the counter with its tags; a real logger adds its formatting and I/O.");
        sb.AppendLine();
        sb.Append(PerCallTable(reports, null));
        return sb.ToString();
    }

    private static string PerCallTable(List<PerCall> rows, PerCall? baseline) => baseline is null
        ? Markdown.Table(
            ["what", "per call:", "min–max of rounds:", "measures"],
            rows.Select(r => (IReadOnlyList<string>)[r.Label, Ns(r.MedianNs), $"{Ns(r.MinNs)}–{Ns(r.MaxNs)}", r.Description]))
        : Markdown.Table(
            ["what", "per call:", "min–max of rounds:", $"vs {baseline.Label}:", "measures"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Label, Ns(r.MedianNs), $"{Ns(r.MinNs)}–{Ns(r.MaxNs)}", ReferenceEquals(r, baseline) ? "–" : Markdown.Ratio(r.MedianNs / baseline.MedianNs), r.Description,
            ]));
}
