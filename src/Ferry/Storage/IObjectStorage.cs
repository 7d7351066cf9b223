namespace Ferry.Storage;

/// <summary>
/// One object found by <see cref="IObjectStorage.ListAsync"/>. <see cref="LastModified"/> is when storage says the
/// object was written (null where it can't tell): pruning counts its grace period from it, so a separate
/// <c>ferry storage prune</c> judges exactly as the agent does.
/// </summary>
public sealed record ObjectInfo(string Name, long Size, DateTimeOffset? LastModified = null);

/// <summary>
/// External storage as a flat set of immutable, '/'-separated object names (DESIGN §4: objects are written
/// create-if-absent, so a retried upload can tell "my earlier attempt landed" from "someone else wrote here").
/// Every failure is a <see cref="Ferry.Errors.FerryException"/> with a Storage code.
/// </summary>
public interface IObjectStorage : IAsyncDisposable
{
    /// <summary>Where the objects live, for messages: <c>file:///dir</c> or <c>s3://bucket/prefix</c>.</summary>
    string Description { get; }

    /// <summary>
    /// Creates <paramref name="name"/> with the bytes read from <paramref name="content"/>, only if no object has
    /// that name. Returns true when this call created it, false when the name was already taken (the content is
    /// then discarded; the caller decides whether the existing object is its own earlier attempt). The object
    /// becomes visible whole or not at all.
    /// </summary>
    Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Opens an object for reading; null when it does not exist.</summary>
    Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Lists the objects whose names start with <paramref name="prefix"/>, in ordinal name order.</summary>
    Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes an object; returns false when it did not exist.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default);
}
