using System.CommandLine;
using Ferry.Agent;
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

/// <summary><c>ferry replicate DB... --to URL</c>: the single-machine main job, an agent and a task in one process.</summary>
internal static class ReplicateCommand
{
    private static readonly Option<string?> Exec = new("--exec")
    {
        Description = "Run this application as a child process and replicate while it runs (a container's entrypoint): SIGINT and SIGTERM go to it; "
            + "when it exits, what it committed is shipped and ferry exits with its exit code. Split into words like a shell's simple quoting "
            + "('…', \"…\", \\), nothing more: for pipes or variables use \"sh -c 'exec APP …'\". The databases may not exist yet: "
            + "ferry waits until the application has created them in WAL mode. If replication fails for good meanwhile, the application "
            + "keeps running, ferry says so on stderr and, when the application exits 0, exits with its own error code.",
        HelpName = "\"CMD ARGS\"",
    };

    /// <summary>Whether the command forwards signals to an application (System.CommandLine must then leave them alone).</summary>
    public static bool RunsApplication(ParseResult parse) =>
        parse.CommandResult.Command.Name == "replicate" && parse.GetResult(Exec) is not null;

    public static Command Build()
    {
        var databases = new Argument<string[]>("DB")
        {
            Description = "The SQLite databases to replicate (paths or globs; each must be in WAL mode).",
            Arity = ArgumentArity.OneOrMore,
        };
        var to = new Option<string>("--to") { Description = $"Where backups go: {StorageCommands.UrlForms}.", Required = true };
        var settings = new TaskOptionFlags();
        var task = new Option<string>("--task") { Description = "The task name recorded in the metadata store.", DefaultValueFactory = _ => "replicate" };
        var storeId = new Option<long>("--store-id") { Description = "This machine's store id (part of each database's identity in storage).", DefaultValueFactory = _ => 1 };
        var command = new Command(
            "replicate",
            "Replicate databases continuously until SIGINT/SIGTERM, then ship what is captured and exit 0. "
            + "Uses the embedded metadata store unless --meta says otherwise; `ferry task status` shows its progress and errors.")
        {
            databases, to, task, storeId, Exec,
        };
        foreach (var option in settings.All) command.Options.Add(option);
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            var name = parse.GetValue(task)!;
            TaskControl.ValidateName(name);
            var taskOptions = settings.Read(parse);
            var interval = taskOptions.FlushInterval;
            var id = parse.GetValue(storeId);
            if (id <= 0) throw new FerryException(ErrorCodes.ConfigInvalidArgument, "--store-id must be a positive integer");
            var storageUrl = StorageUrl.Parse(parse.GetValue(to)!);
            var patterns = parse.GetValue(databases)!.Select(Path.GetFullPath).ToList();

            var found = DatabaseGlobs.Expand(patterns);
            // With --exec the application may create its databases: ReplicateExec waits for them.
            var exec = parse.GetValue(Exec) is { } commandLine ? new ReplicateExec(commandLine, output) : null;
            if (found.Count == 0 && exec is null) throw new FerryException(ErrorCodes.DatabaseNotFound, $"no database matches {string.Join(", ", patterns)}");
            foreach (var database in found.Where(d => exec is null || File.Exists(d))) DatabasePreflight.EnsureReplicable(database);

            using var shutdown = new Shutdown(token, exec is null ? null : exec.Forward);
            await using var meta = await MetaStoreFactory.OpenAsync(parse, shutdown.Token);
            // The main job makes its backup directory, like `cp -r` would; restore and verify never create one.
            if (storageUrl.Kind == StorageKind.File) Directory.CreateDirectory(storageUrl.Location);
            var definition = taskOptions.Define(name, patterns, storageUrl.ToString(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            // The agent itself, for this one task: the fence, registration, re-bootstrap and the fence watch included.
            var options = new FerryAgentOptions { Store = new StoreSessionOptions { StoreId = id, Version = ThisAssembly.Version }, OwnTasks = [definition] };
            var verbose = parse.GetValue(CommandRunner.Verbose);
            using var host = AgentHost.Build(meta, options, logging => Logging.Configure(logging, verbose), stopOnSignals: exec is null);
            foreach (var database in found)
            {
                await output.WriteLineAsync($"replicating {database} -> {storageUrl} every {Durations.Humanize(interval)} (task '{name}', store {id})");
            }

            if (exec is not null) return await exec.RunAsync(host, meta, name, id, found, shutdown);
            var agent = host.Agent();
            var run = host.RunAsync(shutdown.Token);
            await ProgressLine.FollowAsync(() => agent.Report().Tasks.SingleOrDefault(), output, run);
            var exitCode = await run;
            await output.WriteLineAsync($"stopped: {agent.BytesShipped} bytes shipped this run");
            return exitCode;
        }, ct));
        return command;
    }
}
