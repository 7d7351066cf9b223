using System.Net;
using System.Runtime.ExceptionServices;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Agent;

/// <summary>
/// The one composition of an agent (DESIGN §11): the generic host with the agent as a hosted service, its metrics,
/// its error reporter and, when asked, its HTTP endpoints. <c>ferry agent</c>, <c>ferry replicate</c> (one task on the
/// embedded store) and <c>ferry demo</c> all run it, so each has the fence watch, re-bootstrap and the same clock.
/// </summary>
public static class AgentHost
{
    /// <summary>
    /// Builds the host. <paramref name="meta"/> stays the caller's to dispose; <paramref name="http"/> serves
    /// the status page, <c>/metrics</c> and <c>/status</c> when given.
    /// </summary>
    public static IHost Build(IMetaStore meta, FerryAgentOptions options, Action<ILoggingBuilder> configureLogging, IPEndPoint? http = null)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configureLogging);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        configureLogging(builder.Logging);
        // Stopping ships what every stream captured: give it the time a stream's own stop may take.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(_ => new FerryMetrics());
        builder.Services.AddSingleton<IErrorCounters>(services => services.GetRequiredService<FerryMetrics>());
        builder.Services.AddSingleton<ErrorReporter>();
        builder.Services.AddSingleton(meta);
        builder.Services.AddSingleton(new MetaKeys());
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<FerryAgent>();
        builder.Services.AddSingleton(new AgentRun(http));
        builder.Services.AddHostedService<AgentService>();
        return builder.Build();
    }

    /// <summary>The agent of a host built by <see cref="Build"/>, for its reports.</summary>
    public static FerryAgent Agent(this IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.Services.GetRequiredService<FerryAgent>();
    }

    /// <summary>
    /// Runs the host until <paramref name="stop"/> or until the agent ends by itself (fenced); returns the process exit
    /// code (0, or 75 when halted by an epoch fence). What ended the agent otherwise is rethrown, so a command ends with
    /// its one line and exit code: the host alone would only log it.
    /// </summary>
    public static async Task<int> RunAsync(this IHost host, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Resolved first: running the host disposes it, and its services with it.
        var run = host.Services.GetRequiredService<AgentRun>();
        await HostingAbstractionsHostExtensions.RunAsync(host, stop).ConfigureAwait(false);
        run.Failure?.Throw();
        return run.ExitCode;
    }

    /// <summary>What the agent's run ended with.</summary>
    internal sealed class AgentRun(IPEndPoint? http)
    {
        public IPEndPoint? Http { get; } = http;

        public int ExitCode { get; set; }

        /// <summary>What ended the agent when it was not a stop, a fence or a lost session: the command's error.</summary>
        public ExceptionDispatchInfo? Failure { get; set; }
    }

    /// <summary>Runs the agent for the host's lifetime; when the agent ends by itself (fenced), the host stops.</summary>
    internal sealed class AgentService(
        FerryAgent agent,
        FerryMetrics metrics,
        AgentRun run,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        ILoggerFactory loggers) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            AgentHttpServer? server = null;
            try
            {
                if (run.Http is { } endpoint)
                {
                    server = new AgentHttpServer(metrics, () => agent.Report(), new AgentHttpServerOptions { Endpoint = endpoint, Time = time }, loggers.CreateLogger<AgentHttpServer>());
                    await server.StartAsync(stoppingToken).ConfigureAwait(false);
                }

                run.ExitCode = await agent.RunAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!(e is OperationCanceledException && stoppingToken.IsCancellationRequested))
            {
                run.Failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
                lifetime.StopApplication();
            }
        }
    }
}
