using System.Net;

namespace Ferry.Agent;

/// <summary>Options of <see cref="AgentHttpServer"/>.</summary>
public sealed class AgentHttpServerOptions
{
    /// <summary>
    /// Where to listen; default <c>127.0.0.1:9479</c>. Port 0 picks a free port (see
    /// <see cref="AgentHttpServer.Endpoint"/>). Parse <c>--http</c> with <see cref="AgentHttpAddress.Parse"/>.
    /// </summary>
    public IPEndPoint Endpoint { get; set; } = AgentHttpAddress.Default;

    /// <summary>
    /// Also export prometheus-net's process and .NET runtime series (<c>process_*</c>, <c>dotnet_*</c>).
    /// Off by default: /metrics carries Ferry's series only.
    /// </summary>
    public bool IncludeProcessMetrics { get; set; }

    /// <summary>How long stopping waits for requests in flight before cutting them off; default 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock the status page measures ages and gaps with (the agent's own).</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Endpoint, nameof(Endpoint));
        ArgumentNullException.ThrowIfNull(Time, nameof(Time));
        if (ShutdownTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), ShutdownTimeout, "ShutdownTimeout must be positive; use e.g. 5 s.");
        }
    }
}
