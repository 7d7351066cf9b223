using System.CommandLine;
using Ferry.Agent;
using Ferry.Agent.Configuration;
using Ferry.Cli.Wiring;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry agent --store-id N</c>: one store's agent on the .NET generic host.</summary>
internal static class AgentCommand
{
    public static Command Build()
    {
        var storeId = new Option<long>("--store-id") { Description = "This host's store id (a positive integer, unique in the cluster). Required without --config." };
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
        var config = new ConfigFile()
            .Layer(storeId, "StoreId")
            .Layer(generation, "Generation")
            .Layer(takeover, "Takeover")
            .Layer(takeoverTimeout, "TakeoverTimeout")
            .Layer(http, "Http");
        var command = new Command(
            "agent",
            "Run the agent of one store: it replicates, for every task in the metadata store, the local databases that match "
            + "the task, until SIGINT/SIGTERM (then it ships what is captured and exits 0). With --config, it first defines "
            + "(or updates) a task for each database of the file.")
        {
            storeId, generation, takeover, takeoverTimeout, http, config.Option,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(config.Option) is null && result.GetResult(storeId) is null) result.AddError("Option '--store-id' is required.");
        });
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            if (config.Given(parse)) return await RunConfiguredAsync(parse, config.Load(parse), token);
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

            await using var meta = await MetaStoreFactory.OpenAsync(parse, token);
            var options = new FerryAgentOptions
            {
                Store = new StoreSessionOptions
                {
                    StoreId = id,
                    Generation = deploy,
                    Version = ThisAssembly.Version,
                    Takeover = takeoverMode,
                    HandoverTimeout = handoverTimeout,
                },
            };
            using var host = AgentHost.Build(meta, options, logging => Logging.Configure(logging, verbose), httpEndpoint);
            return await host.RunAsync(token);
        }, ct));
        return command;
    }

    /// <summary>The agent of a configuration file: its store settings, and its databases' tasks defined at start.</summary>
    private static async Task<int> RunConfiguredAsync(ParseResult parse, FerryConfiguration configuration, CancellationToken token)
    {
        if (configuration.StoreId is null)
        {
            throw new FerryException(ErrorCodes.ConfigInvalid, $"{FerryConfigurationLoader.SectionName}:StoreId: not set: set it in the file, or pass --store-id");
        }

        var options = new FerryAgentOptions
        {
            Store = configuration.StoreSession(configuration.StoreId.Value, ThisAssembly.Version),
            DefinedTasks = configuration.DefineTasks(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        };
        await using var meta = await MetaStoreFactory.OpenAsync(MetaUrl.Resolve(configuration.Meta), EtcdConnectionFlags.Read(parse, configuration.Etcd), token);
        using var host = AgentHost.Build(meta, options, logging => Logging.Configure(logging, parse.GetValue(CommandRunner.Verbose)), configuration.Http);
        return await host.RunAsync(token);
    }
}
