using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Ferry.TestKit.Cli;

/// <summary>
/// A real <c>ferry agent</c> process with its HTTP endpoints on a free loopback port. Started, it is ready: its
/// <c>/status</c> answers. <see cref="StopAsync"/> sends SIGTERM and returns the exit code; disposing kills what
/// is left. Everything the agent logged is in <see cref="Log"/>, for failure messages.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly StringBuilder _log = new();
    private readonly Task _stdout;
    private readonly Task _stderr;

    private AgentProcess(Process process, Uri baseAddress)
    {
        Process = process;
        BaseAddress = baseAddress;
        _stdout = PumpAsync(process.StandardOutput);
        _stderr = PumpAsync(process.StandardError);
    }

    public Process Process { get; }

    public Uri BaseAddress { get; }

    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    public static async Task<AgentProcess> StartAsync(
        string metaUrl,
        long storeId,
        string home,
        IReadOnlyDictionary<string, string>? environment = null,
        long generation = 0,
        IReadOnlyList<string>? arguments = null)
    {
        var port = Tools.FreePort();
        var process = FerryCli.Start(
            ["agent", "--store-id", storeId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--generation",
                generation.ToString(System.Globalization.CultureInfo.InvariantCulture), "--http", $"127.0.0.1:{port}", "--meta", metaUrl,
                .. arguments ?? []],
            home,
            environment);
        var agent = new AgentProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                await agent.DisposeAsync();
                throw new InvalidOperationException($"ferry agent exited {process.ExitCode} at start: {agent.Log}");
            }

            try
            {
                using var response = await Http.GetAsync(new Uri(agent.BaseAddress, "status"));
                if (response.IsSuccessStatusCode) return agent;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (watch.Elapsed <= StartTimeout)
            {
                // Listening but slow to answer (a loaded machine): the client's 5 s timeout; ask again until the start timeout.
            }

            if (watch.Elapsed > StartTimeout)
            {
                await agent.DisposeAsync();
                throw new TimeoutException($"ferry agent did not answer /status within {StartTimeout}: {agent.Log}");
            }

            await Task.Delay(50);
        }
    }

    public async Task<string> MetricsAsync() => await Http.GetStringAsync(new Uri(BaseAddress, "metrics"));

    public async Task<JsonDocument> StatusAsync() => JsonDocument.Parse(await Http.GetStringAsync(new Uri(BaseAddress, "status")));

    /// <summary>The agent's own state in <c>/status</c>: "standby", "handover", "running", "handing over", …</summary>
    public async Task<string?> StateAsync()
    {
        using var status = await StatusAsync();
        return status.RootElement.GetProperty("state").GetString();
    }

    /// <summary>The value of one series in /metrics (exact label set, e.g. <c>ferry_task_state{state="RUNNING",task="t1"}</c>), or null.</summary>
    public async Task<double?> MetricAsync(string series)
    {
        foreach (var line in (await MetricsAsync()).Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    /// <summary>SIGTERM, then waits for the exit; returns the exit code. <see cref="Log"/> is complete afterwards.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!Process.HasExited) Process.Kill(Signal.Term);
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(40));
        await WaitForExitAsync(deadline.Token);
        return Process.ExitCode;
    }

    /// <summary>
    /// Waits for the process to exit and for everything it printed to be in <see cref="Log"/>:
    /// <c>Process.WaitForExitAsync</c> alone returns before our own readers have drained the pipes.
    /// </summary>
    public async Task WaitForExitAsync(CancellationToken cancellationToken)
    {
        await Process.WaitForExitAsync(cancellationToken);
        await Task.WhenAll(_stdout, _stderr).WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
        await Task.WhenAll(_stdout, _stderr);
        Process.Dispose();
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_log) _log.AppendLine(line);
        }
    }
}
