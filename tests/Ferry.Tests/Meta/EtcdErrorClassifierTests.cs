using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Ferry.Errors;
using Ferry.Etcd;
using Grpc.Core;
using Xunit;

namespace Ferry.Tests.Meta;

public sealed class EtcdErrorClassifierTests
{
    private static RpcException Rpc(StatusCode code, string detail = "", Exception? debug = null) => new(new Status(code, detail, debug));

    public static TheoryData<StatusCode, string, string> StatusMapping => new()
    {
        { StatusCode.Unavailable, "etcdserver: request timed out", ErrorCodes.MetaUnavailable.Code },
        { StatusCode.DeadlineExceeded, "", ErrorCodes.MetaTimeout.Code },
        { StatusCode.NotFound, "etcdserver: requested lease not found", ErrorCodes.MetaSessionExpired.Code },
        { StatusCode.ResourceExhausted, "etcdserver: request is too large", ErrorCodes.MetaValueTooLarge.Code },
        { StatusCode.ResourceExhausted, "etcdserver: too many requests", ErrorCodes.MetaUnavailable.Code },
        { StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request", ErrorCodes.MetaInvalidRequest.Code },
        { StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted", ErrorCodes.MetaCompacted.Code },
        { StatusCode.PermissionDenied, "etcdserver: permission denied", ErrorCodes.MetaPermissionDenied.Code },
        { StatusCode.Unauthenticated, "etcdserver: invalid auth token", ErrorCodes.MetaAuthFailed.Code },
        { StatusCode.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password", ErrorCodes.MetaAuthFailed.Code },
        { StatusCode.InvalidArgument, "etcdserver: user name is empty", ErrorCodes.MetaAuthFailed.Code },
        { StatusCode.FailedPrecondition, "etcdserver: authentication is not enabled", ErrorCodes.MetaAuthFailed.Code },
        { StatusCode.InvalidArgument, "etcdserver: revision of auth store is old", ErrorCodes.MetaUnavailable.Code },
        { StatusCode.Internal, "HTTP/2 ping timeout", ErrorCodes.MetaUnavailable.Code },
    };

    [Theory]
    [MemberData(nameof(StatusMapping))]
    public void Classify_RpcStatus_MapsToMetaCode(StatusCode status, string detail, string expected)
    {
        var error = EtcdErrorClassifier.Classify(Rpc(status, detail), CancellationToken.None);

        Assert.Equal(expected, error.Code.Code);
        Assert.IsType<RpcException>(error.InnerException);
    }

    [Fact]
    public void Classify_OperationCanceledWithoutCallerCancel_IsTimeout()
    {
        var error = EtcdErrorClassifier.Classify(new TaskCanceledException(), CancellationToken.None);

        Assert.Same(ErrorCodes.MetaTimeout, error.Code);
    }

    [Fact]
    public void Classify_OperationCanceledByCaller_IsCancelled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var error = EtcdErrorClassifier.Classify(new OperationCanceledException(cts.Token), cts.Token);

        Assert.Same(ErrorCodes.Cancelled, error.Code);
        Assert.Equal(ErrorClass.Cancelled, error.Class);
    }

    [Fact]
    public void Classify_RpcCancelledByCaller_IsCancelled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.Same(ErrorCodes.Cancelled, EtcdErrorClassifier.Classify(Rpc(StatusCode.Cancelled), cts.Token).Code);
        Assert.Same(ErrorCodes.MetaUnavailable, EtcdErrorClassifier.Classify(Rpc(StatusCode.Cancelled), CancellationToken.None).Code);
    }

    [Fact]
    public void Classify_RawHttpIOException_IsUnavailable()
    {
        var error = EtcdErrorClassifier.Classify(new HttpIOException(HttpRequestError.ResponseEnded, "response ended prematurely"), CancellationToken.None);

        Assert.Same(ErrorCodes.MetaUnavailable, error.Code);
    }

    [Fact]
    public void Classify_PlainIOException_IsUnavailable()
    {
        Assert.Same(ErrorCodes.MetaUnavailable, EtcdErrorClassifier.Classify(new IOException("reset"), CancellationToken.None).Code);
    }

    [Fact]
    public void Classify_FerryException_ReturnedUnchanged()
    {
        var original = new FerryException(ErrorCodes.MetaConflict, "lost");

        Assert.Same(original, EtcdErrorClassifier.Classify(original, CancellationToken.None));
    }

    [Fact]
    public void Classify_OtherException_FallsBackToCoreClassifier()
    {
        var error = EtcdErrorClassifier.Classify(new InvalidOperationException("boom"), CancellationToken.None);

        Assert.Same(ErrorCodes.Internal, error.Code);
    }

    [Fact]
    public void IsLeaseNotFound_OtherNotFound_IsFalse()
    {
        Assert.False(EtcdErrorClassifier.IsLeaseNotFound(Rpc(StatusCode.NotFound, "etcdserver: member not found")));
        Assert.Same(ErrorCodes.Internal, EtcdErrorClassifier.Classify(Rpc(StatusCode.NotFound, "etcdserver: member not found"), CancellationToken.None).Code);
    }

    [Fact]
    public void WasNotSent_ConnectionRefused_IsTrue()
    {
        var refused = Rpc(StatusCode.Unavailable, "Error connecting to subchannel.", new SocketException((int)SocketError.ConnectionRefused));

        Assert.True(EtcdErrorClassifier.WasNotSent(refused));
    }

    [Fact]
    public void WasNotSent_ResetOrTimeout_IsFalse()
    {
        Assert.False(EtcdErrorClassifier.WasNotSent(Rpc(StatusCode.Unavailable, "reset", new SocketException((int)SocketError.ConnectionReset))));
        Assert.False(EtcdErrorClassifier.WasNotSent(new TaskCanceledException()));
        Assert.False(EtcdErrorClassifier.WasNotSent(Rpc(StatusCode.DeadlineExceeded)));
    }

    private static RpcException TlsFailure(StatusCode status, string reason) => Rpc(
        status,
        "Error starting gRPC call.",
        new HttpRequestException("The SSL connection could not be established, see inner exception.", new AuthenticationException(reason)));

    [Theory]
    [InlineData(StatusCode.Unavailable, "The remote certificate is invalid because of errors in the certificate chain: PartialChain", "not signed by a trusted CA")]
    [InlineData(StatusCode.Internal, "The remote certificate is invalid because of errors in the certificate chain: UntrustedRoot", "not signed by a trusted CA")]
    [InlineData(StatusCode.Unknown, "The remote certificate is invalid according to the validation procedure: RemoteCertificateNameMismatch", "does not name the host")]
    public void Classify_CertificateValidationFailed_TlsUntrustedSayingWhy(StatusCode status, string reason, string why)
    {
        var error = EtcdErrorClassifier.Classify(TlsFailure(status, reason), CancellationToken.None);

        Assert.Same(ErrorCodes.MetaTlsUntrusted, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_OtherTlsFailure_TlsHandshake()
    {
        var error = EtcdErrorClassifier.Classify(
            TlsFailure(StatusCode.Unavailable, "Authentication failed because the remote party sent a TLS alert: 'ProtocolVersion'."), CancellationToken.None);

        Assert.Same(ErrorCodes.MetaTlsHandshake, error.Code);
    }

    [Theory]
    [InlineData(StatusCode.Unauthenticated, "etcdserver: invalid auth token", true)]
    [InlineData(StatusCode.InvalidArgument, "etcdserver: revision of auth store is old", true)]
    [InlineData(StatusCode.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password", false)]
    [InlineData(StatusCode.PermissionDenied, "etcdserver: permission denied", false)]
    [InlineData(StatusCode.Unavailable, "etcdserver: request timed out", false)]
    public void IsStaleToken_OnlyWhatANewLoginFixes(StatusCode status, string detail, bool stale)
    {
        Assert.Equal(stale, EtcdErrorClassifier.IsStaleToken(Rpc(status, detail)));
    }

    [Fact]
    public void IsStaleWatchToken_WatchRefusedAsPermissionDenied_IsTrue()
    {
        Assert.True(EtcdErrorClassifier.IsStaleWatchToken(new FerryException(ErrorCodes.MetaPermissionDenied, "etcd refused the watch: etcdserver: permission denied")));
        Assert.False(EtcdErrorClassifier.IsStaleWatchToken(new FerryException(ErrorCodes.MetaUnavailable, "etcd cancelled the watch")));
    }

    [Fact]
    public void IsHttp2HandshakeFailure_ServerClosedBeforeHttp2_SeenThroughTheFerryError()
    {
        var closed = Rpc(
            StatusCode.Unavailable,
            "Error starting gRPC call.",
            new HttpRequestException("An error occurred while sending the request.",
                new IOException("An HTTP/2 connection could not be established because the server did not complete the HTTP/2 handshake.")));
        var wrapped = EtcdErrorClassifier.Classify(closed, CancellationToken.None);

        Assert.Same(ErrorCodes.MetaUnavailable, wrapped.Code);
        Assert.True(EtcdErrorClassifier.IsHttp2HandshakeFailure(wrapped));
        Assert.False(EtcdErrorClassifier.IsHttp2HandshakeFailure(Rpc(StatusCode.Unavailable, "reset", new SocketException((int)SocketError.ConnectionReset))));
    }
}
