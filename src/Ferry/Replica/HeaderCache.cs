using System.Collections.Concurrent;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>
/// Headers of replica objects already read, by object name. Objects are immutable, so a header read once holds for
/// as long as the object exists: a process that passes over the same objects again and again (the retention pass)
/// reads each header once, and an object it wrote itself not even once.
/// </summary>
internal sealed class HeaderCache
{
    private readonly ConcurrentDictionary<string, SegmentHeader> _segments = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SnapshotHeader> _snapshots = new(StringComparer.Ordinal);

    public int Count => _segments.Count + _snapshots.Count;

    public async Task<SegmentHeader> SegmentAsync(IObjectStorage storage, string name, CancellationToken cancellationToken)
    {
        if (_segments.TryGetValue(name, out var header)) return header;
        header = await ReplicaReader.ReadSegmentHeaderAsync(storage, name, cancellationToken).ConfigureAwait(false);
        _segments[name] = header;
        return header;
    }

    public async Task<SnapshotHeader> SnapshotAsync(IObjectStorage storage, string name, CancellationToken cancellationToken)
    {
        if (_snapshots.TryGetValue(name, out var header)) return header;
        header = await ReplicaReader.ReadSnapshotHeaderAsync(storage, name, cancellationToken).ConfigureAwait(false);
        _snapshots[name] = header;
        return header;
    }

    /// <summary>A header this process knows without reading: it wrote the object.</summary>
    public void Add(string name, SegmentHeader header) => _segments[name] = header;

    public bool TryGetSegment(string name, out SegmentHeader header) => _segments.TryGetValue(name, out header!);

    /// <summary>Forgets every object not in <paramref name="listed"/> (deleted, or never there), so the cache stays as small as storage.</summary>
    public void KeepOnly(IReadOnlySet<string> listed)
    {
        foreach (var name in _segments.Keys) if (!listed.Contains(name)) _segments.TryRemove(name, out _);
        foreach (var name in _snapshots.Keys) if (!listed.Contains(name)) _snapshots.TryRemove(name, out _);
    }
}
