using System.Net;
using Ferry.Agent.Internal;
using Ferry.Diagnostics;
using Ferry.Meta;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;

namespace Ferry.Agent;

/// <summary>
/// The agent's HTTP endpoints on the framework's Kestrel, loopback by default (DESIGN §2):
/// <c>/metrics</c>, the instruments of one <see cref="FerryMetrics"/> in Prometheus text format under their own
/// names (nothing else unless <see cref="AgentHttpServerOptions.IncludeProcessMetrics"/>), and <c>/status</c>,
/// the caller's report object as JSON (snake_case, like the metadata values and <c>ferry task status --json</c>),
/// and <c>/</c>, the same report as a self-contained HTML page (<see cref="StatusPage"/>) when it is an
/// <see cref="AgentReport"/>. Start once, stop once; disposing stops it if needed.
/// </summary>
public sealed class AgentHttpServer : IAsyncDisposable
{
    private readonly FerryMetrics _metrics;
    private readonly Func<object?> _status;
    private readonly AgentHttpServerOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private readonly CollectorRegistry _registry;
    private readonly MeterBridge _bridge;
    private WebApplication? _app;
    private IPEndPoint? _endpoint;
    private bool _started;
    private bool _disposed;

    /// <param name="metrics">The instruments to export: what they record from this constructor on.</param>
    /// <param name="status">Builds the <c>/status</c> report; called per request, from any thread.</param>
    /// <param name="options">Where to listen and what to export; defaults when null.</param>
    /// <param name="logger">For the server's own messages; Kestrel's are not logged.</param>
    public AgentHttpServer(FerryMetrics metrics, Func<object?> status, AgentHttpServerOptions? options = null, ILogger<AgentHttpServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(status);
        _metrics = metrics;
        _status = status;
        _options = options ?? new AgentHttpServerOptions();
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;

        // Counting starts here, not at StartAsync: a meter listener sees only what is recorded after it exists,
        // so the agent creates its server right after its FerryMetrics. A registry of our own, because
        // prometheus-net's default one carries process series and adapts every meter of the process.
        _registry = Metrics.NewCustomRegistry();
        if (_options.IncludeProcessMetrics) DotNetStats.Register(_registry);
        _bridge = new MeterBridge(_metrics.Meter, _registry, _logger);
    }

    /// <summary>The address actually bound (the picked port when asked for port 0). Throws before start.</summary>
    public IPEndPoint Endpoint => _endpoint ?? throw new InvalidOperationException("the HTTP server is not started");

    /// <summary><c>http://ADDRESS:PORT/</c> of the bound address.</summary>
    public Uri BaseAddress => new($"http://{AgentHttpAddress.Format(Endpoint)}/");

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (_started) throw new InvalidOperationException("the HTTP server was started already; create a new one to start again");
            _started = true;

            WebApplication? app = null;
            try
            {
                app = Build(_registry);
                await app.StartAsync(cancellationToken);
                _endpoint = BoundEndpoint(app);
            }
            catch (Exception)
            {
                // A failed start (port taken, cancelled) leaves nothing listening.
                if (app is not null) await app.DisposeAsync();
                throw;
            }

            _app = app;
            Log.HttpListening(_logger, AgentHttpAddress.Format(_endpoint));
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Stops listening; requests in flight get up to the shutdown timeout (or until the token is cancelled).</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            var app = _app;
            if (app is null) return;
            _app = null;
            try
            {
                await app.StopAsync(cancellationToken);
            }
            finally
            {
                await app.DisposeAsync();
            }

            Log.HttpStopped(_logger, AgentHttpAddress.Format(Endpoint));
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;

        // Bounded, so disposing never hangs on a stuck client.
        using var deadline = new CancellationTokenSource(_options.ShutdownTimeout + TimeSpan.FromSeconds(1));
        try
        {
            await StopAsync(deadline.Token);
        }
        finally
        {
            _bridge.Dispose();
            _lifecycle.Dispose();
        }
    }

    private WebApplication Build(CollectorRegistry registry)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(AgentHttpServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = _options.ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(_options.Endpoint));

        var app = builder.Build();
        app.MapMetrics(
            settings =>
            {
                settings.Registry = registry;

                // Text format 0.0.4 for every client: families and samples carry exactly FerryMetrics' names
                // (OpenMetrics would name a counter's family without "_total"); no exemplars are used anyway.
                settings.EnableOpenMetrics = false;
            },
            "/metrics");
        app.MapGet("/status", WriteStatusAsync);
        app.MapGet("/", WritePageAsync);
        return app;
    }

    private async Task WriteStatusAsync(HttpContext context)
    {
        object? report;
        try
        {
            report = _status();
        }
        catch (Exception e)
        {
            // The caller's report failed: say so with a 500 and log it, rather than dropping the connection.
            Log.StatusFailed(_logger, e.Message, e);
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsJsonAsync(new StatusFailure($"the status report failed: {e.Message}"), MetaJson.OutputOptions, context.RequestAborted);
            return;
        }

        await context.Response.WriteAsJsonAsync(report, report?.GetType() ?? typeof(object), MetaJson.OutputOptions, contentType: null, context.RequestAborted);
    }

    private async Task WritePageAsync(HttpContext context)
    {
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        object? report;
        try
        {
            report = _status();
        }
        catch (Exception e)
        {
            Log.StatusFailed(_logger, e.Message, e);
            response.StatusCode = StatusCodes.Status500InternalServerError;
            await response.WriteAsync($"the status report failed: {e.Message}\n", context.RequestAborted);
            return;
        }

        if (report is not AgentReport agent)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            await response.WriteAsync("no status page here: this server's report is not an agent's; see /status\n", context.RequestAborted);
            return;
        }

        // The page fetches nothing (inline style and SVG only); the policy makes a browser hold it to that.
        response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
        response.ContentType = "text/html; charset=utf-8";
        await response.WriteAsync(StatusPage.Render(agent, _options.Time.GetUtcNow()), context.RequestAborted);
    }

    private static IPEndPoint BoundEndpoint(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("Kestrel reports no bound addresses");
        var uri = new Uri(addresses.First());
        return new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port);
    }

    private sealed record StatusFailure(string Error);
}
