using Ferry.Errors;

namespace Ferry.Storage;

public static class ObjectStorageExtensions
{
    /// <summary>Opens an object that must exist; a missing one is <c>FERRY:Storage:ObjectNotFound</c> naming it.</summary>
    public static async Task<Stream> OpenReadAsync(this IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        return await storage.TryOpenReadAsync(name, cancellationToken)
            ?? throw new FerryException(ErrorCodes.StorageObjectNotFound, $"object {name} is missing from {storage.Description}",
                new ErrorContext(Operation: $"read {name}"));
    }

    /// <summary>Reads a whole (small) object into memory.</summary>
    public static async Task<byte[]> ReadAllBytesAsync(this IObjectStorage storage, string name, CancellationToken cancellationToken = default)
    {
        var stream = await storage.OpenReadAsync(name, cancellationToken);
        await using (stream)
        {
            using var buffer = new MemoryStream();
            try
            {
                await stream.CopyToAsync(buffer, cancellationToken);
            }
            catch (Exception e) when (e is not FerryException)
            {
                throw ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"read {name}"), cancellationToken);
            }

            return buffer.ToArray();
        }
    }
}
