using System.Diagnostics;

namespace Ferry.Bench.Harness;

/// <summary>Sizes and speeds of files on disk, the baselines the data-moving suites compare against.</summary>
public static class DiskSpeed
{
    /// <summary>
    /// Writes <paramref name="megabytes"/> MiB of random bytes to a new file in <paramref name="directory"/> in
    /// 4 MiB writes through an unbuffered FileStream, then fsyncs it; returns MiB/s over the whole (fsync included).
    /// </summary>
    public static double SequentialWrite(string directory, int megabytes)
    {
        var path = Path.Combine(directory, $"disk-probe-{Guid.NewGuid():N}");
        var chunk = new byte[4 << 20];
        new Random(7).NextBytes(chunk);
        try
        {
            var wall = Stopwatch.StartNew();
            using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                for (var written = 0; written < megabytes; written += 4)
                {
                    chunk[0] = (byte)written;
                    file.Write(chunk);
                }

                file.Flush(flushToDisk: true);
            }

            return megabytes / wall.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The total size of the files under <paramref name="directory"/>, in bytes.</summary>
    public static long DirectoryBytes(string directory) =>
        Directory.Exists(directory)
            ? new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f =>
            {
                try
                {
                    return f.Length;
                }
                catch (FileNotFoundException)
                {
                    return 0; // a temporary file renamed away while we listed
                }
            })
            : 0;

    public const double MiB = 1024 * 1024;
}
