using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Ferry.TestKit.Prometheus;

/// <summary>An alert as Prometheus's <c>/api/v1/alerts</c> reports it.</summary>
public sealed record PrometheusAlert(string Name, string State, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations);

/// <summary>
/// A real Prometheus server (Debian's <c>prometheus</c> binary) on a free loopback port, with its own data
/// directory and a generated configuration that scrapes the given targets every second and evaluates the given
/// rule files every second. Disposing kills it and deletes its directory. Never skips: without the binary it
/// fails with what to install.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);
    private readonly TempDirectory _dir = new("prometheus");
    private readonly StringBuilder _log = new();
    private readonly HttpClient _http = new() { Timeout = RequestTimeout };
    private Process? _process;
    private int _port;

    private PrometheusServer()
    {
    }

    /// <summary>The server's URL, e.g. <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri Endpoint => new($"http://127.0.0.1:{_port}/");

    /// <summary>What Prometheus printed most recently, for failure messages.</summary>
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

    /// <summary>Starts Prometheus scraping <paramref name="targets"/> (<c>host:port</c>) with <paramref name="ruleFiles"/>, and waits until it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(IEnumerable<string> targets, IEnumerable<string> ruleFiles, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(ruleFiles);
        var binary = Tools.Find("prometheus") ?? throw new InvalidOperationException(
            "prometheus is not on PATH, so the alerting tests can't run (they are never skipped). Install it with " +
            "`apt-get install -y prometheus` or run the tests with scripts/test.sh, which installs it.");

        var server = new PrometheusServer();
        try
        {
            server.WriteConfig(targets.ToList(), ruleFiles.Select(Path.GetFullPath).ToList());

            // A port picked free can be taken by someone else before Prometheus binds it: try a few.
            for (var attempt = 1; ; attempt++)
            {
                server._port = Tools.FreePort();
                try
                {
                    await server.StartProcessAsync(binary, cancellationToken);
                    return server;
                }
                catch (InvalidOperationException) when (attempt < 3 && server.Log.Contains("address already in use", StringComparison.Ordinal))
                {
                    // The failed start killed the process; the next attempt gets a new port.
                }
            }
        }
        catch (Exception)
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>The alerts Prometheus holds now (pending or firing).</summary>
    public async Task<IReadOnlyList<PrometheusAlert>> GetAlertsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(new Uri(Endpoint, "api/v1/alerts"), cancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray()
            .Select(a => new PrometheusAlert(
                a.GetProperty("labels").GetProperty("alertname").GetString()!,
                a.GetProperty("state").GetString()!,
                Strings(a.GetProperty("labels")),
                Strings(a.GetProperty("annotations"))))
            .ToList();
    }

    /// <summary>The health of each scrape target (<c>up</c>, <c>down</c>, <c>unknown</c>) with its last error, for failure messages.</summary>
    public async Task<string> DescribeTargetsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(new Uri(Endpoint, "api/v1/targets"), cancellationToken);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return string.Join("; ", json.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
            .Select(t => $"{t.GetProperty("scrapeUrl").GetString()} {t.GetProperty("health").GetString()} {t.GetProperty("lastError").GetString()}"));
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        finally
        {
            _http.Dispose();
            _dir.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private void WriteConfig(IReadOnlyList<string> targets, IReadOnlyList<string> ruleFiles)
    {
        // JSON strings are valid YAML scalars, so paths and addresses need no YAML quoting rules of their own.
        var config = new StringBuilder()
            .Append("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
            .Append("rule_files:\n");
        foreach (var file in ruleFiles) config.Append("  - ").Append(JsonSerializer.Serialize(file)).Append('\n');
        config.Append("scrape_configs:\n  - job_name: ferry\n    static_configs:\n      - targets: [")
            .Append(string.Join(", ", targets.Select(t => JsonSerializer.Serialize(t))))
            .Append("]\n");
        File.WriteAllText(_dir.File("prometheus.yml"), config.ToString());
    }

    private async Task StartProcessAsync(string binary, CancellationToken cancellationToken)
    {
        var data = _dir.File("data");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            $"--config.file={_dir.File("prometheus.yml")}",
            $"--storage.tsdb.path={data}",
            $"--web.listen-address=127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}",
            "--log.level=warn",
        })
        {
            info.ArgumentList.Add(arg);
        }

        lock (_log)
        {
            _log.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        if (!process.Start()) throw new InvalidOperationException($"could not start {binary}");
        _process = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await WaitReadyAsync(cancellationToken);
        }
        catch (Exception)
        {
            // A server that never became ready must not outlive the failed start.
            Kill();
            throw;
        }
    }

    /// <summary>Polls <c>/-/ready</c> until Prometheus answers 200, the process dies, or time runs out.</summary>
    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var ready = new Uri(Endpoint, "-/ready");
        var watch = Stopwatch.StartNew();
        var lastProblem = "no answer yet";
        while (watch.Elapsed < StartTimeout)
        {
            if (_process is not { HasExited: false })
            {
                throw new InvalidOperationException($"prometheus exited while starting (code {_process?.ExitCode}):\n{Log}");
            }

            try
            {
                using var response = await _http.GetAsync(ready, cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK) return;
                lastProblem = $"HTTP {(int)response.StatusCode}";
            }
            catch (HttpRequestException e)
            {
                lastProblem = e.Message;
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                lastProblem = $"no answer within {RequestTimeout} ({e.Message})";
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new InvalidOperationException($"prometheus on {Endpoint} was not ready within {StartTimeout} (last: {lastProblem}):\n{Log}");
    }

    private void Kill()
    {
        var process = _process;
        _process = null;
        Tools.KillAndDispose(process);
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            // Keep the tail only: a long test run must not grow this without bound.
            if (_log.Length > 64_000) _log.Remove(0, 32_000);
            _log.AppendLine(line);
        }
    }

    private static Dictionary<string, string> Strings(JsonElement element) =>
        element.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal);
}
