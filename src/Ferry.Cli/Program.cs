using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Ferry.Cli;
using Ferry.Cli.Commands;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

// s3://bucket/prefix storage lives in Ferry.S3 so the core keeps no AWS dependency; the CLI (and the agent it hosts) wires it in.
StorageFactory.Register(StorageKind.S3, url => new S3ObjectStorage(url));

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
    ConfigCommand.Build(),
};

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

return await parse.InvokeAsync();
