using Microsoft.Extensions.Logging;

namespace Ferry.Errors;

/// <summary>
/// The error core's log messages, source-generated. The core's event ids by area: 1000–1099 errors (here),
/// 1100–1199 metadata, 1200–1299 tasks, 1300–1399 the store session (each area its own Log).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Error,
        Message = "{ErrorCode} [{ErrorClass}] {ErrorMessage} error_id={ErrorId} task={Task} store={StoreId} db={Database} op={Operation}")]
    public static partial void ErrorReported(
        ILogger logger,
        string errorCode,
        ErrorClass errorClass,
        string errorMessage,
        string errorId,
        string? task,
        long? storeId,
        string? database,
        string? operation,
        Exception? exception);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "{ErrorCode} [{ErrorClass}] {ErrorMessage} error_id={ErrorId} task={Task} store={StoreId} db={Database} op={Operation}")]
    public static partial void TransientReported(
        ILogger logger,
        string errorCode,
        ErrorClass errorClass,
        string errorMessage,
        string errorId,
        string? task,
        long? storeId,
        string? database,
        string? operation,
        Exception? exception);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error,
        Message = "could not record error {ErrorId} ({ErrorCode}) for task {Task} in the metadata store: {ReportFailure}")]
    public static partial void ReportFailed(ILogger logger, string errorId, string errorCode, string? task, string reportFailure, Exception exception);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "  suppressed after {ErrorId}: {Suppressed}")]
    public static partial void Suppressed(ILogger logger, string errorId, string suppressed);
}
