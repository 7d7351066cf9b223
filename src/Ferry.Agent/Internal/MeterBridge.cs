using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Ferry.Agent.Internal;

/// <summary>
/// Copies the instruments of one <see cref="Meter"/> into a prometheus-net registry under their own names.
/// prometheus-net's MeterAdapter is not used: it prefixes the meter name (<c>ferry_ferry_errors_total</c>),
/// exports counters as gauges and listens to every meter of the process, so two agents (or tests) would mix.
/// Observable gauges are read at each scrape, and a series the gauge no longer reports (a removed task) is dropped.
/// </summary>
internal sealed class MeterBridge : IDisposable
{
    private readonly Meter _meter;
    private readonly IMetricFactory _factory;
    private readonly ILogger _logger;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Exported> _exported = new();
    private readonly Lock _collectLock = new();
    private volatile bool _disposed;

    // Label sets reported by observable instruments during the current scrape; only touched under _collectLock.
    private HashSet<(Exported, string)>? _seenThisScrape;

    public MeterBridge(Meter meter, CollectorRegistry registry, ILogger logger)
    {
        _meter = meter;
        _factory = Metrics.WithCustomRegistry(registry);
        _logger = logger;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // This meter instance only: another FerryMetrics in the process (a test, a second agent) stays out.
            if (!ReferenceEquals(instrument.Meter, _meter)) return;
            if (KindOf(instrument) is null)
            {
                Log.UnsupportedInstrument(_logger, instrument.Name, instrument.GetType().Name);
                return;
            }

            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<byte>(OnMeasurement);
        _listener.SetMeasurementEventCallback<short>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<float>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.SetMeasurementEventCallback<decimal>(OnMeasurement);
        _listener.Start();
        registry.AddBeforeCollectCallback(CollectObservables);
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }

    private void CollectObservables()
    {
        // The registry keeps this callback after disposal (it can't be removed): do nothing then.
        if (_disposed) return;
        lock (_collectLock)
        {
            _seenThisScrape = [];
            try
            {
                _listener.RecordObservableInstruments();
                foreach (var exported in _exported.Values)
                {
                    if (exported.IsObservable) exported.DropSeriesNotIn(_seenThisScrape);
                }
            }
            finally
            {
                _seenThisScrape = null;
            }
        }
    }

    private void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct, INumberBase<T>
    {
        var value = double.CreateSaturating(measurement);
        var exported = _exported.GetOrAdd(instrument, static (i, tagsCopy) => Exported.Create(i, tagsCopy.Factory, tagsCopy.Names), (Factory: _factory, Names: SortedKeys(tags)));
        var labelValues = exported.LabelValues(tags);
        if (labelValues is null)
        {
            exported.ReportMismatchOnce(_logger, tags);
            return;
        }

        exported.Apply(value, labelValues);
        if (exported.IsObservable) _seenThisScrape?.Add((exported, string.Join('\u001f', labelValues)));
    }

    private static string[] SortedKeys(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var keys = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++) keys[i] = tags[i].Key;
        Array.Sort(keys, StringComparer.Ordinal);
        return keys;
    }

    /// <summary>How an instrument maps to Prometheus, or null for a kind the export does not know.</summary>
    private static (Kind Kind, bool Observable)? KindOf(Instrument instrument)
    {
        var type = instrument.GetType();
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        if (definition == typeof(Counter<>)) return (Kind.Counter, false);
        if (definition == typeof(ObservableCounter<>)) return (Kind.CumulativeCounter, true);
        if (definition == typeof(UpDownCounter<>)) return (Kind.GaugeDelta, false);
        if (definition == typeof(Gauge<>)) return (Kind.Gauge, false);
        if (definition == typeof(ObservableGauge<>) || definition == typeof(ObservableUpDownCounter<>)) return (Kind.Gauge, true);
        if (definition == typeof(Histogram<>)) return (Kind.Histogram, false);
        return null;
    }

    private enum Kind
    {
        /// <summary>Counter: each measurement is an increment.</summary>
        Counter,

        /// <summary>ObservableCounter: each measurement is the running total.</summary>
        CumulativeCounter,

        /// <summary>UpDownCounter: each measurement is a change of a gauge.</summary>
        GaugeDelta,

        /// <summary>Gauge, ObservableGauge, ObservableUpDownCounter: each measurement is the value.</summary>
        Gauge,

        Histogram,
    }

    /// <summary>One instrument as a Prometheus metric family with fixed label names (the instrument's tag keys, sorted).</summary>
    private sealed class Exported
    {
        private readonly Kind _kind;
        private readonly string _name;
        private readonly string[] _labelNames;
        private readonly Collector _collector;
        private readonly ConcurrentDictionary<string, string[]> _observedSeries = new(StringComparer.Ordinal);
        private int _mismatchReported;

        private Exported(Kind kind, string name, string[] labelNames, Collector collector, bool isObservable)
        {
            _kind = kind;
            _name = name;
            _labelNames = labelNames;
            _collector = collector;
            IsObservable = isObservable;
        }

        public bool IsObservable { get; }

        /// <summary>Creates the family; only for instruments <see cref="KindOf"/> knows.</summary>
        public static Exported Create(Instrument instrument, IMetricFactory factory, string[] labelNames)
        {
            var (kind, observable) = KindOf(instrument) ?? throw new InvalidOperationException($"{instrument.Name} was enabled without a known kind");
            var help = string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description;
            var name = instrument.Name;
            Collector collector = kind switch
            {
                Kind.Counter or Kind.CumulativeCounter => factory.CreateCounter(name, help, labelNames),
                Kind.Histogram => factory.CreateHistogram(name, help, labelNames, new HistogramConfiguration
                {
                    Buckets = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray() ?? Histogram.ExponentialBuckets(0.001, 4, 10),
                }),
                _ => factory.CreateGauge(name, help, labelNames),
            };
            return new Exported(kind, name, labelNames, collector, observable);
        }

        /// <summary>The tag values in label order, or null when the tags are not this family's label names.</summary>
        public string[]? LabelValues(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length != _labelNames.Length) return null;
            var values = new string[_labelNames.Length];
            foreach (var tag in tags)
            {
                var index = Array.BinarySearch(_labelNames, tag.Key, StringComparer.Ordinal);
                if (index < 0) return null;
                values[index] = tag.Value?.ToString() ?? "";
            }

            return values;
        }

        public void Apply(double value, string[] labelValues)
        {
            // A family without labels records on itself; WithLabels needs at least one value.
            var unlabelled = labelValues.Length == 0;
            switch (_kind)
            {
                case Kind.Counter:
                    (unlabelled ? (ICounter)_collector : ((Counter)_collector).WithLabels(labelValues)).Inc(value);
                    break;
                case Kind.CumulativeCounter:
                    (unlabelled ? (ICounter)_collector : ((Counter)_collector).WithLabels(labelValues)).IncTo(value);
                    break;
                case Kind.GaugeDelta:
                    (unlabelled ? (IGauge)_collector : ((Gauge)_collector).WithLabels(labelValues)).Inc(value);
                    break;
                case Kind.Gauge:
                    (unlabelled ? (IGauge)_collector : ((Gauge)_collector).WithLabels(labelValues)).Set(value);
                    break;
                case Kind.Histogram:
                    (unlabelled ? (IHistogram)_collector : ((Histogram)_collector).WithLabels(labelValues)).Observe(value);
                    break;
            }

            if (IsObservable && !unlabelled) _observedSeries.TryAdd(string.Join('\u001f', labelValues), labelValues);
        }

        /// <summary>Removes series that the observable instrument did not report in this scrape.</summary>
        public void DropSeriesNotIn(HashSet<(Exported, string)> seen)
        {
            foreach (var (key, labelValues) in _observedSeries)
            {
                if (seen.Contains((this, key))) continue;
                _observedSeries.TryRemove(key, out _);
                switch (_collector)
                {
                    case Gauge gauge:
                        gauge.RemoveLabelled(labelValues);
                        break;
                    case Counter counter:
                        counter.RemoveLabelled(labelValues);
                        break;
                }
            }
        }

        public void ReportMismatchOnce(ILogger logger, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (Interlocked.Exchange(ref _mismatchReported, 1) != 0) return;
            Log.LabelMismatch(logger, _name, string.Join(",", SortedKeys(tags)), string.Join(",", _labelNames));
        }
    }
}
