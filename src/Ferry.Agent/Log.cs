using Microsoft.Extensions.Logging;

namespace Ferry.Agent;

/// <summary>Every log message of the agent host, source-generated. Event ids: 2000–2099 the HTTP endpoints.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "serving /metrics and /status on http://{Endpoint}")]
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
}
