namespace Ferry.Bench.Harness;

/// <summary>Summary of one measurement: per-operation latencies and the wall time of the whole run.</summary>
public sealed class Measurement
{
    private readonly double[] _sortedMicros;

    public Measurement(string label, int concurrency, IReadOnlyList<long> latencyTicks, TimeSpan wall)
    {
        ArgumentNullException.ThrowIfNull(latencyTicks);
        Label = label;
        Concurrency = concurrency;
        Wall = wall;
        _sortedMicros = latencyTicks.Select(t => t * 1_000_000.0 / System.Diagnostics.Stopwatch.Frequency).Order().ToArray();
    }

    public string Label { get; }

    public int Concurrency { get; }

    public int Ops => _sortedMicros.Length;

    public TimeSpan Wall { get; }

    public double MedianMicros => Percentile(50);

    public double P99Micros => Percentile(99);

    public double MeanMicros => _sortedMicros.Length == 0 ? 0 : _sortedMicros.Average();

    public double MaxMicros => _sortedMicros.Length == 0 ? 0 : _sortedMicros[^1];

    /// <summary>Completed operations per second of wall time, with <see cref="Concurrency"/> in flight.</summary>
    public double OpsPerSecond => Ops / Wall.TotalSeconds;

    /// <summary>Nearest-rank percentile: the smallest sample with at least <paramref name="p"/>% of samples at or below it.</summary>
    public double Percentile(double p)
    {
        if (_sortedMicros.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * _sortedMicros.Length);
        return _sortedMicros[Math.Clamp(rank - 1, 0, _sortedMicros.Length - 1)];
    }
}

/// <summary>Nearest-rank percentiles of plain samples (same rule as <see cref="Measurement.Percentile"/>).</summary>
public static class Percentiles
{
    public static double NearestRank(IReadOnlyList<double> samples, double p)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) return double.NaN;
        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
