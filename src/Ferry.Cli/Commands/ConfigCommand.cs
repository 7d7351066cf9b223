using System.CommandLine;
using Ferry.Agent.Configuration;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry config check FILE</c>: validates a configuration file without starting anything.</summary>
internal static class ConfigCommand
{
    public static Command Build()
    {
        var file = new Argument<string>("FILE") { Description = "The configuration file (JSON, docs/configuration.md)." };
        var check = new Command(
            "check",
            "Check a configuration file as `ferry replicate --config` and `ferry agent --config` read it (FERRY__ environment variables "
            + "included) and print what would run; exit 64 with the one line naming the key when it is wrong. Starts nothing.")
        {
            file,
        };
        check.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, _) =>
        {
            var path = parse.GetValue(file)!;
            var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
            if (ConfigFile.Explicit(parse.GetResult(CommandRunner.Meta)) is { } meta) overrides["Meta"] = meta.Tokens[0].Value;
            var configuration = FerryConfigurationLoader.LoadFile(path, overrides);
            await output.WriteLineAsync($"{path}: valid");
            foreach (var line in configuration.Describe()) await output.WriteLineAsync(line);
            return ExitCodes.Ok;
        }, ct));
        return new Command("config", "Work with configuration files.") { check };
    }
}
