using Ferry.Errors;
using Grpc.Core;
using Rpc = Etcdserverpb;

namespace Ferry.Etcd;

public sealed partial class EtcdMetaStore
{
    /// <summary>Grants a lease of <paramref name="ttl"/> rounded up to whole seconds (at least 1 s, etcd's unit).</summary>
    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
        return CallAsync($"grant lease ttl={seconds}s", async (deadline, token) =>
        {
            var response = await _client.LeaseGrantAsync(new Rpc.LeaseGrantRequest { TTL = seconds }, null, deadline, token);
            Observe(response.Header);
            if (!string.IsNullOrEmpty(response.Error))
            {
                throw new FerryException(ErrorCodes.MetaUnavailable, $"etcd could not grant a lease: {response.Error}");
            }

            return response.ID;
        }, cancellationToken);
    }

    /// <summary>
    /// Renews the lease once over a keepalive stream opened for this call only and bounded by its deadline. etcd
    /// answers TTL 0 for a lease that is gone instead of failing, so the TTL is checked here.
    /// </summary>
    public Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) =>
        CallAsync($"keepalive lease {leaseId:x}", async (deadline, token) =>
        {
            using var call = _connection.LeaseClient.LeaseKeepAlive(null, deadline, token);
            await call.RequestStream.WriteAsync(new Rpc.LeaseKeepAliveRequest { ID = leaseId }, token);
            if (!await call.ResponseStream.MoveNext(token))
            {
                throw new FerryException(ErrorCodes.MetaUnavailable, "etcd closed the keepalive stream without answering");
            }

            var response = call.ResponseStream.Current;
            await call.RequestStream.CompleteAsync();
            Observe(response.Header);
            if (response.TTL <= 0)
            {
                throw new FerryException(ErrorCodes.MetaSessionExpired, $"lease {leaseId:x} is gone (expired or revoked): the session is lost");
            }

            return TimeSpan.FromSeconds(response.TTL);
        }, cancellationToken);

    /// <summary>Revokes the lease; a lease that is already gone counts as revoked.</summary>
    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) =>
        CallAsync($"revoke lease {leaseId:x}", async (deadline, token) =>
        {
            try
            {
                var response = await _client.LeaseRevokeAsync(new Rpc.LeaseRevokeRequest { ID = leaseId }, null, deadline, token);
                Observe(response.Header);
                return true;
            }
            catch (RpcException e) when (EtcdErrorClassifier.IsLeaseNotFound(e))
            {
                // Expired, revoked earlier, or revoked by an attempt whose answer was lost: revoked either way.
                return false;
            }
        }, cancellationToken);
}
