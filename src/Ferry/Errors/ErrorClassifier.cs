using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Ferry.Errors;

/// <summary>
/// Turns what .NET and the libraries throw into Ferry errors. Transience is decided by the resulting code
/// (Npgsql style), so a caller never inspects raw exceptions. Library-specific classifiers (etcd, S3) handle
/// their own exception types and fall back to this one.
/// </summary>
public static class ErrorClassifier
{
    // errno values on Linux; .NET puts the raw errno into IOException.HResult for unmapped errors.
    private const int EPERM = 1;
    private const int EIO = 5;
    private const int EACCES = 13;
    private const int ENOSPC = 28;
    private const int EROFS = 30;
    private const int EDQUOT = 122;

    // The Windows HRESULTs for the same conditions, for completeness.
    private const int HResultDiskFull = unchecked((int)0x80070070);
    private const int HResultHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>
    /// Classifies <paramref name="exception"/>. A <see cref="FerryException"/> is returned unchanged.
    /// A cancellation counts as <see cref="ErrorCodes.Cancelled"/> only when <paramref name="callerToken"/>
    /// asked for it; otherwise a deadline fired and it is a timeout.
    /// </summary>
    public static FerryException Classify(
        Exception exception,
        ErrorArea area,
        ErrorContext? context = null,
        CancellationToken callerToken = default)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is FerryException ferry) return ferry;
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            return Classify(aggregate.InnerExceptions[0], area, context, callerToken);
        }

        var (code, message) = Decide(exception, area, callerToken);
        return new FerryException(code, message, context, exception);
    }

    private static (ErrorCode Code, string Message) Decide(Exception e, ErrorArea area, CancellationToken callerToken)
    {
        switch (e)
        {
            case OperationCanceledException when callerToken.IsCancellationRequested:
                return (ErrorCodes.Cancelled, "the operation was cancelled");
            case OperationCanceledException or TimeoutException:
                return (Timeout(area), $"{AreaNoun(area)} did not answer within its deadline");
            case UnauthorizedAccessException:
                return (PermissionDenied(area), $"permission denied: {e.Message}");
            case DirectoryNotFoundException or FileNotFoundException:
                return (NotFound(area), e.Message);
            case SqliteException sqlite:
                return FromSqlite(sqlite, area);
            case JsonException json:
                return (ErrorCodes.MetaCorruptValue, $"a value is not valid JSON: {json.Message}");
            case SocketException or HttpRequestException:
                return (Unavailable(area), $"{AreaNoun(area)} unreachable: {e.Message}");
            case IOException io:
                return FromErrno(io, area);
            default:
                return (ErrorCodes.Internal, $"unexpected {e.GetType().Name}: {e.Message}");
        }
    }

    private static (ErrorCode, string) FromErrno(IOException io, ErrorArea area)
    {
        switch (io.HResult)
        {
            case ENOSPC or EDQUOT or HResultDiskFull or HResultHandleDiskFull:
                return (area == ErrorArea.Database ? ErrorCodes.DatabaseDiskFull
                        : area == ErrorArea.Meta ? ErrorCodes.MetaIo : ErrorCodes.StorageQuotaExceeded,
                    $"no space left: {io.Message}");
            case EACCES or EPERM or EROFS:
                return (PermissionDenied(area), $"permission denied: {io.Message}");
            case EIO:
                return (Io(area), $"I/O error: {io.Message}");
            default:
                // A reset connection surfaces as an IOException wrapping a SocketException.
                if (io.InnerException is SocketException) return (Unavailable(area), $"{AreaNoun(area)} unreachable: {io.Message}");
                return (Io(area), io.Message);
        }
    }

    private static (ErrorCode, string) FromSqlite(SqliteException e, ErrorArea area)
    {
        // Primary result codes: https://www.sqlite.org/rescode.html
        var primary = e.SqliteErrorCode & 0xff;
        return primary switch
        {
            5 or 6 => (area == ErrorArea.Meta ? ErrorCodes.MetaUnavailable : ErrorCodes.DatabaseBusy, $"database locked: {e.Message}"),
            11 or 26 => (area == ErrorArea.Meta ? ErrorCodes.MetaCorruptStore : ErrorCodes.DatabaseCorrupt, e.Message),
            13 => (area == ErrorArea.Meta ? ErrorCodes.MetaIo : ErrorCodes.DatabaseDiskFull, $"disk full: {e.Message}"),
            3 or 8 or 23 => (PermissionDenied(area), $"permission denied: {e.Message}"),
            14 => (area == ErrorArea.Meta ? ErrorCodes.MetaIo : ErrorCodes.DatabaseNotFound, $"unable to open: {e.Message}"),
            10 => (Io(area), $"I/O error: {e.Message}"),
            _ => (ErrorCodes.Internal, $"SQLite error {e.SqliteErrorCode}: {e.Message}"),
        };
    }

    internal static ErrorCode Timeout(ErrorArea area) => area switch
    {
        ErrorArea.Meta => ErrorCodes.MetaTimeout,
        ErrorArea.Database => ErrorCodes.DatabaseBusy,
        _ => ErrorCodes.StorageTimeout,
    };

    private static ErrorCode Unavailable(ErrorArea area) =>
        area == ErrorArea.Meta ? ErrorCodes.MetaUnavailable : ErrorCodes.StorageUnavailable;

    private static ErrorCode PermissionDenied(ErrorArea area) => area switch
    {
        ErrorArea.Meta => ErrorCodes.MetaPermissionDenied,
        ErrorArea.Database => ErrorCodes.DatabasePermissionDenied,
        _ => ErrorCodes.StoragePermissionDenied,
    };

    private static ErrorCode NotFound(ErrorArea area) => area switch
    {
        ErrorArea.Database => ErrorCodes.DatabaseNotFound,
        ErrorArea.Meta => ErrorCodes.MetaIo,
        _ => ErrorCodes.StorageNotFound,
    };

    private static ErrorCode Io(ErrorArea area) => area switch
    {
        ErrorArea.Meta => ErrorCodes.MetaIo,
        ErrorArea.Database => ErrorCodes.DatabaseIo,
        _ => ErrorCodes.StorageIo,
    };

    private static string AreaNoun(ErrorArea area) => area switch
    {
        ErrorArea.Meta => "the metadata store",
        ErrorArea.Database => "the database",
        _ => "the storage",
    };
}
