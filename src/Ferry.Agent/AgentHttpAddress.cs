using System.Globalization;
using System.Net;
using Ferry.Errors;

namespace Ferry.Agent;

/// <summary>
/// The <c>--http ADDR</c> value: <c>127.0.0.1:PORT</c>, <c>[::1]:PORT</c>, <c>localhost:PORT</c> or <c>:PORT</c>
/// (loopback). Port 0 picks a free port. Any other address (e.g. <c>0.0.0.0:9479</c>) is used only because it
/// was written out: the endpoints are unauthenticated, so they stay on loopback unless asked otherwise.
/// </summary>
public static class AgentHttpAddress
{
    /// <summary>The agent's default port for /metrics and /status.</summary>
    public const int DefaultPort = 9479;

    /// <summary><c>127.0.0.1:9479</c>.</summary>
    public static IPEndPoint Default => new(IPAddress.Loopback, DefaultPort);

    public static IPEndPoint Parse(string text, string option = "--http")
    {
        ArgumentNullException.ThrowIfNull(text);
        var value = text.Trim();
        var colon = value.LastIndexOf(':');
        if (colon < 0) throw Invalid(text, option, "it has no port");
        var host = value[..colon];
        var portText = value[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            throw Invalid(text, option, $"'{portText}' is not a port (0–65535)");
        }

        if (host.Length == 0 || host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return new IPEndPoint(IPAddress.Loopback, port);
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':', StringComparison.Ordinal)) throw Invalid(text, option, "write an IPv6 address in brackets, e.g. [::1]:9479");
        if (!IPAddress.TryParse(host, out var address)) throw Invalid(text, option, $"'{host}' is not an IP address");
        return new IPEndPoint(address, port);
    }

    /// <summary>"127.0.0.1:9479" or "[::1]:9479".</summary>
    public static string Format(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint.ToString();
    }

    private static FerryException Invalid(string text, string option, string problem) =>
        new(ErrorCodes.ConfigInvalidArgument, $"{option} '{text}': {problem}; use 127.0.0.1:PORT, :PORT (loopback) or an explicit ADDRESS:PORT");
}
