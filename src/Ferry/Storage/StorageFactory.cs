using Ferry.Errors;

namespace Ferry.Storage;

/// <summary>Opens the storage a <see cref="StorageUrl"/> names.</summary>
public static class StorageFactory
{
    public static IObjectStorage Open(StorageUrl url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return url.Kind switch
        {
            StorageKind.File => new FileStorage(url.Location),
            _ => throw new FerryException(ErrorCodes.StorageNotSupported,
                $"{url} is {url.Kind} storage, which this build does not support yet; use a directory or file:///dir",
                new ErrorContext(Operation: "open storage")),
        };
    }
}
