using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Ferry.TestKit;
using Ferry.TestKit.Cli;

namespace Ferry.IntegrationTests.Hosting;

/// <summary>
/// The sample application (samples/Ferry.Sample.Api, built with the solution) as a real process on a free loopback
/// port: its SQLite database, Ferry's embedded metadata store and the backup directory in <paramref name="dir"/>, every
/// setting through the environment (as a deployment would give it). Started, it answers <c>/health</c>.
/// <see cref="StopAsync"/> sends SIGTERM; disposing kills what is left. Its log is in <see cref="Log"/>.
/// </summary>
internal sealed class SampleApiProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly HttpClient _http;
    private readonly StringBuilder _log = new();
    private readonly Task _stdout;
    private readonly Task _stderr;

    private SampleApiProcess(Process process, Uri baseAddress)
    {
        Process = process;
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(20) };
        _stdout = PumpAsync(process.StandardOutput);
        _stderr = PumpAsync(process.StandardError);
    }

    public Process Process { get; }

    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    /// <summary>The sample's built assembly, next to the solution's other outputs of the same configuration.</summary>
    public static string DllPath { get; } = typeof(SampleApiProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SampleApiDll").Value!;

    public static async Task<SampleApiProcess> StartAsync(string database, string storage, string meta, string workingDirectory)
    {
        if (!File.Exists(DllPath)) throw new InvalidOperationException($"{DllPath} is missing: build Ferry.sln (the sample is part of it)");
        var port = Tools.FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add(DllPath);
        info.Environment["Urls"] = $"http://127.0.0.1:{port}";
        info.Environment["Sample__Database"] = database;
        info.Environment["Ferry__Meta"] = $"file:{meta}";
        info.Environment["Ferry__StoreId"] = "1";
        info.Environment["Ferry__Databases__0__Path"] = database;
        info.Environment["Ferry__Databases__0__To"] = storage;
        info.Environment["Ferry__Databases__0__FlushInterval"] = "200ms";
        info.Environment.Remove("FERRY_META");
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the sample application");
        var app = new SampleApiProcess(process, new Uri($"http://127.0.0.1:{port}/"));
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                await app.DisposeAsync();
                throw new InvalidOperationException($"the sample application exited {process.ExitCode} at start: {app.Log}");
            }

            try
            {
                using var response = await app._http.GetAsync(new Uri("health", UriKind.Relative));
                return app;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (watch.Elapsed > StartTimeout)
            {
                await app.DisposeAsync();
                throw new TimeoutException($"the sample application did not answer within {StartTimeout}: {app.Log}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>POST /items: one row, one transaction; returns its id.</summary>
    public async Task<long> InsertAsync(string name)
    {
        using var response = await _http.PostAsJsonAsync(new Uri("items", UriKind.Relative), new { name });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /items answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{Log}");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetInt64();
    }

    /// <summary>GET /items: the rows the application counts.</summary>
    public async Task<long> CountAsync()
    {
        using var body = JsonDocument.Parse(await _http.GetStringAsync(new Uri("items", UriKind.Relative)));
        return body.RootElement.GetProperty("count").GetInt64();
    }

    /// <summary>GET /health: the HTTP status and the JSON body the Ferry response writer wrote.</summary>
    public async Task<(HttpStatusCode Status, string Body)> HealthAsync()
    {
        using var response = await _http.GetAsync(new Uri("health", UriKind.Relative));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Polls /health until its overall status is <paramref name="status"/>; fails with the last body and the log.</summary>
    public async Task<string> WaitForHealthAsync(string status, TimeSpan deadline)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var (_, body) = await HealthAsync();
            using (var doc = JsonDocument.Parse(body))
            {
                if (doc.RootElement.GetProperty("status").GetString() == status) return body;
            }

            if (watch.Elapsed > deadline) Assert.Fail($"/health was not {status} within {deadline}; last body: {body}\nlog:\n{Log}");
            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM, then waits for the exit and the whole log; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!Process.HasExited) Process.Kill(Signal.Term);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Process.WaitForExitAsync(deadline.Token);
        await Task.WhenAll(_stdout, _stderr).WaitAsync(deadline.Token);
        return Process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
        await Task.WhenAll(_stdout, _stderr);
        Process.Dispose();
        _http.Dispose();
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_log) _log.AppendLine(line);
        }
    }
}
