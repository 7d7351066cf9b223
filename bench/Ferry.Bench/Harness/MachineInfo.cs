using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ferry.Bench.Harness;

/// <summary>What the figures were measured on, for the report.</summary>
public sealed record MachineInfo(int ProcessorCount, string CpuModel, string Os, string Runtime, string Sdk)
{
    public static MachineInfo Detect() => new(
        Environment.ProcessorCount,
        CpuModelName(),
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        ToolVersion("dotnet", "--version") ?? "unknown");

    /// <summary>One line, e.g. <c>2 CPUs (AMD EPYC), Linux 6.1, .NET 10.0.1 (SDK 10.0.401)</c>.</summary>
    public string OneLine => $"{ProcessorCount} CPUs ({CpuModel}), {Os}, {Runtime} (SDK {Sdk})";

    /// <summary>
    /// The 1-minute load average (/proc/loadavg), or null where there is none: other work on the machine skews the
    /// figures, so suites report it before and after their run.
    /// </summary>
    public static double? LoadAverage()
    {
        const string loadavg = "/proc/loadavg";
        if (!File.Exists(loadavg)) return null;
        var first = File.ReadAllText(loadavg).Split(' ', 2)[0];
        return double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var load) ? load : null;
    }

    /// <summary>The first line a tool prints for <paramref name="args"/>, or null when it can't be run.</summary>
    public static string? ToolVersion(string tool, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in args) info.ArgumentList.Add(arg);
            using var process = Process.Start(info);
            if (process is null) return null;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
            return process.ExitCode == 0 ? line : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string CpuModelName()
    {
        const string cpuinfo = "/proc/cpuinfo";
        if (!File.Exists(cpuinfo)) return RuntimeInformation.ProcessArchitecture.ToString();
        var line = File.ReadLines(cpuinfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
}
