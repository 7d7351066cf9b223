using Microsoft.Extensions.Logging;

namespace Ferry.Tasks;

/// <summary>The task runner's log messages, source-generated; event ids 1200–1299 (the core's ranges: Ferry.Errors.Log).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Debug, Message = "task {Task} on store {StoreId}: {From} -> {To} after {Seconds:0.###} s")]
    public static partial void RunnerTransition(ILogger logger, string task, long storeId, RunnerState from, RunnerState to, double seconds);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning,
        Message = "task {Task} on store {StoreId}: auto-resumed after a pause caused by {ErrorCode} (auto-resume #{Count}); it pauses again if the cause persists")]
    public static partial void AutoResumed(ILogger logger, string task, long storeId, string errorCode, int count);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning,
        Message = "task {Task} on store {StoreId} is paused ({Reason}, since {Since:u} by {Operator}): nothing is shipped until `{Resume}`")]
    public static partial void TaskIsPaused(ILogger logger, string task, long storeId, string reason, DateTimeOffset since, string @operator, string resume);
}
