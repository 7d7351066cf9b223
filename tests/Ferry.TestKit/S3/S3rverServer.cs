using System.Diagnostics;
using System.Text;
using Xunit;

namespace Ferry.TestKit.S3;

/// <summary>
/// A real s3rver (the npm fake S3 server) on a free loopback port with its own temp data directory, with the bucket
/// <see cref="Bucket"/> created. s3rver accepts any credentials (use <see cref="AccessKey"/>/<see cref="SecretKey"/>)
/// and ignores conditional writes (If-None-Match), so put-if-absent answers "created" every time against it.
/// It is installed under tests/tools/s3rver by <c>npm ci --prefix tests/tools/s3rver</c> (scripts/test.sh does it).
/// Use it as an xunit fixture; it never skips: without node or s3rver it fails with what to run.
/// <see cref="Stop"/> kills it and <see cref="RestartAsync"/> brings it back on the same port and data, for outage
/// tests. Disposing kills it and deletes its data.
/// </summary>
public sealed class S3rverServer : IAsyncLifetime
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"ferry-s3rver-{Guid.NewGuid():N}");
    private readonly StringBuilder _log = new();
    private Process? _process;
    private int _port;

    /// <summary>The bucket created at start.</summary>
    public string Bucket { get; } = "ferry-test";

    /// <summary>The endpoint, e.g. <c>http://127.0.0.1:40123</c>, for <c>FERRY_S3_ENDPOINT</c>.</summary>
    public Uri Endpoint => new($"http://127.0.0.1:{_port}");

    /// <summary>The environment a <c>ferry</c> process needs to reach this server: endpoint and dummy credentials.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["FERRY_S3_ENDPOINT"] = Endpoint.ToString().TrimEnd('/'),
        ["AWS_ACCESS_KEY_ID"] = AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = SecretKey,
        ["AWS_REGION"] = "us-east-1",
    };

    public static string ToolDirectory => Path.Combine(RepoRoot.Path, "tests", "tools", "s3rver");

    public bool IsRunning => _process is { HasExited: false };

    public async Task InitializeAsync()
    {
        var node = Tools.Find("node") ?? throw new InvalidOperationException(
            "node is not on PATH, so the S3 tests can't run (they are never skipped). Install Node.js (e.g. " +
            "`apt-get install -y nodejs npm`) and run the tests with ./scripts/test.sh, which installs s3rver.");
        var script = Path.Combine(ToolDirectory, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException(
                $"s3rver is not installed ({script} is missing), so the S3 tests can't run (they are never skipped). " +
                "Run `npm ci --prefix tests/tools/s3rver` from the repository root, or ./scripts/test.sh, which does it.");
        }

        for (var attempt = 1; ; attempt++)
        {
            _port = Tools.FreePort();
            try
            {
                await StartAsync(node, script, createBucket: true);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && Log.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
                // The port was taken between picking and binding: try another.
            }
            catch (Exception)
            {
                DeleteData();
                throw;
            }
        }
    }

    /// <summary>Creates another bucket (s3rver accepts an unsigned PUT /bucket).</summary>
    public async Task CreateBucketAsync(string bucket)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.PutAsync(new Uri(Endpoint, "/" + bucket), null);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"s3rver did not create bucket {bucket}: HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>Kills the server at once (SIGKILL); its data stays until dispose.</summary>
    public void Stop() => Kill();

    /// <summary>
    /// Kills the server if it runs and starts it again on the same port with the same data directory (its buckets and
    /// objects are still there), waiting until it answers. Fails, rather than moving, when the port was taken meanwhile.
    /// </summary>
    public async Task RestartAsync()
    {
        Kill();
        var node = Tools.Find("node") ?? throw new InvalidOperationException("node vanished from PATH");
        await StartAsync(node, Path.Combine(ToolDirectory, "node_modules", "s3rver", "bin", "s3rver.js"), createBucket: false);
    }

    public Task DisposeAsync()
    {
        Kill();
        DeleteData();
        return Task.CompletedTask;
    }

    /// <summary>What s3rver printed most recently, for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private async Task StartAsync(string node, string script, bool createBucket)
    {
        Directory.CreateDirectory(_dataDir);
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { script, "--directory", _dataDir, "--address", "127.0.0.1", "--port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--silent" })
        {
            info.ArgumentList.Add(arg);
        }

        // s3rver's signing code uses a hash that newer OpenSSL only offers through the legacy provider.
        info.Environment["NODE_OPTIONS"] = "--openssl-legacy-provider";
        lock (_log)
        {
            _log.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        if (!process.Start()) throw new InvalidOperationException($"could not start {node} {script}");
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await WaitReadyAsync();
            if (createBucket) await CreateBucketAsync(Bucket);
        }
        catch (Exception)
        {
            Kill();
            throw;
        }
    }

    /// <summary>Polls GET / (list buckets) until s3rver answers 200, the process dies, or time runs out.</summary>
    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var watch = Stopwatch.StartNew();
        var lastProblem = "no answer yet";
        while (watch.Elapsed < StartTimeout)
        {
            if (_process is not { HasExited: false })
            {
                throw new InvalidOperationException($"s3rver exited while starting (code {_process?.ExitCode}):\n{Log}");
            }

            try
            {
                using var response = await http.GetAsync(Endpoint);
                if (response.IsSuccessStatusCode) return;
                lastProblem = $"HTTP {(int)response.StatusCode}";
            }
            catch (HttpRequestException e)
            {
                lastProblem = e.Message;
            }
            catch (TaskCanceledException e)
            {
                lastProblem = $"no answer within 1 s ({e.Message})";
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"s3rver on {Endpoint} was not ready within {StartTimeout} (last: {lastProblem}):\n{Log}");
    }

    private void Kill()
    {
        var process = _process;
        _process = null;
        Tools.KillAndDispose(process);
    }

    private void DeleteData()
    {
        if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            if (_log.Length > 64_000) _log.Remove(0, 32_000);
            _log.AppendLine(line);
        }
    }
}
