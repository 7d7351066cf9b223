using ScottPlot;

namespace Ferry.Bench.Harness;

/// <summary>Commit latency over time, one series per configuration, drawn with ScottPlot into an SVG file.</summary>
public static class LatencyPlot
{
    /// <summary>One configuration's commits: when each began (s since the first) and how long it took (ms).</summary>
    public sealed record Series(string Label, IReadOnlyList<double> Seconds, IReadOnlyList<double> LatencyMs);

    /// <summary>Each point is the slowest commit of its bin: every stall shows, and the file stays small.</summary>
    private const double BinSeconds = 0.02;

    public static void SaveSvg(string path, string title, IReadOnlyList<Series> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        Color[] colors = [Colors.Gray, Colors.OrangeRed, Colors.SteelBlue];
        for (var i = 0; i < series.Count; i++)
        {
            var (xs, ys) = SlowestPerBin(series[i], BinSeconds);
            var s = plot.Add.ScatterPoints(xs, ys);
            s.LegendText = series[i].Label;
            s.MarkerSize = 2;
            s.Color = colors[i % colors.Length];
        }

        plot.Title(title);
        plot.XLabel("seconds since the first commit");
        plot.YLabel($"slowest commit per {BinSeconds * 1000:0} ms (ms)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.SetLimitsY(0, Math.Max(1, series.SelectMany(s => s.LatencyMs).DefaultIfEmpty(1).Max() * 1.05));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SaveSvg(path, 1000, 450);
    }

    private static (double[] Seconds, double[] LatencyMs) SlowestPerBin(Series series, double binSeconds)
    {
        var bins = new SortedDictionary<long, double>();
        for (var i = 0; i < series.Seconds.Count; i++)
        {
            var bin = (long)(series.Seconds[i] / binSeconds);
            bins[bin] = bins.TryGetValue(bin, out var slowest) ? Math.Max(slowest, series.LatencyMs[i]) : series.LatencyMs[i];
        }

        return (bins.Keys.Select(b => (b + 0.5) * binSeconds).ToArray(), bins.Values.ToArray());
    }
}
