using System.CommandLine;
using Ferry.Agent;
using Ferry.Agent.Configuration;
using Ferry.Capture;
using Ferry.Cli.Wiring;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.Tasks;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry replicate DB... --to URL</c> or <c>ferry replicate --config FILE</c>: the single-machine main job, an agent
/// and its tasks in one process (one task for the command line's databases, one per database of the file).
/// </summary>
internal static class ReplicateCommand
{
    private static readonly Option<string?> Exec = new("--exec")
    {
        Description = "Run this application as a child process and replicate while it runs (a container's entrypoint): SIGINT and SIGTERM go to it; "
            + "when it exits, what it committed is shipped and ferry exits with its exit code. Split into words like a shell's simple quoting "
            + "('…', \"…\", \\), nothing more: for pipes or variables use \"sh -c 'exec APP …'\". The databases may not exist yet: "
            + "ferry waits until the application has created them in WAL mode. If replication fails for good meanwhile, the application "
            + "keeps running, ferry says so on stderr and, when the application exits 0, exits with its own error code. "
            + "With --config, the file must list one database entry.",
        HelpName = "\"CMD ARGS\"",
    };

    /// <summary>Whether the command forwards signals to an application (System.CommandLine must then leave them alone).</summary>
    public static bool RunsApplication(ParseResult parse) =>
        parse.CommandResult.Command.Name == "replicate" && parse.GetResult(Exec) is not null;

    public static Command Build()
    {
        var databases = new Argument<string[]>("DB")
        {
            Description = "The SQLite databases to replicate (paths or globs; each must be in WAL mode). Not with --config.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var to = new Option<string>("--to") { Description = $"Where backups go: {StorageCommands.UrlForms}. Required without --config." };
        var settings = new TaskOptionFlags();
        var task = new Option<string>("--task") { Description = "The task name recorded in the metadata store.", DefaultValueFactory = _ => "replicate" };
        var storeId = new Option<long>("--store-id") { Description = "This machine's store id (part of each database's identity in storage).", DefaultValueFactory = _ => 1 };
        var config = new ConfigFile().Layer(storeId, "StoreId");
        var command = new Command(
            "replicate",
            "Replicate databases continuously until SIGINT/SIGTERM, then ship what is captured and exit 0. "
            + "Uses the embedded metadata store unless --meta says otherwise; `ferry task status` shows its progress and errors.")
        {
            databases, to, task, storeId, config.Option, Exec,
        };
        foreach (var option in settings.All) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetResult(config.Option) is not null)
            {
                // The file says which databases go where, with which settings: one place, not two to reconcile.
                if (result.GetValue(databases) is { Length: > 0 }) result.AddError("DB arguments can't be given with --config: list the databases in the file (Ferry:Databases)");
                foreach (var option in settings.All.Append(to).Append(task))
                {
                    if (ConfigFile.Explicit(result.GetResult(option)) is not null)
                    {
                        result.AddError($"{option.Name} can't be given with --config: set it in the file (Ferry:Defaults, or per database)");
                    }
                }
            }
            else
            {
                if (result.GetValue(databases) is not { Length: > 0 }) result.AddError("ferry replicate needs DB... and --to STORAGE-URL, or --config FILE");
                else if (result.GetResult(to) is null) result.AddError("Option '--to' is required.");
            }
        });
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            var plan = config.Given(parse) ? FromFile(config.Load(parse)) : FromFlags(parse, databases, to, task, storeId, settings);
            var patterns = plan.Tasks.SelectMany(t => t.Databases).ToList();
            var found = new List<(string Database, TaskDefinition Task)>();
            foreach (var definition in plan.Tasks)
            {
                // A glob that matches nothing yet is picked up when its databases appear, as with DB arguments.
                foreach (var database in DatabaseGlobs.Expand(definition.Databases))
                {
                    // Two entries of the file whose globs meet would replicate one database twice.
                    if (found.FirstOrDefault(f => f.Database == database) is { Task: { } other })
                    {
                        throw new FerryException(ErrorCodes.ConfigInvalid, $"{database} is matched by the databases of tasks '{other.Name}' and '{definition.Name}'; list each database once");
                    }

                    found.Add((database, definition));
                }
            }

            // With --exec the application may create its databases: ReplicateExec waits for them.
            var exec = parse.GetValue(Exec) is { } commandLine ? new ReplicateExec(commandLine, output) : null;
            if (exec is not null && plan.Tasks.Count != 1)
            {
                throw new FerryException(ErrorCodes.ConfigInvalid, $"--exec waits for one task's databases; the file lists {plan.Tasks.Count} database entries");
            }

            if (found.Count == 0 && exec is null) throw new FerryException(ErrorCodes.DatabaseNotFound, $"no database matches {string.Join(", ", patterns)}");
            foreach (var (database, _) in found.Where(d => exec is null || File.Exists(d.Database))) DatabasePreflight.EnsureReplicable(database);

            using var shutdown = new Shutdown(token, exec is null ? null : exec.Forward);
            await using var meta = await MetaStoreFactory.OpenAsync(MetaUrl.Resolve(plan.Meta), EtcdConnectionFlags.Read(parse, plan.Configuration?.Etcd), shutdown.Token);
            foreach (var storage in plan.Tasks.Select(t => StorageUrl.Parse(t.Storage)).Where(s => s.Kind == StorageKind.File))
            {
                // The main job makes its backup directory, like `cp -r` would; restore and verify never create one.
                Directory.CreateDirectory(storage.Location);
            }

            // The agent itself, for these tasks only: the fence, registration, re-bootstrap and the fence watch included.
            var options = new FerryAgentOptions { Store = plan.Store, DefinedTasks = plan.Tasks, OnlyDefinedTasks = true };
            var verbose = parse.GetValue(CommandRunner.Verbose);
            using var host = AgentHost.Build(meta, options, logging => Logging.Configure(logging, verbose), plan.Configuration?.Http, stopOnSignals: exec is null);
            foreach (var (database, definition) in found)
            {
                var shown = plan.Configuration?.Databases.First(d => d.Task == definition.Name).StorageShown ?? definition.Storage;
                await output.WriteLineAsync(
                    $"replicating {database} -> {shown} every {Durations.Humanize(definition.Options.FlushInterval)} (task '{definition.Name}', store {plan.Store.StoreId})");
            }

            if (exec is not null)
            {
                var only = plan.Tasks[0];
                return await exec.RunAsync(host, meta, only.Name, plan.Store.StoreId, [.. found.Select(f => f.Database)], shutdown);
            }

            var agent = host.Agent();
            var run = host.RunAsync(shutdown.Token);
            await ProgressLine.FollowAsync(() => agent.Report().Tasks, output, run);
            var exitCode = await run;
            await output.WriteLineAsync($"stopped: {agent.BytesShipped} bytes shipped this run");
            return exitCode;
        }, ct));
        return command;
    }

    /// <summary>What to run: the tasks, the store, the metadata store, and the file they came from (if any).</summary>
    private sealed record Plan(IReadOnlyList<TaskDefinition> Tasks, StoreSessionOptions Store, string? Meta, FerryConfiguration? Configuration);

    private static Plan FromFlags(ParseResult parse, Argument<string[]> databases, Option<string> to, Option<string> task, Option<long> storeId, TaskOptionFlags settings)
    {
        var name = parse.GetValue(task)!;
        TaskControl.ValidateName(name);
        var taskOptions = settings.Read(parse);
        var id = parse.GetValue(storeId);
        if (id <= 0) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--store-id must be a positive integer");
        var storageUrl = StorageUrl.Parse(parse.GetValue(to)!);
        var patterns = parse.GetValue(databases)!.Select(Path.GetFullPath).ToList();
        var definition = taskOptions.Define(name, patterns, storageUrl.ToString(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return new Plan([definition], new StoreSessionOptions { StoreId = id, Version = ThisAssembly.Version }, parse.GetValue(CommandRunner.Meta), null);
    }

    private static Plan FromFile(FerryConfiguration configuration)
    {
        if (configuration.Databases.Count == 0)
        {
            throw new FerryException(ErrorCodes.ConfigInvalid, $"{FerryConfigurationLoader.SectionName}:Databases: no database is listed; ferry replicate needs at least one, "
                + "{ \"Path\": \"/data/app.db\", \"To\": \"s3://bucket/prefix\" }");
        }

        var tasks = configuration.DefineTasks(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return new Plan(tasks, configuration.StoreSession(storeId: 1, ThisAssembly.Version), configuration.Meta, configuration);
    }
}
