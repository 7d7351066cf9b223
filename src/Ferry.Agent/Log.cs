using Microsoft.Extensions.Logging;

namespace Ferry.Agent;

/// <summary>Every log message of the agent host, source-generated. Event ids: 2000–2099 the HTTP endpoints, 2100–2199 the agent (the store session's own are the core's, 1300–1399).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "serving the status page, /metrics and /status on http://{Endpoint}")]
    public static partial void HttpListening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "/status could not build its report: {Problem}")]
    public static partial void StatusFailed(ILogger logger, string problem, Exception exception);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error,
        Message = "metric {Instrument} was recorded with tags [{Got}] but is exported with labels [{Expected}]; the measurement is not exported (a Ferry bug)")]
    public static partial void LabelMismatch(ILogger logger, string instrument, string got, string expected);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "metric {Instrument} is a {Kind}, which the Prometheus export does not know; it is not exported (a Ferry bug)")]
    public static partial void UnsupportedInstrument(ILogger logger, string instrument, string kind);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "stopped serving on http://{Endpoint}")]
    public static partial void HttpStopped(ILogger logger, string endpoint);




    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "store {StoreId}: fenced out: {Reason}")]
    public static partial void Fenced(ILogger logger, long storeId, string reason);




    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "task {Task} started on store {StoreId}")]
    public static partial void TaskStarted(ILogger logger, string task, long storeId);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "task {Task} stopped on store {StoreId}")]
    public static partial void TaskStopped(ILogger logger, string task, long storeId);

    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "task {Task} defined by store {StoreId} from its configuration")]
    public static partial void TaskDefined(ILogger logger, string task, long storeId);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Warning,
        Message = "task {Task} on store {StoreId}: its runner died of {Code}; starting it again in {Seconds:0.#} s")]
    public static partial void RunnerRestarting(ILogger logger, string task, long storeId, string code, double seconds);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Error, Message = "the Ferry agent stopped: {Problem}; nothing is replicated until the application restarts")]
    public static partial void AgentFailed(ILogger logger, string problem, Exception exception);
}
