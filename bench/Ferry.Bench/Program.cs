using System.Globalization;
using System.Reflection;
using Ferry.Bench.Harness;

// Ferry.Bench: benchmark suites, one class per suite in Suites/ (found by reflection).
//   dotnet run -c Release --project bench/Ferry.Bench -- <suite|all> [--out FILE] [--ops N] [--warmup N] [--concurrency 1,32] [--size-mb N] [--seconds N]
// The markdown report goes to stdout, progress to stderr; --out FILE replaces the suite's section in FILE.

var suites = typeof(IBenchSuite).Assembly.GetTypes()
    .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IBenchSuite).IsAssignableFrom(t))
    .Select(t => (IBenchSuite)Activator.CreateInstance(t)!)
    .OrderBy(s => s.Name, StringComparer.Ordinal)
    .ToList();

string? selected = null;
string? outFile = null;
int? ops = null, warmup = null, sizeMb = null, seconds = null;
List<int>? concurrency = null;
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        static int Positive(string s, string name) =>
            int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} must be a positive integer, not '{s}'");
        switch (args[i])
        {
            case "--out": outFile = Next(); break;
            case "--ops": ops = Positive(Next(), "--ops"); break;
            case "--warmup": warmup = int.Parse(Next(), NumberStyles.None, CultureInfo.InvariantCulture); break;
            case "--concurrency": concurrency = Next().Split(',').Select(s => Positive(s, "--concurrency")).ToList(); break;
            case "--size-mb": sizeMb = Positive(Next(), "--size-mb"); break;
            case "--seconds": seconds = Positive(Next(), "--seconds"); break;
            case "-h" or "--help": return Usage(Console.Out, 0);
            case var a when a.StartsWith('-'): throw new ArgumentException($"unknown option {a}");
            case var a when selected is null: selected = a; break;
            default: throw new ArgumentException($"one suite at a time (or 'all'), got '{selected}' and '{args[i]}'");
        }
    }
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return Usage(Console.Error, 2);
}

if (selected is null) return Usage(Console.Error, 2);
var toRun = selected == "all" ? suites : suites.Where(s => s.Name == selected).ToList();
if (toRun.Count == 0)
{
    Console.Error.WriteLine($"error: no suite '{selected}'");
    return Usage(Console.Error, 2);
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var context = new BenchContext(new BenchOptions(ops, warmup, concurrency, sizeMb, seconds), MachineInfo.Detect())
{
    ArtifactDirectory = outFile is null ? "." : Path.GetDirectoryName(Path.GetFullPath(outFile))!,
};
context.Log($"machine: {context.Machine.OneLine}");
foreach (var suite in toRun)
{
    context.Log($"suite {suite.Name}: start");
    var report = await suite.RunAsync(context, cancel.Token);
    Console.WriteLine(report.TrimEnd());
    Console.WriteLine();
    if (outFile is not null)
    {
        BenchmarksDoc.WriteSection(outFile, suite.Name, report, context.Machine);
        context.Log($"suite {suite.Name}: section written to {outFile}");
    }
}

return 0;

int Usage(TextWriter to, int code)
{
    to.WriteLine("usage: Ferry.Bench <suite|all> [--out FILE] [--ops N] [--warmup N] [--concurrency 1,32] [--size-mb N] [--seconds N]");
    to.WriteLine("  --out FILE         replace (or append) the suite's section in FILE, e.g. docs/benchmarks.md");
    to.WriteLine("  --ops N            measured operations per measurement (suite default otherwise)");
    to.WriteLine("  --warmup N         warm-up operations before each measurement (suite default otherwise)");
    to.WriteLine("  --concurrency L    comma-separated numbers of operations in flight (suite default otherwise)");
    to.WriteLine("  --size-mb N        data size in MiB for suites that build data (restore: the database; capture: the bulk write)");
    to.WriteLine("  --seconds N        length in seconds of a suite's timed phases (capture: each writer run)");
    to.WriteLine("suites:");
    foreach (var s in suites) to.WriteLine($"  {s.Name,-10} {s.Summary}");
    to.WriteLine($"  {"all",-10} every suite above, in this order");
    return code;
}
