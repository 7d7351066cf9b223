using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Wiring;

/// <summary>Log lines for long-running commands: one line each, to stderr, so stdout stays the command's output.</summary>
internal static class Logging
{
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => Configure(builder, verbose));

    /// <summary>The same settings on any logging builder (the agent's generic host has its own).</summary>
    public static void Configure(ILoggingBuilder builder, bool verbose)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            options.UseUtcTimestamp = true;
        });
        builder.AddFilter("Microsoft", LogLevel.Warning);
        builder.AddFilter("System", LogLevel.Warning);
    }
}
