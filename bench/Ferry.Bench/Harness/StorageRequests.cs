using System.Diagnostics.Metrics;
using Ferry.Diagnostics;
using Ferry.Storage;

namespace Ferry.Bench.Harness;

/// <summary>
/// Counts the requests made through storages it wraps, in-process, with Ferry's own <see cref="CountedStorage"/>
/// (the counter the agent exports as <c>ferry_storage_requests_total</c>) and a <see cref="MeterListener"/> on this
/// instance's meter only: per op (put, get, list, delete) and outcome, per label.
/// </summary>
internal sealed class StorageRequests : IDisposable
{
    private readonly FerryMetrics _metrics = new();
    private readonly MeterListener _listener = new();
    private readonly Dictionary<(string Label, string Op, string Outcome), long> _counts = [];

    public StorageRequests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _metrics.Meter) && ReferenceEquals(instrument, _metrics.StorageRequestsTotal)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string op = "", outcome = "", label = "";
            foreach (var tag in tags)
            {
                var text = tag.Value?.ToString() ?? "";
                switch (tag.Key)
                {
                    case "op": op = text; break;
                    case "outcome": outcome = text; break;
                    case "task": label = text; break;
                }
            }

            lock (_counts) _counts[(label, op, outcome)] = _counts.GetValueOrDefault((label, op, outcome)) + value;
        });
        _listener.Start();
    }

    public static IReadOnlyList<string> Ops { get; } = ["put", "get", "list", "delete"];

    /// <summary><paramref name="storage"/> with every call counted under <paramref name="label"/>.</summary>
    public IObjectStorage Wrap(IObjectStorage storage, string label) => new CountedStorage(storage, _metrics, label);

    /// <summary>What <paramref name="label"/> has counted so far, per op (every op present), whatever the outcome.</summary>
    public Dictionary<string, long> ByOp(string label)
    {
        lock (_counts)
        {
            return Ops.ToDictionary(op => op, op => _counts.Where(c => c.Key.Label == label && c.Key.Op == op).Sum(c => c.Value), StringComparer.Ordinal);
        }
    }

    /// <summary>Calls of <paramref name="label"/> whose outcome was not ok (errors or cancellations).</summary>
    public long Failed(string label)
    {
        lock (_counts) return _counts.Where(c => c.Key.Label == label && c.Key.Outcome != "ok").Sum(c => c.Value);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
    }
}
