using System.Collections.Concurrent;
using Ferry.Errors;

namespace Ferry.Storage;

/// <summary>
/// Opens the storage a <see cref="StorageUrl"/> names. The core knows file storage only; other kinds (S3) live in
/// their own assemblies and are registered by the host that wires them in (the CLI's start-up), so the core keeps
/// no dependency on their SDKs. A kind nobody registered is a clear "not supported" error.
/// </summary>
public static class StorageFactory
{
    private static readonly ConcurrentDictionary<StorageKind, Func<StorageUrl, IObjectStorage>> Openers = new();

    /// <summary>Makes <paramref name="kind"/> openable; a later registration of the same kind replaces the earlier one.</summary>
    public static void Register(StorageKind kind, Func<StorageUrl, IObjectStorage> open)
    {
        ArgumentNullException.ThrowIfNull(open);
        if (kind == StorageKind.File) throw new ArgumentException("file storage is built in", nameof(kind));
        Openers[kind] = open;
    }

    public static IObjectStorage Open(StorageUrl url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Kind == StorageKind.File) return new FileStorage(url.Location);
        if (Openers.TryGetValue(url.Kind, out var open)) return open(url);
        throw new FerryException(ErrorCodes.StorageNotSupported,
            $"{url} is {url.Kind} storage, which this build does not support; use a directory or file:///dir",
            new ErrorContext(Operation: "open storage"));
    }
}
