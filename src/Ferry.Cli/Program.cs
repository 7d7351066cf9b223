using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Ferry.Cli;
using Ferry.Cli.Commands;
using Ferry.Azure;
using Ferry.Cli.Wiring;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

// s3://bucket/prefix storage lives in Ferry.S3 so the core keeps no AWS dependency; the CLI (and the agent it hosts) wires it in.
StorageFactory.Register(StorageKind.S3, url => new S3ObjectStorage(url));
// az://container/prefix likewise lives in Ferry.Azure, with the Azure SDK.
StorageFactory.Register(StorageKind.Azure, url => new AzureBlobStorage(url));

var root = new RootCommand("Ferry streams every committed transaction of SQLite databases to external storage and restores any database to any point in time.")
{
    CommandRunner.Meta,
    CommandRunner.Verbose,
    ReplicateCommand.Build(),
    AgentCommand.Build(),
    DemoCommand.Build(),
    TaskCommands.Build(),
    RestoreCommand.Build(),
    StorageCommands.Build(),
    ErrorsCommand.Build(),
    WaitCommand.Build(),
    ConfigCommand.Build(),
};
foreach (var option in EtcdConnectionFlags.All) root.Options.Add(option);

// Fault injection for tests (FERRY_FAILPOINTS, FERRY_FAILPOINTS_FILE): a malformed spec stops start-up, never runs half-armed.
try
{
    Failpoints.InitializeFromEnvironment();
}
catch (FerryException e)
{
    Console.Error.WriteLine($"ferry: {e.ToOneLine()}");
    return ExitCodes.For(e);
}

var parse = root.Parse(args);
var usageErrors = parse.Action is HelpAction ? [] : UsageErrors.Find(parse, args);
if (usageErrors.Count > 0)
{
    // Usage errors: one line each, a pointer to --help, exit 64; never the whole help text.
    foreach (var error in usageErrors)
    {
        Console.Error.WriteLine($"ferry: {error}");
    }

    var names = new List<string>();
    for (SymbolResult? s = parse.CommandResult; s is not null; s = s.Parent)
    {
        if (s is CommandResult c) names.Add(c.Command.Name);
    }

    names[^1] = "ferry";
    names.Reverse();
    Console.Error.WriteLine($"See '{string.Join(' ', names)} --help'.");
    return ExitCodes.Usage;
}

// System.CommandLine's own signal handler cancels the command and, by default, forces exit 143 two seconds later: too
// soon for a stopping agent, which ships what it captured (the host allows a stream 30 s). Commands still see the
// signal as a cancellation; the forced exit comes only after that allowance. `replicate --exec` forwards SIGINT and
// SIGTERM to its application and outlives them, so there the handler is off altogether.
var invocation = new InvocationConfiguration
{
    ProcessTerminationTimeout = ReplicateCommand.RunsApplication(parse) ? null : TimeSpan.FromSeconds(60),
};
return await parse.InvokeAsync(invocation);
