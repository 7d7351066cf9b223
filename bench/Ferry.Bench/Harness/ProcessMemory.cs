using System.Globalization;

namespace Ferry.Bench.Harness;

/// <summary>Memory figures of a running process, from Linux's /proc.</summary>
public static class ProcessMemory
{
    /// <summary>The peak resident set size (VmHWM in /proc/PID/status), in bytes; 0 once the process is gone.</summary>
    public static long PeakRssBytes(int processId)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{processId}/status");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return 0;
        }

        var line = lines.FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        if (line is null) return 0;
        var kib = line["VmHWM:".Length..].Trim().Split(' ')[0];
        return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
    }
}
