using Ferry.Errors;

namespace Ferry.Meta;

public static class MetaStoreExtensions
{
    private static readonly TimeSpan RevokeDeadline = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gives a lease back on the way out (a stop, a failed registration, a handover request withdrawn): bounded by
    /// its own deadline rather than the caller's token, so a cancelled caller still releases what it held. A
    /// failure goes to <paramref name="failed"/>; the lease then expires by itself within its TTL.
    /// </summary>
    public static async Task RevokeOnTheWayOutAsync(this IMetaStore store, long leaseId, string operation, Action<FerryException> failed)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(failed);
        using var deadline = new CancellationTokenSource(RevokeDeadline);
        try
        {
            await store.RevokeLeaseAsync(leaseId, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FerryException or OperationCanceledException)
        {
            failed(ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(Operation: operation)));
        }
    }
}
