using Ferry.Errors;

namespace Ferry.Meta;

internal static class MetaStoreExtensions
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
        try
        {
            await Deadline.RunAsync(RevokeDeadline, ErrorArea.Meta, new ErrorContext(Operation: operation), ct => store.RevokeLeaseAsync(leaseId, ct)).ConfigureAwait(false);
        }
        catch (FerryException e)
        {
            // A deadline that fired is a timeout (reported), never a cancellation (dropped).
            failed(e);
        }
    }
}
