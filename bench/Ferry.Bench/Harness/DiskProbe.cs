using System.Diagnostics;

namespace Ferry.Bench.Harness;

/// <summary>
/// How long this machine's disk takes to make a small write durable: the floor under every durable write, so the
/// figures of stores that fsync can be read against it.
/// </summary>
public static class DiskProbe
{
    /// <summary>Median and p99 of <paramref name="count"/> 4 KiB overwrite + fsync rounds on a file in <paramref name="directory"/>.</summary>
    public static Measurement Fsync(string directory, int count = 500)
    {
        var path = Path.Combine(directory, $"fsync-probe-{Guid.NewGuid():N}");
        var block = new byte[4096];
        var latencies = new long[count];
        try
        {
            using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
            file.Write(block);
            file.Flush(flushToDisk: true);
            var wall = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                file.Position = 0;
                block[0] = (byte)i;
                file.Write(block);
                file.Flush(flushToDisk: true);
                latencies[i] = Stopwatch.GetTimestamp() - start;
            }

            return new Measurement("fsync", 1, latencies, wall.Elapsed);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
