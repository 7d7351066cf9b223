using Ferry.Diagnostics;
using Ferry.Errors;

namespace Ferry.Storage;

/// <summary>
/// Counts every call a task makes to its storage in <c>ferry_storage_requests_total{op,outcome,task}</c> (DESIGN §10:
/// an idle database makes no request at all, and the count shows it). Each call is passed to the inner storage
/// unchanged: its result is returned and its exception rethrown as it was; only the count is added. The outcome
/// is ok, cancelled (the caller asked; a deadline that fired is an error, as everywhere in Ferry) or error.
/// </summary>
internal sealed class CountedStorage : IObjectStorage
{
    private readonly IObjectStorage _inner;
    private readonly FerryMetrics _metrics;
    private readonly string _task;

    public CountedStorage(IObjectStorage inner, FerryMetrics metrics, string task)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(task);
        _inner = inner;
        _metrics = metrics;
        _task = task;
    }

    public string Description => _inner.Description;

    public Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default) =>
        CountAsync("put", () => _inner.PutIfAbsentAsync(name, content, cancellationToken), cancellationToken);

    public Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default) =>
        CountAsync("get", () => _inner.TryOpenReadAsync(name, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default) =>
        CountAsync("list", () => _inner.ListAsync(prefix, cancellationToken), cancellationToken);

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default) =>
        CountAsync("delete", () => _inner.DeleteAsync(name, cancellationToken), cancellationToken);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    private async Task<T> CountAsync<T>(string operation, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        T result;
        try
        {
            result = await call().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Counted, then rethrown as it came: the caller classifies and reports it.
            _metrics.RecordStorageRequest(_task, operation, Outcome(e, cancellationToken));
            throw;
        }

        _metrics.RecordStorageRequest(_task, operation, "ok");
        return result;
    }

    private static string Outcome(Exception e, CancellationToken cancellationToken) => e switch
    {
        FerryException { Class: ErrorClass.Cancelled } => "cancelled",
        OperationCanceledException when cancellationToken.IsCancellationRequested => "cancelled",
        _ => "error",
    };
}
