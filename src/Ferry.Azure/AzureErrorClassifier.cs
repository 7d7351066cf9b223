using System.Collections.Frozen;
using Azure;
using Azure.Storage.Blobs.Models;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Azure;

/// <summary>
/// Turns what the Azure SDK throws into Ferry Storage errors: the service's error code first (it is precise), then
/// the HTTP status, then the transport failure inside a status-0 <see cref="RequestFailedException"/> or the SDK's
/// "retry failed" <see cref="AggregateException"/> (its last attempt decides); everything else goes to the core
/// <see cref="ErrorClassifier"/> (cancellation vs deadline, sockets, HttpRequestException).
/// A service error's message carries its code, status, request id and the first line of the service's text, and the
/// SDK's exception is not kept as the cause: its text repeats the whole response, whose authentication details quote
/// the request's signature. Never a key, SAS or connection string.
/// </summary>
internal static class AzureErrorClassifier
{
    private static readonly FrozenDictionary<string, ErrorCode> ByServiceCode = new Dictionary<string, ErrorCode>
    {
        // A wrong key or SAS, an expired SAS, a SAS without the permission, a firewall, a disabled account.
        [BlobErrorCode.AuthenticationFailed.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationFailure.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationPermissionMismatch.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationProtocolMismatch.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationResourceTypeMismatch.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationServiceMismatch.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AuthorizationSourceIPMismatch.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.InsufficientAccountPermissions.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.InvalidAuthenticationInfo.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.AccountIsDisabled.ToString()] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.BlobImmutableDueToPolicy.ToString()] = ErrorCodes.StoragePermissionDenied,
        ["NoAuthenticationInformation"] = ErrorCodes.StoragePermissionDenied,
        [BlobErrorCode.ContainerNotFound.ToString()] = ErrorCodes.StorageNotFound,
        [BlobErrorCode.ContainerBeingDeleted.ToString()] = ErrorCodes.StorageNotFound,
        [BlobErrorCode.BlobNotFound.ToString()] = ErrorCodes.StorageObjectNotFound,
        [BlobErrorCode.RequestBodyTooLarge.ToString()] = ErrorCodes.StorageQuotaExceeded,
        [BlobErrorCode.BlockCountExceedsLimit.ToString()] = ErrorCodes.StorageQuotaExceeded,
        [BlobErrorCode.ServerBusy.ToString()] = ErrorCodes.StorageUnavailable,
        [BlobErrorCode.InternalError.ToString()] = ErrorCodes.StorageUnavailable,
        [BlobErrorCode.AccountBeingCreated.ToString()] = ErrorCodes.StorageUnavailable,
        [BlobErrorCode.OperationTimedOut.ToString()] = ErrorCodes.StorageTimeout,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static FerryException Classify(Exception exception, ErrorContext? context = null, CancellationToken callerToken = default)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case FerryException ferry:
                return ferry;
            case OperationCanceledException:
                // Caller's cancel → Cancelled; our deadline (or the SDK's network timeout) → Timeout.
                return ErrorClassifier.Classify(exception, ErrorArea.Storage, context, callerToken);
            case AggregateException { InnerExceptions.Count: > 0 } aggregate:
                // "Retry failed after N tries": every attempt failed in transport; the last one says how it ends.
                var last = Classify(aggregate.InnerExceptions[^1], context, callerToken);
                return new FerryException(last.Code, $"{last.Message} (after {aggregate.InnerExceptions.Count} attempts)", context, last.InnerException);
            case RequestFailedException { Status: 0 } transport:
                // No response: connection refused or reset, DNS, TLS. The cause is the transport's exception.
                var inner = transport.InnerException is { } cause ? Classify(cause, context, callerToken) : null;
                return inner is null || inner.Code == ErrorCodes.Internal
                    ? new FerryException(ErrorCodes.StorageUnavailable, $"Azure request failed: {FirstLine(transport.Message)}", context, transport.InnerException)
                    : new FerryException(inner.Code, $"Azure request failed: {inner.Message}", context, transport.InnerException);
            case RequestFailedException service:
                return new FerryException(Decide(service.ErrorCode, service.Status), Describe(service), context);
            default:
                return ErrorClassifier.Classify(exception, ErrorArea.Storage, context, callerToken);
        }
    }

    /// <summary>The Storage code for an Azure error code (<c>x-ms-error-code</c>) and HTTP status.</summary>
    public static ErrorCode Decide(string? serviceCode, int status)
    {
        if (serviceCode is not null && ByServiceCode.TryGetValue(serviceCode, out var code)) return code;
        return StorageHttpStatus.Code(status);
    }

    private static string Describe(RequestFailedException e)
    {
        var code = string.IsNullOrEmpty(e.ErrorCode) ? "error" : e.ErrorCode;
        var requestId = e.GetRawResponse()?.Headers.RequestId;
        var request = string.IsNullOrEmpty(requestId) ? "" : $", request id {requestId}";
        var hint = Decide(e.ErrorCode, e.Status) switch
        {
            var c when c == ErrorCodes.StoragePermissionDenied => $" (check the account's key or SAS: {AzureStorageOptions.CredentialVariables}; and the SAS's permissions and expiry)",
            var c when c == ErrorCodes.StorageNotFound => " (create the container, or fix the URL's container or endpoint)",
            _ => "",
        };
        return $"Azure {code} (HTTP {e.Status}{request}): {FirstLine(e.Message)}{hint}";
    }

    /// <summary>The service's own sentence: the SDK's message goes on with the status, the response's content and headers.</summary>
    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        var line = (end < 0 ? message : message[..end]).Trim();
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}
