using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>Reads replica objects from storage, verifying them; every damage is <c>FERRY:Storage:CorruptObject</c> naming the object.</summary>
internal static class ReplicaReader
{
    public static async Task<GenerationManifest> ReadManifestAsync(IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        var bytes = await storage.ReadAllBytesAsync(name, cancellationToken);
        var manifest = GenerationManifest.Parse(bytes, name);
        if (ReplicaLayout.TryParse(name, out var parsed)) manifest.CheckMatches(parsed, name);
        return manifest;
    }

    /// <summary>Reads a whole segment and verifies it, including that its header matches its name.</summary>
    public static async Task<Segment> ReadSegmentAsync(IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        var bytes = await storage.ReadAllBytesAsync(name, cancellationToken);
        return SegmentFormat.Decode(bytes, name, ReplicaLayout.TryParse(name, out var parsed) ? parsed : null);
    }

    public static async Task<SegmentHeader> ReadSegmentHeaderAsync(IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadPrefixAsync(storage, name, SegmentFormat.HeaderLength, cancellationToken);
        return SegmentFormat.ReadHeader(bytes, name);
    }

    public static async Task<SnapshotHeader> ReadSnapshotHeaderAsync(IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        var bytes = await ReadPrefixAsync(storage, name, SnapshotFormat.HeaderLength, cancellationToken);
        return SnapshotFormat.ReadHeader(bytes, name);
    }

    /// <summary>Streams a snapshot, handing each page to <paramref name="onPage"/>; returns only once it is verified.</summary>
    public static async Task<SnapshotRead> ReadSnapshotAsync(
        IObjectStorage storage,
        string name,
        Action<uint, ReadOnlyMemory<byte>>? onPage,
        CancellationToken cancellationToken = default)
    {
        var stream = await storage.OpenReadAsync(name, cancellationToken);
        await using (stream)
        {
            return await SnapshotFormat.ReadAsync(stream, name, ReplicaLayout.TryParse(name, out var parsed) ? parsed : null, onPage, cancellationToken);
        }
    }

    private static async Task<byte[]> ReadPrefixAsync(IObjectStorage storage, string name, int length, CancellationToken cancellationToken)
    {
        var stream = await storage.OpenReadAsync(name, cancellationToken);
        await using (stream)
        {
            var buffer = new byte[length];
            int read;
            try
            {
                read = await stream.ReadAtLeastAsync(buffer, length, throwOnEndOfStream: false, cancellationToken);
            }
            catch (Exception e) when (e is not FerryException)
            {
                throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"read {name}"), cancellationToken);
            }

            return buffer[..read];
        }
    }
}
