using System.Globalization;
using System.Text;

namespace Ferry.Bench.Harness;

/// <summary>Markdown tables and the number formats every suite uses.</summary>
public static class Markdown
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>A table; columns whose header ends with ':' are right-aligned (the ':' is dropped).</summary>
    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(rows);
        var right = headers.Select(h => h.EndsWith(':')).ToArray();
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", headers.Select(h => h.TrimEnd(':'))).AppendLine(" |");
        sb.Append('|').AppendJoin('|', right.Select(r => r ? "---:" : "---")).AppendLine("|");
        foreach (var row in rows) sb.Append("| ").AppendJoin(" | ", row).AppendLine(" |");
        return sb.ToString();
    }

    /// <summary>A latency in µs below 1 ms, else in ms, with three significant digits or so.</summary>
    public static string Latency(double micros) => micros switch
    {
        double.NaN => "–",
        < 10 => string.Format(Invariant, "{0:0.00} µs", micros),
        < 1_000 => string.Format(Invariant, "{0:0} µs", micros),
        < 10_000 => string.Format(Invariant, "{0:0.00} ms", micros / 1_000),
        < 100_000 => string.Format(Invariant, "{0:0.0} ms", micros / 1_000),
        _ => string.Format(Invariant, "{0:0} ms", micros / 1_000),
    };

    public static string Rate(double perSecond) => perSecond >= 100
        ? perSecond.ToString("#,0", Invariant)
        : perSecond.ToString("0.0", Invariant);

    /// <summary>A ratio such as <c>3.4×</c>.</summary>
    public static string Ratio(double ratio) => double.IsFinite(ratio)
        ? string.Format(Invariant, ratio >= 10 ? "{0:0}×" : "{0:0.00}×", ratio)
        : "–";

    public static string Count(long n) => n.ToString("#,0", Invariant);
}
