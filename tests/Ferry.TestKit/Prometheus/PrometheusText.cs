using System.Globalization;
using System.Text;

namespace Ferry.TestKit.Prometheus;

/// <summary>One sample of a Prometheus text exposition: <c>name{labels} value</c>.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string this[string label] => Labels[label];
}

/// <summary>
/// A strict parser of the Prometheus text format 0.0.4, for tests that scrape /metrics: every line is a comment
/// or a sample, anything else fails the test with the line.
/// </summary>
public static class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            samples.Add(ParseSample(line));
        }

        return samples;
    }

    /// <summary>The families declared by <c># TYPE name kind</c> lines.</summary>
    public static IReadOnlyDictionary<string, string> Types(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Split('\n')
            .Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(p => p[2], p => p[3], StringComparer.Ordinal);
    }

    private static PrometheusSample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':')) i++;
        if (i == 0) throw Bad(line, "no metric name");
        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var start = i;
                while (line[i] != '=') i++;
                var label = line[start..i];
                if (line[++i] != '"') throw Bad(line, "label value not quoted");
                i++;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] switch { 'n' => '\n', var c => c });
                    }
                    else
                    {
                        value.Append(line[i]);
                    }

                    i++;
                }

                i++;
                labels.Add(label, value.ToString());
                if (line[i] == ',') i++;
            }

            i++;
        }

        var parts = line[i..].Trim().Split(' ');
        var number = parts[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new PrometheusSample(name, labels, number);
    }

    private static FormatException Bad(string line, string problem) => new($"not a Prometheus sample ({problem}): {line}");
}
