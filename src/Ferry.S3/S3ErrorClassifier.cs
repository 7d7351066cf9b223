using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.S3;

/// <summary>
/// Turns what the AWS SDK throws into Ferry Storage errors: S3 error codes first (they are precise), then the HTTP
/// status, then the transport exception inside an <see cref="AmazonClientException"/>; everything else goes to the
/// core <see cref="ErrorClassifier"/> (cancellation vs deadline, sockets, HttpRequestException). Messages carry S3's
/// error code, status and request id, never credentials.
/// </summary>
internal static class S3ErrorClassifier
{
    public static FerryException Classify(Exception exception, ErrorContext? context = null, CancellationToken callerToken = default)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case FerryException ferry:
                return ferry;
            case OperationCanceledException:
                // Caller's cancel → Cancelled; our deadline (or the SDK's HTTP timeout) → Timeout.
                return ErrorClassifier.Classify(exception, ErrorArea.Storage, context, callerToken);
            case AmazonServiceException service when service.StatusCode != 0 || !string.IsNullOrEmpty(service.ErrorCode):
                return new FerryException(Decide(service.ErrorCode, service.StatusCode), Describe(service), context, exception);
            case AmazonClientException { InnerException: { } inner }:
                // Transport failures (connection refused, reset, timeouts) arrive wrapped.
                var classified = Classify(inner, context, callerToken);
                return classified.Code == ErrorCodes.Internal
                    ? new FerryException(ErrorCodes.StorageUnavailable, $"S3 request failed: {exception.Message}", context, exception)
                    : new FerryException(classified.Code, classified.Message, context, exception);
            case AmazonClientException client:
                return new FerryException(ErrorCodes.StorageUnavailable, $"S3 request failed: {client.Message}", context, exception);
            default:
                return ErrorClassifier.Classify(exception, ErrorArea.Storage, context, callerToken);
        }
    }

    /// <summary>The Storage code for an S3 error code and HTTP status.</summary>
    public static ErrorCode Decide(string? s3ErrorCode, HttpStatusCode status)
    {
        switch (s3ErrorCode)
        {
            case "AccessDenied" or "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "ExpiredToken" or "InvalidToken"
                or "TokenRefreshRequired" or "AllAccessDisabled" or "AccountProblem" or "InvalidSecurity" or "AuthorizationHeaderMalformed":
                return ErrorCodes.StoragePermissionDenied;
            case "NoSuchBucket":
                return ErrorCodes.StorageNotFound;
            case "NoSuchKey":
                return ErrorCodes.StorageObjectNotFound;
            case "EntityTooLarge" or "QuotaExceeded" or "XMinioStorageFull" or "InsufficientStorage" or "TooManyBuckets":
                return ErrorCodes.StorageQuotaExceeded;
            case "SlowDown" or "ServiceUnavailable" or "InternalError" or "OperationAborted" or "Throttling" or "ThrottlingException"
                or "RequestLimitExceeded" or "XMinioServerNotInitialized":
                return ErrorCodes.StorageUnavailable;
            case "RequestTimeout":
                return ErrorCodes.StorageTimeout;
        }

        return StorageHttpStatus.Code((int)status);
    }

    private static string Describe(AmazonServiceException e)
    {
        var code = string.IsNullOrEmpty(e.ErrorCode) ? "error" : e.ErrorCode;
        var request = string.IsNullOrEmpty(e.RequestId) ? "" : $", request id {e.RequestId}";
        var hint = Decide(e.ErrorCode, e.StatusCode) == ErrorCodes.StoragePermissionDenied
            ? " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy)"
            : "";
        return $"S3 {code} (HTTP {(int)e.StatusCode}{request}): {e.Message}{hint}";
    }
}
