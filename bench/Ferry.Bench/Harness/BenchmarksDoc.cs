using System.Text;

namespace Ferry.Bench.Harness;

/// <summary>
/// docs/benchmarks.md: a short intro, then one section per suite between <c>&lt;!-- bench:NAME --&gt;</c> and
/// <c>&lt;!-- /bench:NAME --&gt;</c>. Writing a suite replaces its section only (appending it the first time), so
/// suites can be re-measured one at a time without touching the others' figures.
/// </summary>
public static class BenchmarksDoc
{
    public static void WriteSection(string path, string suite, string markdown, MachineInfo machine)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        ArgumentNullException.ThrowIfNull(machine);
        var begin = $"<!-- bench:{suite} -->";
        var end = $"<!-- /bench:{suite} -->";
        var block = $"{begin}\n{markdown.TrimEnd()}\n{end}";

        var text = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : Intro(machine);
        var from = text.IndexOf(begin, StringComparison.Ordinal);
        var to = from < 0 ? -1 : text.IndexOf(end, from, StringComparison.Ordinal);
        text = from >= 0 && to >= 0
            ? text[..from] + block + text[(to + end.Length)..]
            : text.TrimEnd() + "\n\n" + block + "\n";

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        File.WriteAllText(path, text.TrimEnd() + "\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    private static string Intro(MachineInfo machine) => $"""
        # Benchmarks

        Figures measured by `bench/Ferry.Bench`, a benchmark program (not a test): each suite runs a fixed number of
        operations per measurement after a warm-up and reports per-operation latency (median and p99, nearest rank)
        and throughput (completed operations per second of wall time, with a given number of operations in flight).
        Absolute figures depend on the machine and above all on its disk's fsync latency; compare rows of one run,
        not runs of different machines.

        Regenerate a suite's section (only that section of this file is replaced; `all` runs every suite):

            dotnet run -c Release --project bench/Ferry.Bench -- <suite> --out docs/benchmarks.md

        Machine of the first run: {machine.ProcessorCount} CPUs (`nproc`), CPU model `{machine.CpuModel}`
        (/proc/cpuinfo), {machine.Os}, {machine.Runtime}, .NET SDK {machine.Sdk}. Each section below states the
        machine it was measured on.
        """.ReplaceLineEndings("\n");
}
