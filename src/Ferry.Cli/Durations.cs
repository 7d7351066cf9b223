using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Errors;

namespace Ferry.Cli;

/// <summary>Durations on the command line: <c>500ms</c>, <c>1s</c>, <c>1.5s</c>, <c>5m</c>, <c>1h</c>, <c>7d</c>.</summary>
internal static partial class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        ArgumentNullException.ThrowIfNull(text);
        var match = Pattern().Match(text.Trim());
        if (!match.Success)
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"{option} '{text}' is not a duration; use e.g. 500ms, 1s, 5m, 1h or 7d");
        }

        var number = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(number),
            "s" => TimeSpan.FromSeconds(number),
            "m" => TimeSpan.FromMinutes(number),
            "h" => TimeSpan.FromHours(number),
            _ => TimeSpan.FromDays(number),
        };
    }

    /// <summary>"3s", "4m", "2h", "5d": how long ago or how far apart, for people.</summary>
    public static string Humanize(TimeSpan span)
    {
        var s = span.Duration();
        var text = s.TotalSeconds < 1 ? $"{s.TotalMilliseconds:0}ms"
            : s.TotalMinutes < 1 ? $"{s.TotalSeconds:0}s"
            : s.TotalHours < 1 ? $"{s.TotalMinutes:0}m"
            : s.TotalDays < 2 ? $"{s.TotalHours:0}h"
            : $"{s.TotalDays:0}d";
        return span < TimeSpan.Zero ? "-" + text : text;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")]
    private static partial Regex Pattern();
}
