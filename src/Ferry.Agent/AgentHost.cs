using System.Net;
using System.Runtime.ExceptionServices;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Agent;

/// <summary>
/// The one composition of an agent (DESIGN §11): the agent as a hosted service, its metrics, its error reporter and,
/// when asked, its HTTP endpoints, registered by <see cref="AddFerryAgentServices"/>. <c>ferry agent</c>, <c>ferry
/// replicate</c> (the agent's own tasks on the embedded store) and <c>ferry demo</c> run it on a host of their own
/// (<see cref="Build"/>); an application runs the same registration on its own host (Ferry.Hosting's <c>AddFerry</c>),
/// so each has the fence watch, re-bootstrap and the same clock.
/// </summary>
public static class AgentHost
{
    /// <summary>
    /// Builds the host. <paramref name="meta"/> stays the caller's to dispose; <paramref name="http"/> serves
    /// the status page, <c>/metrics</c> and <c>/status</c> when given. When the agent ends by itself (fenced), the host
    /// stops. With <paramref name="stopOnSignals"/> false the host leaves SIGINT and SIGTERM alone and stops only when
    /// its caller says (<c>replicate --exec</c> forwards them to its application).
    /// </summary>
    public static IHost Build(IMetaStore meta, FerryAgentOptions options, Action<ILoggingBuilder> configureLogging, IPEndPoint? http = null, bool stopOnSignals = true)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configureLogging);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        configureLogging(builder.Logging);
        // Stopping ships what every stream captured: give it the time a stream's own stop may take.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddFerryAgentServices(AgentMetaStore.Borrowed(meta), options, new AgentServiceOptions { Http = http, StopsHost = true });
        // The default console lifetime stops the host on SIGINT and SIGTERM.
        if (!stopOnSignals) builder.Services.AddSingleton<IHostLifetime, CallerLifetime>();
        return builder.Build();
    }

    /// <summary>
    /// Registers the agent on <paramref name="services"/>: the agent (<see cref="FerryAgent"/>, for its reports), the
    /// hosted service that runs it, its metrics (on a meter from the container's <see cref="IMeterFactory"/> when it
    /// has one), its error reporter and the clock (the container's <see cref="TimeProvider"/> when it has one).
    /// Logging is the container's. Call it once per container.
    /// </summary>
    public static IServiceCollection AddFerryAgentServices(
        this IServiceCollection services, AgentMetaStore meta, FerryAgentOptions options, AgentServiceOptions? service = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(options);
        if (services.Any(d => d.ServiceType == typeof(FerryAgent)))
        {
            throw new InvalidOperationException("a Ferry agent is registered already: one agent per container (give it every task instead)");
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(s => new FerryMetrics(s.GetService<IMeterFactory>(), s.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IErrorCounters>(s => s.GetRequiredService<FerryMetrics>());
        services.AddSingleton<ErrorReporter>();
        services.AddSingleton(new MetaKeys());
        services.AddSingleton(options);
        services.AddSingleton(s => new FerryAgent(
            meta,
            s.GetRequiredService<MetaKeys>(),
            options,
            s.GetRequiredService<FerryMetrics>(),
            s.GetRequiredService<ErrorReporter>(),
            s.GetRequiredService<ILogger<FerryAgent>>(),
            s.GetRequiredService<TimeProvider>()));
        services.AddSingleton(new AgentRun(service ?? new AgentServiceOptions()));
        services.AddHostedService<AgentService>();
        return services;
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

    /// <summary>A lifetime that handles no signal: the host runs until the token its caller passes to RunAsync.</summary>
    private sealed class CallerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The agent's run on its host: whether it ended, and with what.</summary>
    public sealed class AgentRun
    {
        private volatile bool _ended;

        internal AgentRun(AgentServiceOptions options) => Options = options;

        internal AgentServiceOptions Options { get; }

        /// <summary>Whether the agent's run is over (stopped, fenced, or failed).</summary>
        public bool Ended => _ended;

        /// <summary>What the run returned: 0, or 75 when halted by an epoch fence.</summary>
        public int ExitCode { get; internal set; }

        /// <summary>What ended the agent when it was not a stop, a fence or a lost session: the command's error.</summary>
        public ExceptionDispatchInfo? Failure { get; internal set; }

        internal void End() => _ended = true;
    }

    /// <summary>Runs the agent for the host's lifetime; when the agent ends by itself (fenced), a host of its own stops.</summary>
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
                if (run.Options.Http is { } endpoint)
                {
                    server = new AgentHttpServer(metrics, () => agent.Report(), new AgentHttpServerOptions { Endpoint = endpoint, Time = time }, loggers.CreateLogger<AgentHttpServer>());
                    await server.StartAsync(stoppingToken).ConfigureAwait(false);
                }

                run.ExitCode = await agent.RunAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!(e is OperationCanceledException && stoppingToken.IsCancellationRequested))
            {
                run.Failure = ExceptionDispatchInfo.Capture(e);

                // A command rethrows it with its one line; an application that goes on serving must see it in its log.
                if (!run.Options.StopsHost) Log.AgentFailed(loggers.CreateLogger<FerryAgent>(), e.Message, e);
            }
            finally
            {
                run.End();
                if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
                if (run.Options.StopsHost) lifetime.StopApplication();
            }
        }
    }
}
