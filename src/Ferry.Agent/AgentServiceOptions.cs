using System.Net;

namespace Ferry.Agent;

/// <summary>How the agent's hosted service runs on its host.</summary>
public sealed class AgentServiceOptions
{
    /// <summary>Serve <c>/metrics</c> and <c>/status</c> on this loopback endpoint; null: no HTTP of the agent's own.</summary>
    public IPEndPoint? Http { get; init; }

    /// <summary>
    /// Whether the host stops when the agent's run ends by itself (fenced, or failed): true for a host of the agent's
    /// own (a command), false inside an application, which goes on serving and reports the end through its health check.
    /// </summary>
    public bool StopsHost { get; init; }
}
