using System.CommandLine;
using System.Runtime.ExceptionServices;
using Ferry.Agent;
using Ferry.Cli.Wiring;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry agent --store-id N</c>: one store's agent on the .NET generic host.</summary>
public static class AgentCommand
{
    public static Command Build()
    {
        var storeId = new Option<long>("--store-id") { Description = "This host's store id (a positive integer, unique in the cluster).", Required = true };
        var generation = new Option<long>("--generation")
        {
            Description = "Deploy generation: a process started with a larger one fences this one out (it then exits 0).",
            DefaultValueFactory = _ => 0,
        };
        var takeover = new Option<string?>("--takeover")
        {
            Description = "When another live agent holds the store: 'now' fences it out at once; 'when-ready' asks it to ship what it "
                + "captured, commit and hand over, then takes the store (after --takeover-timeout it fences at once). Without it, an agent "
                + "of the same generation is waited for as a standby and an older generation is fenced out at once.",
        };
        var takeoverTimeout = new Option<string>("--takeover-timeout")
        {
            Description = "How long --takeover when-ready waits for the holder to hand over.",
            DefaultValueFactory = _ => "2m",
        };
        var http = new Option<string?>("--http")
        {
            Description = "Serve /metrics (Prometheus) and /status (JSON) on ADDR, e.g. 127.0.0.1:9479 or :0 (loopback, any free port). "
                + "Off unless given; a non-loopback address only when written out.",
        };
        var command = new Command(
            "agent",
            "Run the agent of one store: it replicates, for every task in the metadata store, the local databases that match "
            + "the task, until SIGINT/SIGTERM (then it ships what is captured and exits 0).")
        {
            storeId, generation, takeover, takeoverTimeout, http,
        };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            var id = parse.GetValue(storeId);
            if (id <= 0) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--store-id must be a positive integer");
            var deploy = parse.GetValue(generation);
            if (deploy < 0) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--generation must be 0 or more");
            var takeoverMode = parse.GetValue(takeover) switch
            {
                null => Takeover.Default,
                "now" => Takeover.Now,
                "when-ready" => Takeover.WhenReady,
                var other => throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"--takeover must be 'now' or 'when-ready', not '{other}'"),
            };
            var handoverTimeout = Durations.Parse(parse.GetValue(takeoverTimeout)!, "--takeover-timeout");
            var httpEndpoint = parse.GetValue(http) is { } address ? AgentHttpAddress.Parse(address) : null;
            var verbose = parse.GetValue(CommandRunner.Verbose);

            await using var meta = await MetaStoreFactory.OpenAsync(parse.GetValue(CommandRunner.Meta), token);
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            Logging.Configure(builder.Logging, verbose);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(new FerryMetrics());
            builder.Services.AddSingleton<ErrorReporter>();
            builder.Services.AddSingleton(meta);
            builder.Services.AddSingleton(new MetaKeys());
            builder.Services.AddSingleton(new FerryAgentOptions
            {
                StoreId = id,
                Generation = deploy,
                Version = ThisAssembly.Version,
                Takeover = takeoverMode,
                HandoverTimeout = handoverTimeout,
            });
            builder.Services.AddSingleton<FerryAgent>();
            var settings = new AgentServiceSettings(httpEndpoint);
            builder.Services.AddSingleton(settings);
            builder.Services.AddHostedService<AgentService>();
            using var host = builder.Build();
            await host.RunAsync(token);
            // The host only logs what a background service threw and stops: rethrow it so the command ends with
            // its one line and exit code, like every other command.
            settings.Failure?.Throw();
            return settings.ExitCode;
        }, ct));
        return command;
    }

    internal sealed class AgentServiceSettings(System.Net.IPEndPoint? http)
    {
        public System.Net.IPEndPoint? Http { get; } = http;

        public int ExitCode { get; set; }

        /// <summary>What ended the agent when it was not a stop, a fence or a lost session: the command's error.</summary>
        public ExceptionDispatchInfo? Failure { get; set; }
    }

    /// <summary>Runs the agent for the host's lifetime; when the agent ends by itself (fenced), the host stops.</summary>
    internal sealed class AgentService(
        FerryAgent agent,
        FerryMetrics metrics,
        AgentServiceSettings settings,
        IHostApplicationLifetime lifetime,
        ILoggerFactory loggers) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            AgentHttpServer? server = null;
            try
            {
                if (settings.Http is { } endpoint)
                {
                    server = new AgentHttpServer(metrics, () => agent.Report(), new AgentHttpServerOptions { Endpoint = endpoint }, loggers.CreateLogger<AgentHttpServer>());
                    await server.StartAsync(stoppingToken);
                }

                settings.ExitCode = await agent.RunAsync(stoppingToken);
            }
            catch (Exception e) when (!(e is OperationCanceledException && stoppingToken.IsCancellationRequested))
            {
                settings.Failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                if (server is not null) await server.DisposeAsync();
                lifetime.StopApplication();
            }
        }
    }
}
