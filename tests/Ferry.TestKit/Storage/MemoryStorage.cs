using System.Collections.Concurrent;
using Ferry.Storage;

namespace Ferry.TestKit.Storage;

/// <summary>
/// Object storage in memory, for unit tests of logic over storage (planning, pruning) under a fake clock: each
/// object's last-modified time is the clock's when it was put. Integration tests use FileStorage and s3rver.
/// <see cref="BeforeOpen"/> lets a test act deterministically at the moment an object is opened.
/// </summary>
public sealed class MemoryStorage(TimeProvider time) : IObjectStorage
{
    private readonly ConcurrentDictionary<string, (byte[] Bytes, DateTimeOffset Modified)> _objects = new(StringComparer.Ordinal);

    public string Description => "memory://test";

    /// <summary>Called with the object's name before each open for reading.</summary>
    public Func<string, Task>? BeforeOpen { get; set; }

    /// <summary>Called with the object's name once its content is read and before it lands: an upload in flight.</summary>
    public Func<string, Task>? BeforePut { get; set; }

    public IReadOnlyCollection<string> Names => [.. _objects.Keys.Order(StringComparer.Ordinal)];

    public int Deletes;

    public int Lists;

    public async Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        if (BeforePut is { } hook) await hook(name);
        return _objects.TryAdd(name, (buffer.ToArray(), time.GetUtcNow()));
    }

    public async Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        if (BeforeOpen is { } hook) await hook(name);
        return _objects.TryGetValue(name, out var found) ? new MemoryStream(found.Bytes, writable: false) : null;
    }

    public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Lists);
        return Task.FromResult<IReadOnlyList<ObjectInfo>>([.. _objects
            .Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
            .OrderBy(o => o.Key, StringComparer.Ordinal)
            .Select(o => new ObjectInfo(o.Key, o.Value.Bytes.Length, o.Value.Modified))]);
    }

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        var removed = _objects.TryRemove(name, out _);
        if (removed) Interlocked.Increment(ref Deletes);
        return Task.FromResult(removed);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
