using Ferry.Errors;

namespace Ferry.Meta;

public enum MetaKind
{
    Embedded,
    Etcd,
}

/// <summary>
/// Where the metadata lives: <c>file:PATH</c> (the embedded SQLite store) or an etcd cluster,
/// <c>etcd://host:port[,host:port…]</c> (or <c>http://</c>, the same) in plain text or
/// <c>https://host:port[,host:port…]</c> over TLS. Without <c>--meta</c>, <c>FERRY_META</c> decides, else
/// <c>$FERRY_HOME/meta.db</c> with <c>FERRY_HOME</c> defaulting to <c>~/.ferry</c>. A URL never carries credentials:
/// those come from <c>--etcd-user</c> and a password outside the command line.
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

        var scheme = new[] { "etcd://", "http://", "https://" }.FirstOrDefault(s => url.StartsWith(s, StringComparison.Ordinal));
        if (scheme is not null)
        {
            var hosts = url[scheme.Length..].TrimEnd('/');
            if (hosts.Length == 0) throw Invalid(url, option, "no endpoint given");
            // Checked before any endpoint is named in a message, which would show the password or the query.
            if (hosts.Contains('@', StringComparison.Ordinal))
            {
                throw Invalid(url, option, "it takes no user or password: give the user with --etcd-user and the password with FERRY_ETCD_PASSWORD or --etcd-password-file");
            }

            if (hosts.IndexOfAny(['?', '#']) >= 0) throw Invalid(url, option, "it takes no query string");
            var endpoints = new List<Uri>();
            foreach (var hostPort in hosts.Split(','))
            {
                var colon = hostPort.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], out var port) || port is <= 0 or > 65535)
                {
                    throw Invalid(url, option, $"'{hostPort}' is not host:port");
                }

                var endpointScheme = scheme == "https://" ? "https" : "http";
                if (!Uri.TryCreate($"{endpointScheme}://{hostPort}", UriKind.Absolute, out var uri) || uri.AbsolutePath != "/")
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

    /// <summary>Whether the etcd endpoints use TLS (<c>https://</c>).</summary>
    public bool UsesTls => Endpoints.Count > 0 && Endpoints[0].Scheme == Uri.UriSchemeHttps;

    public override string ToString() => Kind == MetaKind.Embedded
        ? $"file:{Path}"
        : (UsesTls ? "https://" : "etcd://") + string.Join(',', Endpoints.Select(e => $"{e.Host}:{e.Port}"));

    private static FerryException Invalid(string url, string option, string why) => new(
        ErrorCodes.ConfigInvalidMetaUrl,
        $"invalid {option} '{Redaction.Url(url)}': {why}; use file:PATH, etcd://host:port[,host:port…] or https://host:port[,host:port…]");
}
