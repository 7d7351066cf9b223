using Microsoft.Extensions.Logging;

namespace Ferry.Coordination;

/// <summary>The store session's log messages, source-generated; event ids 1300–1399 (the core's ranges: Ferry.Errors.Log).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "store {StoreId}: fence taken (deploy generation {Generation}, epoch {Epoch})")]
    public static partial void FenceTaken(ILogger logger, long storeId, long generation, long epoch);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "store {StoreId} is held by a live agent ({Holder}); waiting as a standby until it stops")]
    public static partial void Standby(ILogger logger, long storeId, string holder);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "store {StoreId}: the metadata session (lease) was lost; stopping every task and bootstrapping again")]
    public static partial void SessionLost(ILogger logger, long storeId);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Information,
        Message = "store {StoreId} is held by a live agent ({Holder}, deploy generation {Generation}); asked it to hand over and waiting")]
    public static partial void HandoverRequested(ILogger logger, long storeId, string holder, long generation);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "store {StoreId}: the agent {Holder} did not hand over within {Seconds} s; fencing it out now")]
    public static partial void HandoverTimedOut(ILogger logger, long storeId, string holder, double seconds);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Information,
        Message = "store {StoreId}: shipped what was captured and handed the store over to {Successor} (deploy generation {Generation}); exiting")]
    public static partial void HandedOver(ILogger logger, long storeId, string successor, long generation);
}
