using System.Text;
using Ferry.Bench.Harness;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Ferry.TestKit.Etcd;

namespace Ferry.Bench.Suites;

/// <summary>
/// The metadata store (<see cref="IMetaStore"/>): put, get and compare-and-swap transaction latency and throughput,
/// embedded SQLite file vs a real single-node etcd on loopback, measured one store after the other (etcd is started
/// only after the embedded store is done, so it doesn't share the CPUs with that run).
/// </summary>
public sealed class MetaSuite : IBenchSuite
{
    private const int DefaultOps = 10_000;
    private const int DefaultWarmup = 1_000;
    private const int ValueSize = 128;
    private const int KeySpace = 1_000;
    private static readonly int[] DefaultConcurrency = [1, 32];

    private static readonly (string Name, string Description)[] Operations =
    [
        ("put", $"`PutAsync` of a {ValueSize}-byte value, over {Markdown.Count(KeySpace)} keys in turn (overwrites)"),
        ("get", $"`GetAsync` of an existing key, {Markdown.Count(KeySpace)} keys in turn"),
        ("txn", "`TxnAsync` compare-and-swap: `ModRevisionIs(key, last revision)` then put; one key per worker, so every swap succeeds"),
    ];

    public string Name => "meta";

    public string Summary => "metadata store put/get/txn latency and throughput, embedded SQLite vs etcd";

    public async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ops = context.Options.Ops ?? DefaultOps;
        var warmup = context.Options.Warmup ?? DefaultWarmup;
        var concurrency = context.Options.Concurrency ?? DefaultConcurrency;
        var started = DateTime.UtcNow;
        var loadBefore = MachineInfo.LoadAverage();

        var results = new List<(string Store, Measurement M)>();
        Measurement fsync;

        using (var dir = new TempDirectory("bench-meta"))
        {
            fsync = DiskProbe.Fsync(dir.Path);
            context.Log($"meta: disk fsync of 4 KiB in {dir.Path}: median {Markdown.Latency(fsync.MedianMicros)}, p99 {Markdown.Latency(fsync.P99Micros)}");
            var store = await SqliteMetaStore.OpenAsync(dir.File("meta.db"), cancellationToken: cancellationToken);
            await using (store)
            {
                results.AddRange((await MeasureStoreAsync(context, "embedded", store, ops, warmup, concurrency, cancellationToken)).Select(m => ("embedded", m)));
            }
        }

        var etcd = new EtcdServer();
        string etcdVersion;
        try
        {
            context.Log("meta: starting etcd");
            await etcd.InitializeAsync();
            etcdVersion = (MachineInfo.ToolVersion("etcd", "--version") ?? "version unknown").Replace("etcd Version:", "", StringComparison.Ordinal).Trim();
            var store = await EtcdMetaStore.ConnectAsync([etcd.Endpoint], cancellationToken: cancellationToken);
            await using (store)
            {
                results.AddRange((await MeasureStoreAsync(context, "etcd", store, ops, warmup, concurrency, cancellationToken)).Select(m => ("etcd", m)));
            }
        }
        finally
        {
            await etcd.DisposeAsync();
        }

        return Report(context.Machine, etcdVersion, fsync, (loadBefore, MachineInfo.LoadAverage()), started, ops, warmup, results);
    }

    private static async Task<List<Measurement>> MeasureStoreAsync(
        BenchContext context, string storeName, IMetaStore store, int ops, int warmup, IReadOnlyList<int> concurrency, CancellationToken cancellationToken)
    {
        var value = new byte[ValueSize];
        new Random(42).NextBytes(value);
        var run = Guid.NewGuid().ToString("N")[..8];
        string PutKey(int i) => $"/bench/{run}/put/{i % KeySpace:D4}";
        string GetKey(int i) => $"/bench/{run}/get/{i % KeySpace:D4}";
        string TxnKey(int worker) => $"/bench/{run}/txn/w{worker:D3}";

        for (var i = 0; i < KeySpace; i++) await store.PutAsync(GetKey(i), value, cancellationToken: cancellationToken);

        var measurements = new List<Measurement>();
        foreach (var (op, _) in Operations)
        {
            foreach (var inFlight in concurrency)
            {
                Func<int, int, CancellationToken, Task> operation;
                switch (op)
                {
                    case "put":
                        operation = (_, i, ct) => store.PutAsync(PutKey(i), value, cancellationToken: ct);
                        break;
                    case "get":
                        operation = async (_, i, ct) =>
                        {
                            if (await store.GetAsync(GetKey(i), ct) is null) throw new InvalidOperationException($"{storeName}: {GetKey(i)} is missing");
                        };
                        break;
                    default:
                        // Each worker swaps its own key from the revision its last swap returned: every compare holds.
                        var revisions = new long[inFlight];
                        for (var w = 0; w < inFlight; w++) revisions[w] = await store.PutAsync(TxnKey(w), value, cancellationToken: cancellationToken);
                        operation = async (w, _, ct) =>
                        {
                            var result = await store.TxnAsync(
                                new TxnRequest([Compare.ModRevisionIs(TxnKey(w), revisions[w])], [TxnOp.Put(TxnKey(w), value)]), ct);
                            if (!result.Succeeded) throw new InvalidOperationException($"{storeName}: compare-and-swap on {TxnKey(w)} at revision {revisions[w]} failed");
                            revisions[w] = result.Revision;
                        };
                        break;
                }

                var m = await Runner.MeasureAsync(op, inFlight, warmup, ops, operation, cancellationToken);
                context.Log($"meta: {storeName,-8} {op} ×{inFlight,-3} median {Markdown.Latency(m.MedianMicros)}, p99 {Markdown.Latency(m.P99Micros)}, {Markdown.Rate(m.OpsPerSecond)} ops/s ({m.Wall.TotalSeconds:0.0} s)");
                measurements.Add(m);
            }
        }

        return measurements;
    }

    private static string Report(
        MachineInfo machine, string etcdVersion, Measurement fsync, (double? Before, double? After) load, DateTime started, int ops, int warmup, List<(string Store, Measurement M)> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## meta: metadata store (`IMetaStore`)");
        sb.AppendLine();
        sb.AppendLine($"Measured {started:yyyy-MM-dd} on {machine.OneLine}; etcd {etcdVersion}. A 4 KiB write + fsync on the temp directory's disk takes {Markdown.Latency(fsync.MedianMicros)} (median; p99 {Markdown.Latency(fsync.P99Micros)}): the floor under every durable write below.");
        sb.AppendLine($"Command: `dotnet run -c Release --project bench/Ferry.Bench -- meta --out docs/benchmarks.md`.");
        sb.AppendLine();
        sb.AppendLine($"- **embedded**: `SqliteMetaStore` on a file in the temp directory (WAL, `synchronous=FULL`: every write is an fsync'd SQLite transaction; one connection, calls serialized).");
        sb.AppendLine("- **etcd**: `EtcdMetaStore` (gRPC) against a real single-node etcd on loopback started by `Ferry.TestKit.Etcd.EtcdServer` (default settings, data directory in the temp directory), on the same machine as the client.");
        foreach (var (name, description) in Operations) sb.AppendLine($"- **{name}**: {description}.");
        sb.AppendLine($"- Each row: {Markdown.Count(ops)} measured operations after {Markdown.Count(warmup)} warm-up ones; \"in flight\" workers each await one operation at a time. Latency is per operation (as the caller sees it, queueing included); ops/s is operations over the row's wall time.");
        if (load.Before is { } before && load.After is { } after)
        {
            sb.AppendLine($"- 1-minute load average before the run {before.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)}, after it {after.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} (the run itself adds about 1–2; more means other work shared the machine).");
        }

        sb.AppendLine("- etcd gets are etcd's default linearizable reads (`EtcdMetaStore` does not ask for serializable ones).");
        sb.AppendLine($"- The client, etcd and SQLite share the machine's {machine.ProcessorCount} CPUs. With few CPUs the 32-in-flight rows are CPU-bound and vary from run to run by tens of percent; repeat a run before reading much into a smaller difference.");
        sb.AppendLine();
        sb.Append(Markdown.Table(
            ["store", "op", "in flight:", "ops:", "median:", "p99:", "ops/s:"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.Store, r.M.Label, r.M.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture), Markdown.Count(r.M.Ops),
                Markdown.Latency(r.M.MedianMicros), Markdown.Latency(r.M.P99Micros), Markdown.Rate(r.M.OpsPerSecond),
            ])));
        sb.AppendLine();
        sb.AppendLine("etcd relative to embedded (latency: etcd ÷ embedded, above 1× means etcd is slower; throughput: etcd ÷ embedded, above 1× means etcd does more):");
        sb.AppendLine();
        var embedded = results.Where(r => r.Store == "embedded").ToDictionary(r => (r.M.Label, r.M.Concurrency), r => r.M);
        sb.Append(Markdown.Table(
            ["op", "in flight:", "median latency:", "p99 latency:", "throughput:"],
            results.Where(r => r.Store == "etcd" && embedded.ContainsKey((r.M.Label, r.M.Concurrency))).Select(r =>
            {
                var e = embedded[(r.M.Label, r.M.Concurrency)];
                return (IReadOnlyList<string>)
                [
                    r.M.Label, r.M.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Markdown.Ratio(r.M.MedianMicros / e.MedianMicros), Markdown.Ratio(r.M.P99Micros / e.P99Micros),
                    Markdown.Ratio(r.M.OpsPerSecond / e.OpsPerSecond),
                ];
            })));
        return sb.ToString();
    }
}
