using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.Agent;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.TestKit.Prometheus;

namespace Ferry.IntegrationTests.Agent;

/// <summary>The agent's endpoints over real HTTP on loopback, each test with its own server on a free port.</summary>
public sealed class AgentHttpServerTests : IDisposable
{
    private static readonly AgentHttpServerOptions AnyPort = new() { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) };
    private readonly FerryMetrics _metrics = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public void Dispose()
    {
        _http.Dispose();
        _metrics.Dispose();
    }

    [Fact]
    public async Task Metrics_Scraped_ExportsEveryFerrySeriesUnderItsExactNameAndNothingElse()
    {
        await using var server = await StartAsync();
        new ErrorReporter(Microsoft.Extensions.Logging.Abstractions.NullLogger<ErrorReporter>.Instance, _metrics)
            .Report(new FerryException(ErrorCodes.StorageQuotaExceeded, "disk full", new ErrorContext("t1")));
        _metrics.SetTaskState("t1", TaskState.PAUSED_DUE_TO_ERROR);
        _metrics.SetCheckpoint("t1", DateTimeOffset.UtcNow - TimeSpan.FromSeconds(42));
        _metrics.RecordSuccess("t1", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        _metrics.AddReplicatedBytes("t1", 1000);
        _metrics.AddReplicatedBytes("t1", 24);
        _metrics.RecordRetry("t1", ErrorCodes.StorageUnavailable);
        _metrics.RecordRetry("t1", ErrorCodes.StorageUnavailable);
        _metrics.RecordStateDuration("Working", TimeSpan.FromSeconds(3));
        _metrics.RecordStorageRequest("t1", "put", "ok");
        _metrics.RecordStorageRequest("t1", "put", "ok");

        var text = await ScrapeAsync(server);
        var samples = PrometheusText.Parse(text);
        var types = PrometheusText.Types(text);

        Assert.Equal("counter", types["ferry_errors_total"]);
        Assert.Equal("gauge", types["ferry_task_state"]);
        Assert.Equal("gauge", types["ferry_checkpoint_lag_seconds"]);
        Assert.Equal("counter", types["ferry_replicated_bytes_total"]);
        Assert.Equal("counter", types["ferry_retries_total"]);
        Assert.Equal("histogram", types["ferry_state_seconds"]);
        Assert.Equal("gauge", types["ferry_last_success_timestamp_seconds"]);
        Assert.Equal("counter", types["ferry_storage_requests_total"]);
        Assert.All(samples, s => Assert.StartsWith("ferry_", s.Name));
        Assert.DoesNotContain(samples, s => s.Name.Contains("_total_total", StringComparison.Ordinal));

        var error = Assert.Single(samples, s => s.Name == "ferry_errors_total");
        Assert.Equal(("FERRY:Storage:QuotaExceeded", "Permanent", "t1", 1.0), (error["code"], error["class"], error["task"], error.Value));
        var states = samples.Where(s => s.Name == "ferry_task_state").ToDictionary(s => s["state"], s => s.Value);
        Assert.Equal(Enum.GetNames<TaskState>().Where(n => n != "OFFLINE").Order(), states.Keys.Order());
        Assert.Equal(1, states["PAUSED_DUE_TO_ERROR"]);
        Assert.Equal(0, states.Where(kv => kv.Key != "PAUSED_DUE_TO_ERROR").Sum(kv => kv.Value));
        Assert.InRange(Assert.Single(samples, s => s.Name == "ferry_checkpoint_lag_seconds").Value, 42, 60);
        Assert.Equal(1_700_000_000, Assert.Single(samples, s => s.Name == "ferry_last_success_timestamp_seconds").Value);
        Assert.Equal(1024, Assert.Single(samples, s => s.Name == "ferry_replicated_bytes_total").Value);
        var retries = Assert.Single(samples, s => s.Name == "ferry_retries_total");
        Assert.Equal(("t1", "FERRY:Storage:Unavailable", 2.0), (retries["task"], retries["code"], retries.Value));
        var requests = Assert.Single(samples, s => s.Name == "ferry_storage_requests_total");
        Assert.Equal(("put", "ok", "t1", 2.0), (requests["op"], requests["outcome"], requests["task"], requests.Value));
        Assert.Equal(1, Assert.Single(samples, s => s.Name == "ferry_state_seconds_count" && s["state"] == "Working").Value);
        Assert.Equal(3, Assert.Single(samples, s => s.Name == "ferry_state_seconds_sum").Value);
        Assert.Equal(0, samples.Single(s => s.Name == "ferry_state_seconds_bucket" && s["le"] == "1").Value);
        Assert.Equal(1, samples.Single(s => s.Name == "ferry_state_seconds_bucket" && s["le"] == "5").Value);
    }

    [Fact]
    public async Task Metrics_AnotherFerryMetricsInTheProcess_IsNotExported()
    {
        await using var server = await StartAsync();
        using var other = new FerryMetrics();
        other.SetTaskState("someone-else", TaskState.RUNNING);
        other.AddReplicatedBytes("someone-else", 5);
        _metrics.SetTaskState("mine", TaskState.RUNNING);

        var samples = PrometheusText.Parse(await ScrapeAsync(server));

        Assert.DoesNotContain(samples, s => s.Labels.GetValueOrDefault("task") == "someone-else");
        Assert.Contains(samples, s => s.Name == "ferry_task_state" && s["task"] == "mine");
    }

    [Fact]
    public async Task Metrics_TaskRemoved_ItsGaugeSeriesDisappearFromTheNextScrape()
    {
        await using var server = await StartAsync();
        _metrics.SetTaskState("gone", TaskState.RETRYING);
        _metrics.SetCheckpoint("gone", DateTimeOffset.UtcNow);
        _metrics.SetTaskState("kept", TaskState.RUNNING);
        Assert.Contains(PrometheusText.Parse(await ScrapeAsync(server)), s => s.Labels.GetValueOrDefault("task") == "gone");

        _metrics.RemoveTask("gone");

        var samples = PrometheusText.Parse(await ScrapeAsync(server));
        Assert.DoesNotContain(samples, s => s.Labels.GetValueOrDefault("task") == "gone");
        Assert.Equal(6, samples.Count(s => s.Name == "ferry_task_state" && s["task"] == "kept"));
    }

    [Fact]
    public async Task Metrics_IncludeProcessMetrics_AddsTheProcessSeries()
    {
        await using var server = await StartAsync(new AgentHttpServerOptions { Endpoint = AnyPort.Endpoint, IncludeProcessMetrics = true });

        var samples = PrometheusText.Parse(await ScrapeAsync(server));

        Assert.Contains(samples, s => s.Name.StartsWith("process_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_Requested_ReturnsTheCurrentReportAsSnakeCaseJson()
    {
        var attempt = 0;
        await using var server = await StartAsync(status: () => new StatusReport("t1", TaskState.RETRYING, Interlocked.Increment(ref attempt), null));

        using var first = await _http.GetAsync(new Uri(server.BaseAddress, "status"));
        var second = await _http.GetStringAsync(new Uri(server.BaseAddress, "status"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("application/json", first.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        Assert.Equal("t1", json.RootElement.GetProperty("task_name").GetString());
        Assert.Equal("RETRYING", json.RootElement.GetProperty("state").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("retry_attempt").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("last_error").ValueKind);
        Assert.Contains("\"retry_attempt\":2", second);
    }

    [Fact]
    public async Task Status_ReportThrows_Returns500WithTheReason()
    {
        await using var server = await StartAsync(status: () => throw new InvalidOperationException("runner registry is gone"));

        using var response = await _http.GetAsync(new Uri(server.BaseAddress, "status"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Contains("runner registry is gone", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Start_DefaultAddressWithPortZero_BindsLoopbackOnAPickedPort()
    {
        await using var server = await StartAsync(AgentHttpAddress.Parse(":0"));

        Assert.Equal(IPAddress.Loopback, server.Endpoint.Address);
        Assert.NotEqual(0, server.Endpoint.Port);
        Assert.Equal(new Uri($"http://127.0.0.1:{server.Endpoint.Port}/"), server.BaseAddress);

        // Reachable on loopback, refused on every other address of this host.
        await ScrapeAsync(server);
        foreach (var address in NonLoopbackAddresses())
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var refused = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(new IPEndPoint(address, server.Endpoint.Port), timeout.Token).AsTask());
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
    }

    [Fact]
    public async Task StopAndDispose_Started_StopsListeningAndDisposingTwiceIsHarmless()
    {
        var server = await StartAsync();
        var endpoint = server.Endpoint;

        await server.StopAsync();
        await server.DisposeAsync();
        await server.DisposeAsync();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var refused = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(endpoint, timeout.Token).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task Start_PortTaken_ThrowsAndCanBeDisposed()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var server = new AgentHttpServer(_metrics, () => new object(), new AgentHttpServerOptions { Endpoint = (IPEndPoint)taken.LocalEndpoint });

        await Assert.ThrowsAnyAsync<IOException>(() => server.StartAsync());

        await server.DisposeAsync();
        Assert.Throws<InvalidOperationException>(() => server.Endpoint);
    }

    private async Task<AgentHttpServer> StartAsync(AgentHttpServerOptions? options = null, Func<object?>? status = null)
    {
        var server = new AgentHttpServer(_metrics, status ?? (() => new { ok = true }), options ?? AnyPort);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await server.StartAsync(timeout.Token);
            return server;
        }
        catch (Exception)
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private Task<AgentHttpServer> StartAsync(IPEndPoint endpoint) => StartAsync(new AgentHttpServerOptions { Endpoint = endpoint });

    private async Task<string> ScrapeAsync(AgentHttpServer server)
    {
        using var response = await _http.GetAsync(new Uri(server.BaseAddress, "metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();

        // prometheus-net sends no content type with an empty body (nothing recorded yet).
        if (text.Length > 0) Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return text;
    }

    private static IEnumerable<IPAddress> NonLoopbackAddresses() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    private sealed record StatusReport(string TaskName, TaskState State, int RetryAttempt, string? LastError);
}
