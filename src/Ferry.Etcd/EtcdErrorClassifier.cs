using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Ferry.Errors;
using Grpc.Core;

namespace Ferry.Etcd;

/// <summary>
/// Turns what the etcd client throws into Ferry errors (DESIGN §4, NOTES-etcd). gRPC status codes are decided
/// here; everything else falls back to <see cref="ErrorClassifier"/> with <see cref="ErrorArea.Meta"/>.
/// </summary>
internal static class EtcdErrorClassifier
{
    /// <summary>
    /// Classifies <paramref name="exception"/>. A cancellation is <see cref="ErrorCodes.Cancelled"/> only when
    /// <paramref name="callerToken"/> asked for it; otherwise a deadline fired and it is a timeout.
    /// </summary>
    public static FerryException Classify(Exception exception, CancellationToken callerToken, ErrorContext? context = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case FerryException ferry:
                return ferry;
            case AggregateException { InnerExceptions.Count: 1 } aggregate:
                return Classify(aggregate.InnerExceptions[0], callerToken, context);
            case RpcException rpc:
                var (code, message) = Decide(rpc, callerToken);
                return new FerryException(code, message, context, rpc);
            case IOException or HttpRequestException:
                // A dropped connection under a streaming call surfaces raw (HttpIOException), without an RpcException
                // around it. The etcd client touches no disk, so every I/O failure here is the network's.
                return new FerryException(ErrorCodes.MetaUnavailable, $"the connection to etcd broke: {exception.Message}", context, exception);
            default:
                return ErrorClassifier.Classify(exception, ErrorArea.Meta, context, callerToken);
        }
    }

    /// <summary>Whether an etcd answer means the lease named in the request no longer exists.</summary>
    public static bool IsLeaseNotFound(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.StatusCode == StatusCode.NotFound
            && exception.Status.Detail.Contains("lease not found", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Whether etcd refused the call for an auth token it no longer knows (expired after <c>--auth-token-ttl</c> of
    /// disuse, or etcd restarted) or one older than its auth store: logging in again fixes it, and the refused call
    /// was not applied.
    /// </summary>
    public static bool IsStaleToken(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is not RpcException rpc) return false;
        var detail = rpc.Status.Detail;
        return (rpc.StatusCode == StatusCode.Unauthenticated && detail.Contains("invalid auth token", StringComparison.OrdinalIgnoreCase))
            || (rpc.StatusCode == StatusCode.InvalidArgument && detail.Contains("auth store is old", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Like <see cref="IsStaleToken"/> for opening a watch, which etcd refuses as "permission denied" whether the token
    /// is stale or the user's roles do not cover the prefix: only a new token can tell the two apart.
    /// </summary>
    public static bool IsStaleWatchToken(Exception exception) =>
        IsStaleToken(exception) || exception is FerryException { Code: var code } && code == ErrorCodes.MetaPermissionDenied;

    /// <summary>
    /// Whether the call provably never reached etcd: no connection could be made (connection refused). Such a
    /// failure leaves nothing to read back, so even a non-idempotent call may be sent again.
    /// </summary>
    public static bool WasNotSent(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var cause = exception is RpcException rpc ? rpc.Status.DebugException ?? rpc.InnerException : exception;
        for (; cause is not null; cause = cause.InnerException)
        {
            if (cause is SocketException { SocketErrorCode: SocketError.ConnectionRefused }) return true;
        }

        return false;
    }

    /// <summary>
    /// Whether <paramref name="exception"/> (a Ferry error or what the client threw) came from a connection that
    /// etcd accepted and then closed, or answered with something else than HTTP/2, before the HTTP/2 handshake ended:
    /// what a TLS etcd does to a plain-text client, and, once the TLS handshake succeeded, to a client whose
    /// certificate it requires or refuses. Also what a server going down may do once, so only a failure that lasted
    /// a whole call deadline is read that way (see <see cref="EtcdMetaStore"/>'s connect).
    /// </summary>
    public static bool IsHttp2HandshakeFailure(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (Exception? cause = exception; cause is not null; cause = cause is RpcException rpc ? rpc.Status.DebugException ?? rpc.InnerException : cause.InnerException)
        {
            if (cause is HttpRequestException or IOException && cause.Message.Contains("did not complete the HTTP/2 handshake", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The TLS failure under a connection failure, or null: gRPC carries the reason only in the exceptions under its
    /// status, where .NET names the certificate problem.
    /// </summary>
    private static (ErrorCode Code, string Message)? TlsFailure(RpcException e)
    {
        for (Exception? cause = e.Status.DebugException ?? e.InnerException; cause is not null; cause = cause.InnerException)
        {
            if (cause is not AuthenticationException tls) continue;
            var reason = tls.Message;
            if (reason.Contains("NameMismatch", StringComparison.OrdinalIgnoreCase))
            {
                return (ErrorCodes.MetaTlsUntrusted, $"etcd's server certificate does not name the host in --meta (list that IP or DNS name in its subject alternative names, or connect by a name it holds): {reason}");
            }

            if (reason.Contains("ChainErrors", StringComparison.OrdinalIgnoreCase) || reason.Contains("UntrustedRoot", StringComparison.OrdinalIgnoreCase)
                || reason.Contains("PartialChain", StringComparison.OrdinalIgnoreCase))
            {
                return (ErrorCodes.MetaTlsUntrusted, $"etcd's server certificate is not signed by a trusted CA (give the CA with --etcd-ca): {reason}");
            }

            return (ErrorCodes.MetaTlsHandshake, $"the TLS handshake with etcd failed: {reason}");
        }

        return null;
    }

    private static (ErrorCode Code, string Message) Decide(RpcException e, CancellationToken callerToken)
    {
        var detail = e.Status.Detail;
        // gRPC reports a failed TLS handshake as Unavailable, Internal or Unknown, depending on where it broke.
        if (TlsFailure(e) is { } tls) return tls;
        switch (e.StatusCode)
        {
            case StatusCode.Cancelled when callerToken.IsCancellationRequested:
                return (ErrorCodes.Cancelled, "the operation was cancelled");
            case StatusCode.Cancelled:
                // Not our caller's doing: the connection or the server ended the call.
                return (ErrorCodes.MetaUnavailable, $"etcd ended the call: {detail}");
            case StatusCode.Unavailable:
                return (ErrorCodes.MetaUnavailable, $"etcd can't be reached: {detail}");
            case StatusCode.DeadlineExceeded:
                return (ErrorCodes.MetaTimeout, $"etcd did not answer within the deadline: {detail}");
            case StatusCode.NotFound when IsLeaseNotFound(e):
                return (ErrorCodes.MetaSessionExpired, "the lease is gone (expired or revoked): the session is lost");
            case StatusCode.ResourceExhausted when detail.Contains("too many requests", StringComparison.OrdinalIgnoreCase):
                return (ErrorCodes.MetaUnavailable, $"etcd is overloaded: {detail}");
            case StatusCode.ResourceExhausted:
                return (ErrorCodes.MetaValueTooLarge, $"etcd refused the request as too large: {detail}");
            case StatusCode.InvalidArgument when detail.Contains("invalid user ID or password", StringComparison.OrdinalIgnoreCase):
                return (ErrorCodes.MetaAuthFailed, $"etcd refused the user name or password ({detail})");
            case StatusCode.InvalidArgument when detail.Contains("user name is empty", StringComparison.OrdinalIgnoreCase):
                return (ErrorCodes.MetaAuthFailed, $"etcd requires a login and none was given: set --etcd-user and its password, or a client certificate whose CN is an etcd user ({detail})");
            case StatusCode.InvalidArgument when detail.Contains("auth store is old", StringComparison.OrdinalIgnoreCase):
                // Users or roles changed while the call was on its way; a new token (the caller's retry) carries on.
                return (ErrorCodes.MetaUnavailable, $"etcd's users or roles changed during the call: {detail}");
            case StatusCode.FailedPrecondition when detail.Contains("authentication is not enabled", StringComparison.OrdinalIgnoreCase):
                return (ErrorCodes.MetaAuthFailed, $"a user name was given but etcd has authentication disabled: enable it (etcdctl auth enable) or drop --etcd-user ({detail})");
            case StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.Unimplemented or StatusCode.AlreadyExists:
                return (ErrorCodes.MetaInvalidRequest, $"etcd rejected the request: {detail}");
            case StatusCode.OutOfRange when detail.Contains("compacted", StringComparison.OrdinalIgnoreCase):
                return (ErrorCodes.MetaCompacted, $"the revision was compacted away: {detail}");
            case StatusCode.OutOfRange:
                return (ErrorCodes.MetaInvalidRequest, $"etcd rejected the revision: {detail}");
            case StatusCode.PermissionDenied:
                return (ErrorCodes.MetaPermissionDenied, $"etcd's roles do not allow this user this operation ({detail})");
            case StatusCode.Unauthenticated:
                return (ErrorCodes.MetaAuthFailed, $"etcd did not accept the login's token ({detail})");
            case StatusCode.Internal or StatusCode.Unknown or StatusCode.Aborted:
                // grpc-dotnet reports transport failures (HTTP/2 ping timeout, reset stream) this way.
                return (ErrorCodes.MetaUnavailable, $"the call to etcd failed: {detail}");
            default:
                return (ErrorCodes.Internal, $"unexpected etcd status {e.StatusCode}: {detail}");
        }
    }
}
