using Ferry.Errors;

namespace Ferry.Storage;

/// <summary>
/// What an object store's HTTP status means to Ferry when the service's own error code says nothing more: one rule
/// for S3 and Azure alike.
/// </summary>
internal static class StorageHttpStatus
{
    public static ErrorCode Code(int status) => status switch
    {
        401 or 403 => ErrorCodes.StoragePermissionDenied,
        404 => ErrorCodes.StorageNotFound,
        408 or 504 => ErrorCodes.StorageTimeout,
        413 or 507 => ErrorCodes.StorageQuotaExceeded,
        429 or 500 or 502 or 503 => ErrorCodes.StorageUnavailable,
        _ => ErrorCodes.StorageIo,
    };
}
