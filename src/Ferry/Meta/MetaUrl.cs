using Ferry.Errors;

namespace Ferry.Meta;

public enum MetaKind
{
    Embedded,
    Etcd,
}

/// <summary>
/// Where the metadata lives: <c>file:PATH</c> (the embedded SQLite store) or
/// <c>etcd://host:port[,host:port…]</c>. Without <c>--meta</c>, <c>FERRY_META</c> decides, else
/// <c>$FERRY_HOME/meta.db</c> with <c>FERRY_HOME</c> defaulting to <c>~/.ferry</c>.
/// </summary>
public sealed record MetaUrl(MetaKind Kind, string Path, IReadOnlyList<Uri> Endpoints)
{
    public const string EnvMeta = "FERRY_META";
    public const string EnvHome = "FERRY_HOME";

    /// <summary>Reads a metadata store URL; <paramref name="option"/> is what a problem calls it (the flag, or a configuration key).</summary>
    public static MetaUrl Parse(string url, string option = "--meta")
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.StartsWith("file:", StringComparison.Ordinal))
        {
            var path = url["file:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..];
                var authority = path.IndexOf('/') is var slash and >= 0 ? path[..slash] : path;
                if (authority.Contains('@', StringComparison.Ordinal)) throw Invalid(url, option, "a file: URL takes no user or password");
            }

            if (path.Length == 0) throw Invalid(url, option, "the file path is empty");
            return new MetaUrl(MetaKind.Embedded, System.IO.Path.GetFullPath(path), []);
        }

        if (url.StartsWith("etcd://", StringComparison.Ordinal))
        {
            var hosts = url["etcd://".Length..].TrimEnd('/');
            if (hosts.Length == 0) throw Invalid(url, option, "no endpoint given");
            // Checked before any endpoint is named in a message, which would show the password or the query.
            if (hosts.Contains('@', StringComparison.Ordinal)) throw Invalid(url, option, "it takes no user or password (etcd authentication is not supported)");
            if (hosts.IndexOfAny(['?', '#']) >= 0) throw Invalid(url, option, "it takes no query string");
            var endpoints = new List<Uri>();
            foreach (var hostPort in hosts.Split(','))
            {
                var colon = hostPort.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], out var port) || port is <= 0 or > 65535)
                {
                    throw Invalid(url, option, $"'{hostPort}' is not host:port");
                }

                if (!Uri.TryCreate($"http://{hostPort}", UriKind.Absolute, out var uri) || uri.AbsolutePath != "/")
                {
                    throw Invalid(url, option, $"'{hostPort}' is not host:port");
                }

                endpoints.Add(uri);
            }

            return new MetaUrl(MetaKind.Etcd, "", endpoints);
        }

        throw Invalid(url, option, "unknown scheme");
    }

    /// <summary>The URL given, else <c>FERRY_META</c>, else the embedded store under <c>FERRY_HOME</c>.</summary>
    public static MetaUrl Resolve(string? url)
    {
        if (!string.IsNullOrEmpty(url)) return Parse(url);
        var fromEnv = Environment.GetEnvironmentVariable(EnvMeta);
        if (!string.IsNullOrEmpty(fromEnv)) return Parse(fromEnv);
        return new MetaUrl(MetaKind.Embedded, System.IO.Path.Combine(FerryHome(), "meta.db"), []);
    }

    public static string FerryHome()
    {
        var home = Environment.GetEnvironmentVariable(EnvHome);
        return string.IsNullOrEmpty(home)
            ? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ferry")
            : System.IO.Path.GetFullPath(home);
    }

    public override string ToString() => Kind == MetaKind.Embedded
        ? $"file:{Path}"
        : "etcd://" + string.Join(',', Endpoints.Select(e => e.Authority));

    private static FerryException Invalid(string url, string option, string why) => new(
        ErrorCodes.ConfigInvalidMetaUrl,
        $"invalid {option} '{Redaction.Url(url)}': {why}; use file:PATH or etcd://host:port[,host:port…]");
}
