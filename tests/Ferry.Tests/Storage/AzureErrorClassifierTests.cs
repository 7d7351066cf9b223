using System.Net.Sockets;
using Azure;
using Ferry.Azure;
using Ferry.Errors;

namespace Ferry.Tests.Storage;

public sealed class AzureErrorClassifierTests
{
    private const string Signature = "c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0";

    /// <summary>What the SDK throws for a service answer: its message goes on with the response's content, which may quote the request's signature.</summary>
    private static RequestFailedException ServiceError(int status, string code) =>
        new(status, $"The service said {code}.\nRequestId:REQ123\nStatus: {status}\nErrorCode: {code}\n\nContent:\n<AuthenticationErrorDetail>The MAC signature found in the HTTP request '{Signature}' is not the same</AuthenticationErrorDetail>", code, null);

    [Theory]
    [InlineData(403, "AuthenticationFailed", "FERRY:Storage:PermissionDenied")]
    [InlineData(403, "AuthorizationFailure", "FERRY:Storage:PermissionDenied")]
    [InlineData(403, "AuthorizationPermissionMismatch", "FERRY:Storage:PermissionDenied")]
    [InlineData(403, "AuthorizationSourceIPMismatch", "FERRY:Storage:PermissionDenied")]
    [InlineData(400, "InvalidAuthenticationInfo", "FERRY:Storage:PermissionDenied")]
    [InlineData(409, "BlobImmutableDueToPolicy", "FERRY:Storage:PermissionDenied")]
    [InlineData(404, "ContainerNotFound", "FERRY:Storage:NotFound")]
    [InlineData(409, "ContainerBeingDeleted", "FERRY:Storage:NotFound")]
    [InlineData(404, "BlobNotFound", "FERRY:Storage:ObjectNotFound")]
    [InlineData(503, "ServerBusy", "FERRY:Storage:Unavailable")]
    [InlineData(500, "InternalError", "FERRY:Storage:Unavailable")]
    [InlineData(500, "OperationTimedOut", "FERRY:Storage:Timeout")]
    [InlineData(413, "RequestBodyTooLarge", "FERRY:Storage:QuotaExceeded")]
    [InlineData(429, null, "FERRY:Storage:Unavailable")]
    [InlineData(503, null, "FERRY:Storage:Unavailable")]
    [InlineData(502, "SomethingNew", "FERRY:Storage:Unavailable")]
    [InlineData(403, null, "FERRY:Storage:PermissionDenied")]
    [InlineData(404, null, "FERRY:Storage:NotFound")]
    [InlineData(504, null, "FERRY:Storage:Timeout")]
    [InlineData(507, null, "FERRY:Storage:QuotaExceeded")]
    [InlineData(400, "SomethingNew", "FERRY:Storage:Io")]
    public void Classify_ServiceCodeAndStatus_StorageCode(int status, string? code, string expected)
    {
        var error = AzureErrorClassifier.Classify(ServiceError(status, code ?? ""), new ErrorContext(Operation: "put x"));

        Assert.Equal(expected, error.Code.Code);
        Assert.Equal("put x", error.Context.Operation);
    }

    [Fact]
    public void Classify_ThrottlingAndUnavailable_Transient()
    {
        Assert.Equal(ErrorClass.Transient, AzureErrorClassifier.Classify(ServiceError(503, "ServerBusy")).Class);
        Assert.Equal(ErrorClass.Transient, AzureErrorClassifier.Classify(ServiceError(429, "")).Class);
    }

    [Fact]
    public void Classify_AuthenticationFailed_PermanentNamesTheVariablesNotTheResponse()
    {
        var error = AzureErrorClassifier.Classify(ServiceError(403, "AuthenticationFailed"));

        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("AuthenticationFailed", error.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 403", error.Message, StringComparison.Ordinal);
        Assert.Contains("AZURE_STORAGE_KEY", error.Message, StringComparison.Ordinal);
        Assert.Contains("The service said AuthenticationFailed.", error.Message, StringComparison.Ordinal);
        // The SDK's exception, whose text quotes the signature, is not kept as the cause: it would reach the log.
        Assert.Null(error.InnerException);
        Assert.DoesNotContain(Signature, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_ContainerNotFound_PermanentSaysToCreateIt()
    {
        var error = AzureErrorClassifier.Classify(ServiceError(404, "ContainerNotFound"));

        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("create the container", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_ConnectionRefusedWithoutResponse_Unavailable()
    {
        var refused = new HttpRequestException("Connection refused (127.0.0.1:1)", new SocketException((int)SocketError.ConnectionRefused));
        var error = AzureErrorClassifier.Classify(new RequestFailedException("Connection refused (127.0.0.1:1)", refused));

        Assert.Equal(ErrorCodes.StorageUnavailable, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
        Assert.Same(refused, error.InnerException);
    }

    [Fact]
    public void Classify_RetryFailedAggregate_TheLastAttemptDecides()
    {
        var refused = new RequestFailedException("Connection refused", new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused)));
        var timedOut = new TaskCanceledException("The operation was cancelled because it exceeded the configured timeout");
        var error = AzureErrorClassifier.Classify(new AggregateException("Retry failed after 3 tries.", refused, refused, timedOut));

        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_CancelledByCaller_CancelledElseTimeout()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.Equal(ErrorCodes.Cancelled, AzureErrorClassifier.Classify(new OperationCanceledException(), callerToken: cancelled.Token).Code);
        Assert.Equal(ErrorCodes.StorageTimeout, AzureErrorClassifier.Classify(new OperationCanceledException()).Code);
    }

    [Fact]
    public void Classify_FerryException_Unchanged()
    {
        var original = new FerryException(ErrorCodes.StorageIo, "x");

        Assert.Same(original, AzureErrorClassifier.Classify(original));
    }
}
