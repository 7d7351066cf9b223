using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Errors;

namespace Ferry;

/// <summary>
/// Durations on the command line and in the configuration file: <c>500ms</c>, <c>1s</c>, <c>1.5s</c>, <c>5m</c>,
/// <c>1h</c>, <c>7d</c>.
/// </summary>
internal static partial class Durations
{
    /// <summary>What a malformed duration is told to look like.</summary>
    public const string Forms = "use e.g. 500ms, 1s, 5m, 1h or 7d";

    public static TimeSpan Parse(string text, string option)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out var span))
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"{option} '{text}' is not a duration; {Forms}");
        }

        return span;
    }

    public static bool TryParse(string text, out TimeSpan span)
    {
        ArgumentNullException.ThrowIfNull(text);
        span = default;
        var match = Pattern().Match(text.Trim());
        if (!match.Success) return false;
        var milliseconds = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * match.Groups[2].Value switch
        {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => 86_400_000,
        };
        // Larger than a TimeSpan holds (99999999999d): not a duration anyone means, and TimeSpan would throw.
        if (milliseconds >= TimeSpan.MaxValue.TotalMilliseconds) return false;
        span = TimeSpan.FromMilliseconds(milliseconds);
        return true;
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
