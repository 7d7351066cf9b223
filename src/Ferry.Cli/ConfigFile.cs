using System.CommandLine;
using System.CommandLine.Parsing;
using Ferry.Agent.Configuration;

namespace Ferry.Cli;

/// <summary>
/// <c>--config FILE</c> of <c>ferry replicate</c> and <c>ferry agent</c>: the file (docs/configuration.md) read through
/// <see cref="FerryConfigurationLoader"/>, with the <c>FERRY__</c> environment variables over it and, over those, the
/// flags given on this command line, each mapped to its key (the command-line layer).
/// </summary>
internal sealed class ConfigFile
{
    private readonly List<(Option Option, string Key)> _layered = [(CommandRunner.Meta, "Meta")];

    public Option<string?> Option { get; } = new("--config")
    {
        Description = "Read databases, storages and settings from a JSON file (docs/configuration.md); FERRY__ environment variables "
            + "and the flags given override it. `ferry config check FILE` checks one.",
    };

    /// <summary>A flag that, given with --config, overrides <paramref name="key"/> of the file.</summary>
    public ConfigFile Layer(Option option, string key)
    {
        _layered.Add((option, key));
        return this;
    }

    public bool Given(ParseResult parse) => parse.GetValue(Option) is not null;

    /// <summary>The file, with the environment and the flags given over it.</summary>
    public FerryConfiguration Load(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (option, key) in _layered)
        {
            if (Explicit(parse.GetResult(option)) is { } result) overrides[key] = string.Join(' ', result.Tokens.Select(t => t.Value));
        }

        return FerryConfigurationLoader.LoadFile(parse.GetValue(Option)!, overrides);
    }

    /// <summary>The option's result when it was written on the command line, not filled in by its default.</summary>
    public static OptionResult? Explicit(OptionResult? result) => result is { Implicit: false } ? result : null;
}
