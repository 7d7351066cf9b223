namespace Ferry.Bench.Harness;

/// <summary>
/// One benchmark suite (meta, capture, restore, …): one class in <c>Suites/</c>. The program finds every
/// implementation by reflection, so adding a suite is adding a file; it needs a public parameterless constructor.
/// </summary>
public interface IBenchSuite
{
    /// <summary>The command-line name, lower case, e.g. <c>meta</c>; also names the suite's section in the doc.</summary>
    string Name { get; }

    /// <summary>One line for <c>--help</c>.</summary>
    string Summary { get; }

    /// <summary>Runs the suite and returns its report as markdown (a section starting with a <c>## </c> heading).</summary>
    Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken);
}

/// <summary>What every suite gets: the command-line overrides, the machine, and a progress log (stderr).</summary>
public sealed class BenchContext(BenchOptions options, MachineInfo machine)
{
    public BenchOptions Options { get; } = options;

    public MachineInfo Machine { get; } = machine;

    /// <summary>Where a suite writes files its report links to (plots): the directory of <c>--out</c>, else the current one.</summary>
    public string ArtifactDirectory { get; init; } = ".";

    /// <summary>Progress goes to stderr, so stdout holds only the markdown report.</summary>
#pragma warning disable CA1822 // an instance member, so suites don't reach for Console themselves
    public void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
#pragma warning restore CA1822
}

/// <summary>
/// Command-line overrides shared by suites; null means "the suite's default". Suites decide what a
/// measurement's operation count means for them.
/// </summary>
public sealed record BenchOptions(int? Ops, int? Warmup, IReadOnlyList<int>? Concurrency, int? SizeMb = null, int? Seconds = null);
