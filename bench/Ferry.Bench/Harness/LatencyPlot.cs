using ScottPlot;

namespace Ferry.Bench.Harness;

/// <summary>Commit latency over time, one series per configuration, drawn with ScottPlot into an SVG file.</summary>
public static class LatencyPlot
{
    /// <summary>One configuration's commits: when each began (s since the first) and how long it took (ms).</summary>
    public sealed record Series(string Label, IReadOnlyList<double> Seconds, IReadOnlyList<double> LatencyMs);

    public static void SaveSvg(string path, string title, IReadOnlyList<Series> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        var plot = new Plot();
        Color[] colors = [Colors.Gray, Colors.OrangeRed, Colors.SteelBlue];
        for (var i = 0; i < series.Count; i++)
        {
            var s = plot.Add.ScatterPoints(series[i].Seconds.ToArray(), series[i].LatencyMs.ToArray());
            s.LegendText = series[i].Label;
            s.MarkerSize = 2;
            s.Color = colors[i % colors.Length];
        }

        plot.Title(title);
        plot.XLabel("seconds since the first commit");
        plot.YLabel("commit time (ms, BEGIN to COMMIT)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.SetLimitsY(0, Math.Max(1, series.SelectMany(s => s.LatencyMs).DefaultIfEmpty(1).Max() * 1.05));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SaveSvg(path, 1000, 450);
    }
}
