using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Errors;

namespace Ferry.Diagnostics;

internal static partial class Failpoints
{
    internal enum ActionKind
    {
        Off,
        Error,
        Delay,
        Hang,
    }

    /// <summary>
    /// Parses a specification: entries <c>name=action[*N][->action[*N]…]</c> separated by ';' or new lines; blank
    /// entries and lines starting with '#' are skipped. <paramref name="source"/> names where it came from in errors.
    /// </summary>
    internal static IReadOnlyList<Entry> Parse(string spec, string source)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var entries = new List<Entry>();
        var number = 0;
        foreach (var line in spec.Split('\n'))
        {
            if (line.TrimStart().StartsWith('#')) continue;
            foreach (var raw in line.Split(';'))
            {
                var text = raw.Trim();
                if (text.Length == 0) continue;
                number++;
                entries.Add(ParseEntry(text, source, number));
            }
        }

        return entries;
    }

    internal static Entry ParseEntry(string text, string source, int number)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0) throw Invalid(source, number, text, "expected name=action");
        var name = text[..equals].Trim();
        if (!NamePattern().IsMatch(name))
        {
            throw Invalid(source, number, text, $"'{name}' is not a failpoint name; use letters, digits, '.', '_' and '-', e.g. storage.put");
        }

        var actions = text[(equals + 1)..].Split("->").Select(s => s.Trim()).ToArray();
        var steps = actions.Select(a => ParseStep(a, source, number, text)).ToArray();
        return new Entry(name, steps, string.Join("->", actions));
    }

    private static Step ParseStep(string text, string source, int number, string entry)
    {
        var match = StepPattern().Match(text);
        if (!match.Success)
        {
            throw Invalid(source, number, entry, $"'{text}' is not an action; use error(CODE), delay(DURATION), hang or off, optionally followed by *N");
        }

        long count = -1;
        if (match.Groups["count"].Success)
        {
            if (!long.TryParse(match.Groups["count"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1)
            {
                throw Invalid(source, number, entry, $"'*{match.Groups["count"].Value}' is not a count; use a positive whole number, e.g. *3");
            }
        }

        switch (match.Groups["action"].Value)
        {
            case "off":
                return new Step(ActionKind.Off, null, TimeSpan.Zero, count);
            case "hang":
                return new Step(ActionKind.Hang, null, TimeSpan.Zero, count);
        }

        if (match.Groups["code"].Success)
        {
            var codeText = match.Groups["code"].Value.Trim();
            var code = ErrorCodes.Find(codeText)
                ?? throw Invalid(source, number, entry, $"'{codeText}' is not a registered error code; `ferry errors` lists them");
            return new Step(ActionKind.Error, code, TimeSpan.Zero, count);
        }

        var durationText = match.Groups["duration"].Value.Trim();
        var duration = DurationPattern().Match(durationText);
        if (!duration.Success)
        {
            throw Invalid(source, number, entry, $"'{durationText}' is not a duration; use e.g. 500ms, 2s, 1m or 1h");
        }

        var amount = double.Parse(duration.Groups[1].Value, CultureInfo.InvariantCulture);
        var delay = duration.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            _ => TimeSpan.FromHours(amount),
        };
        return new Step(ActionKind.Delay, null, delay, count);
    }

    private static FerryException Invalid(string source, int number, string entry, string problem) =>
        new(ErrorCodes.ConfigInvalidFailpoints, $"{source}: entry {number} '{entry}': {problem}");

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^(?<action>off|hang|delay\((?<duration>[^)]*)\)|error\((?<code>[^)]*)\))(?:\s*\*\s*(?<count>\S+))?$")]
    private static partial Regex StepPattern();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(ms|s|m|h)$")]
    private static partial Regex DurationPattern();

    /// <summary>One parsed entry: a name, its chain of actions, and that chain as written (trimmed).</summary>
    internal sealed record Entry(string Name, Step[] Steps, string Actions);

    /// <summary>One action with its remaining count (-1: unlimited).</summary>
    internal sealed class Step(ActionKind kind, ErrorCode? code, TimeSpan delay, long count)
    {
        private long _remaining = count;

        public ActionKind Kind { get; } = kind;

        public ErrorCode? Code { get; } = code;

        public TimeSpan Delay { get; } = delay;

        /// <summary>Remaining uses, or -1 for unlimited.</summary>
        public long Remaining => Volatile.Read(ref _remaining);

        /// <summary>Claims one use; false once the count is used up.</summary>
        public bool TryTake()
        {
            if (Volatile.Read(ref _remaining) < 0) return true;
            while (true)
            {
                var left = Volatile.Read(ref _remaining);
                if (left <= 0) return false;
                if (Interlocked.CompareExchange(ref _remaining, left - 1, left) == left) return true;
            }
        }

        public FerryException NewError(string name) =>
            new(Code!, $"failpoint {name} injected {Code!.Code}", new ErrorContext(Operation: $"failpoint:{name}"));
    }
}
