using System.Net.Http;
using System.Net.Sockets;
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
        { StatusCode.Unauthenticated, "etcdserver: invalid auth token", ErrorCodes.MetaPermissionDenied.Code },
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
}
