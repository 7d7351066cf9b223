using System.Diagnostics.CodeAnalysis;
using System.Text;
using Ferry.Errors;

namespace Ferry.Storage;

public enum StorageKind
{
    File,
    S3,

    /// <summary>Azure Blob Storage: <c>az://container/prefix</c> (or <c>abs://</c>), the account from the environment.</summary>
    Azure,
}

/// <summary>
/// Where a task's backups go: <c>file:///absolute/dir</c>, a plain directory path (made absolute), or
/// <c>s3://bucket[/prefix][?endpoint=URL&amp;region=NAME&amp;path_style=true|false]</c>, each parameter optional:
/// what an s3:// URL leaves out comes from the environment (<c>FERRY_S3_ENDPOINT</c>, <c>AWS_REGION</c>).
/// Credentials never go in the URL: user information and parameters that look like one are refused, and no message
/// shows them. <see cref="ToString"/> gives the normalized form stored in the task, with the parameters in a fixed
/// order (endpoint, region, path_style).
/// <c>az://container[/prefix][?endpoint=URL]</c> (<c>abs://</c> is the same) names an Azure Blob container, in
/// <see cref="Bucket"/>; the account and its key, SAS or connection string come from the environment only, and
/// <c>endpoint=</c> (which may carry a path: Azurite's is <c>http://127.0.0.1:10000/devstoreaccount1</c>) goes over
/// the account's default endpoint.
/// </summary>
public sealed record StorageUrl(StorageKind Kind, string Location, string? Bucket = null, string? Prefix = null)
{
    private const string Parameters = "the parameters are endpoint=http(s)://host[:port], region=NAME (e.g. eu-west-3) and path_style=true|false, each at most once";
    private const string CredentialsElsewhere = "credentials don't go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) instead";
    private const string AzureParameters = "the one parameter is endpoint=http(s)://host[:port][/path], at most once";
    private const string AzureCredentialsElsewhere =
        "credentials don't go in the URL; set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, instead";
    private const string UseInstead = "use a directory, file:///dir, s3://bucket/prefix or az://container/prefix";

    /// <summary>The query parameters of an Azure shared access signature (a SAS pasted into the URL).</summary>
    private static readonly string[] SasParameters = ["sv", "ss", "srt", "sp", "se", "st", "spr", "sr", "si", "sdd", "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid"];

    /// <summary>Words in the names of access keys, secrets, session tokens and presigned-URL parameters (Signature, AWSAccessKeyId).</summary>
    private static readonly string[] CredentialWords = ["key", "secret", "token", "sig", "cred", "pass", "pwd", "auth", "session", "user"];

    /// <summary>
    /// The S3-compatible server the URL names (<c>endpoint=</c>, <c>scheme://host[:port]</c>); null: <c>FERRY_S3_ENDPOINT</c>,
    /// else AWS. For az://, the blob service endpoint (<c>scheme://host[:port][/path]</c>); null: the environment's, else
    /// <c>https://ACCOUNT.blob.core.windows.net</c>.
    /// </summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The signing region the URL names (<c>region=</c>); null: <c>AWS_REGION</c>, else us-east-1.</summary>
    public string? Region { get; init; }

    /// <summary>Path-style requests (<c>path_style=</c>); null: path-style with an endpoint, virtual-hosted for AWS.</summary>
    public bool? PathStyle { get; init; }

    public static StorageUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Length == 0) throw Invalid(url, "it is empty");
        if (url.StartsWith("s3://", StringComparison.Ordinal)) return ParseS3(url);
        if (url.StartsWith("az://", StringComparison.Ordinal)) return ParseAzure(url, "az://".Length);
        if (url.StartsWith("abs://", StringComparison.Ordinal)) return ParseAzure(url, "abs://".Length);

        if (url.StartsWith("file://", StringComparison.Ordinal))
        {
            var path = url["file://".Length..];
            if (!path.StartsWith('/')) throw Invalid(url, "a file:// URL needs an absolute path (file:///dir)");
            return new StorageUrl(StorageKind.File, Path.GetFullPath(path));
        }

        var colon = url.IndexOf("://", StringComparison.Ordinal);
        if (colon > 0)
        {
            // Named only when it is a scheme: before "://" may stand anything, a password too.
            var scheme = url[..colon];
            throw Invalid(url, scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.')
                ? $"scheme '{scheme}' is not supported; {UseInstead}"
                : UseInstead);
        }

        return new StorageUrl(StorageKind.File, Path.GetFullPath(url));
    }

    public override string ToString() => Kind switch
    {
        StorageKind.File => $"file://{Location}",
        StorageKind.Azure when Bucket is not null => FormatAzure(Bucket, Prefix ?? "", Endpoint),
        _ when Bucket is not null => FormatS3(Bucket, Prefix ?? "", Endpoint, Region, PathStyle),
        _ => Location,
    };

    /// <summary>
    /// Reads an S3 endpoint, from a URL's <c>endpoint=</c> or from <c>FERRY_S3_ENDPOINT</c>: an absolute http(s) URL
    /// of scheme, host and port only, no user information, path, query or fragment. <paramref name="problem"/> says
    /// what is wrong, naming at most the endpoint's <c>scheme://host:port</c>, never a password, path or query.
    /// </summary>
    internal static bool TryParseEndpoint(string text, [NotNullWhen(true)] out Uri? endpoint, out string problem) =>
        TryParseEndpoint(text, allowPath: false, out endpoint, out problem);

    /// <summary>
    /// <see cref="TryParseEndpoint(string, out Uri?, out string)"/>, and with <paramref name="allowPath"/> a path too
    /// (an Azure blob endpoint: Azurite's names the account, <c>http://127.0.0.1:10000/devstoreaccount1</c>); the
    /// path is never shown in a message either.
    /// </summary>
    internal static bool TryParseEndpoint(string text, bool allowPath, [NotNullWhen(true)] out Uri? endpoint, out string problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        endpoint = null;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Host.Length == 0 && uri.Scheme is "http" or "https"))
        {
            problem = "is not an absolute URL such as http://127.0.0.1:9000";
            return false;
        }

        // Never uri.ToString() or GetLeftPart, which keep the user information.
        var shown = uri.Port > 0 ? $"{uri.Scheme}://{uri.Host}:{uri.Port}" : $"{uri.Scheme}://{uri.Host}";
        // User information first: it is what must never be shown, and the other checks would name the endpoint.
        if (uri.UserInfo.Length > 0) problem = $"{shown} carries credentials (user:password@); {CredentialsElsewhere}";
        else if (uri.Scheme is not ("http" or "https")) problem = $"{shown} is not http or https; use e.g. http://127.0.0.1:9000";
        else if (uri.Query.Length > 0 || uri.Fragment.Length > 0) problem = $"{shown} has a query string or fragment; give scheme://host:port only";
        else if (uri.AbsolutePath != "/" && !allowPath) problem = $"{shown} has a path; give scheme://host:port only";
        else
        {
            endpoint = new Uri(allowPath ? FormatEndpointWithPath(uri) : FormatEndpoint(uri));
            problem = "";
            return true;
        }

        return false;
    }

    /// <summary><c>scheme://host[:port]</c> of <paramref name="endpoint"/>, the port left out when it is the scheme's default.</summary>
    internal static string FormatEndpoint(Uri endpoint) => $"{endpoint.Scheme}://{endpoint.Authority}";

    /// <summary><see cref="FormatEndpoint"/> followed by the endpoint's path, without a trailing '/'.</summary>
    internal static string FormatEndpointWithPath(Uri endpoint) => FormatEndpoint(endpoint) + endpoint.AbsolutePath.TrimEnd('/');

    /// <summary>
    /// An az:// URL. A container name is 3-63 lower-case letters, digits and single '-', starting with a letter or
    /// digit (Azure's rule); the only parameter is <c>endpoint</c>. Anything that may be a credential (user
    /// information, a SAS's parameters, names with key, sig, token…) is refused without being shown.
    /// </summary>
    private static StorageUrl ParseAzure(string url, int schemeLength)
    {
        var end = url.IndexOfAny(['?', '#']);
        var rest = (end < 0 ? url : url[..end])[schemeLength..].Trim('/');
        var slash = rest.IndexOf('/');
        var container = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (!IsContainerName(container))
        {
            // As for s3://: an '@' with no valid container before it is user:password@, and the password may hold '/' or '?'.
            throw url.Contains('@', StringComparison.Ordinal)
                ? Invalid(url, AzureCredentialsElsewhere)
                : Invalid(url, $"'{container}' is not a valid container name (3-63 lower-case letters, digits and single '-', starting with a letter or digit)");
        }

        if (url.Contains('#', StringComparison.Ordinal)) throw Invalid(url, "an az:// URL takes no fragment ('#')");
        var parsed = new StorageUrl(StorageKind.Azure, "", container, prefix);
        if (end >= 0) parsed = WithAzureParameters(parsed, url, url[(end + 1)..]);
        return parsed with { Location = parsed.ToString() };
    }

    private static StorageUrl WithAzureParameters(StorageUrl parsed, string url, string query)
    {
        if (query.Length == 0) throw Invalid(url, $"there is nothing after '?'; {AzureParameters}");
        var parts = query.Split('&');
        // A SAS is a set of parameters (sv=…&sp=…&sig=…): one of them is enough to refuse the whole query unseen.
        foreach (var part in parts)
        {
            var equals = part.IndexOf('=');
            var name = Uri.UnescapeDataString(equals < 0 ? part : part[..equals]);
            if (LooksLikeCredential(name) || SasParameters.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw Invalid(url, $"parameter {Shown(name)} looks like a credential (a key or shared access signature): {AzureCredentialsElsewhere}");
            }
        }

        var seen = false;
        foreach (var part in parts)
        {
            if (part.Length == 0) throw Invalid(url, $"it has an empty parameter ('&&', or '&' at an end); {AzureParameters}");
            var equals = part.IndexOf('=');
            var name = Uri.UnescapeDataString(equals < 0 ? part : part[..equals]);
            var value = equals < 0 ? "" : Uri.UnescapeDataString(part[(equals + 1)..]);
            if (name != "endpoint") throw Invalid(url, $"unknown parameter {Shown(name)}; {AzureParameters}");
            if (seen) throw Invalid(url, $"parameter 'endpoint' is given more than once; {AzureParameters}");
            seen = true;
            if (value.Length == 0) throw Invalid(url, $"parameter 'endpoint' is empty; {AzureParameters}");
            parsed = parsed with
            {
                Endpoint = TryParseEndpoint(value, allowPath: true, out var endpoint, out var problem) ? endpoint : throw Invalid(url, $"endpoint {problem}"),
            };
        }

        return parsed;
    }

    private static bool IsContainerName(string name) =>
        name.Length is >= 3 and <= 63
        && (char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0]))
        && name[^1] != '-'
        && !name.Contains("--", StringComparison.Ordinal)
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    private static string FormatAzure(string container, string prefix, Uri? endpoint)
    {
        var text = new StringBuilder("az://").Append(container);
        if (prefix.Length > 0) text.Append('/').Append(prefix);
        if (endpoint is not null) text.Append("?endpoint=").Append(FormatEndpointWithPath(endpoint));
        return text.ToString();
    }

    private static StorageUrl ParseS3(string url)
    {
        var end = url.IndexOfAny(['?', '#']);
        var rest = (end < 0 ? url : url[..end])["s3://".Length..].Trim('/');
        var slash = rest.IndexOf('/');
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
        {
            // Credentials come from the environment only. An '@' with no valid bucket before it is user:password@,
            // and what was read as the bucket may be part of the password (which may hold '/' or '?'): name neither.
            throw url.Contains('@', StringComparison.Ordinal)
                ? Invalid(url, CredentialsElsewhere)
                : Invalid(url, $"'{bucket}' is not a valid bucket name (3-63 lower-case letters, digits, '-' or '.')");
        }

        // '#' would start a fragment in any other URL: refused rather than read as part of the prefix.
        if (url.Contains('#', StringComparison.Ordinal)) throw Invalid(url, "an s3:// URL takes no fragment ('#')");
        var parsed = new StorageUrl(StorageKind.S3, "", bucket, prefix);
        if (end >= 0) parsed = WithParameters(parsed, url, url[(end + 1)..]);
        return parsed with { Location = parsed.ToString() };
    }

    /// <summary>
    /// The query of an s3:// URL. No value is ever shown in a message (only an endpoint's scheme://host:port): a
    /// value may be a secret pasted in the wrong place. A name is shown when it is a plain short word.
    /// </summary>
    private static StorageUrl WithParameters(StorageUrl parsed, string url, string query)
    {
        if (query.Length == 0) throw Invalid(url, $"there is nothing after '?'; {Parameters}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in query.Split('&'))
        {
            if (part.Length == 0) throw Invalid(url, $"it has an empty parameter ('&&', or '&' at an end); {Parameters}");
            var equals = part.IndexOf('=');
            var name = Uri.UnescapeDataString(equals < 0 ? part : part[..equals]);
            var value = equals < 0 ? "" : Uri.UnescapeDataString(part[(equals + 1)..]);
            if (LooksLikeCredential(name)) throw Invalid(url, $"parameter {Shown(name)} looks like a credential: {CredentialsElsewhere}");
            if (name is not ("endpoint" or "region" or "path_style")) throw Invalid(url, $"unknown parameter {Shown(name)}; {Parameters}");
            if (!seen.Add(name)) throw Invalid(url, $"parameter '{name}' is given more than once; {Parameters}");
            if (value.Length == 0) throw Invalid(url, $"parameter '{name}' is empty; {Parameters}");
            parsed = name switch
            {
                "endpoint" => parsed with
                {
                    Endpoint = TryParseEndpoint(value, out var endpoint, out var problem) ? endpoint : throw Invalid(url, $"endpoint {problem}"),
                },
                "region" => parsed with
                {
                    Region = IsRegionName(value) ? value : throw Invalid(url, "region must be a region name such as us-east-1 or eu-west-3 (2-32 lower-case letters, digits and single '-', starting with a letter)"),
                },
                _ => parsed with
                {
                    PathStyle = value switch
                    {
                        "true" => true,
                        "false" => false,
                        _ => throw Invalid(url, "path_style must be true or false"),
                    },
                },
            };
        }

        return parsed;
    }

    /// <summary>AWS's names (us-east-1, us-gov-west-1) and S3-compatible servers' (auto, garage): lower-case words joined by single '-'.</summary>
    private static bool IsRegionName(string value) =>
        value.Length is >= 2 and <= 32
        && char.IsAsciiLetterLower(value[0])
        && value.Split('-').All(word => word.Length > 0 && word.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)));

    /// <summary>A name that may carry a credential: any X-Amz-* (a presigned URL's) or one with a <see cref="CredentialWords"/> word in it.</summary>
    private static bool LooksLikeCredential(string name) =>
        name.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase)
        || CredentialWords.Any(word => name.Contains(word, StringComparison.OrdinalIgnoreCase));

    /// <summary>A parameter's name for a message: quoted when it is a short plain word, else not shown (it may be a pasted secret).</summary>
    private static string Shown(string name) =>
        name.Length is >= 1 and <= 24 && char.IsAsciiLetter(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')
            ? $"'{name}'"
            : "(name not shown)";

    private static string FormatS3(string bucket, string prefix, Uri? endpoint, string? region, bool? pathStyle)
    {
        var text = new StringBuilder("s3://").Append(bucket);
        if (prefix.Length > 0) text.Append('/').Append(prefix);
        var separator = '?';
        if (endpoint is not null) Append("endpoint", FormatEndpoint(endpoint));
        if (region is not null) Append("region", region);
        if (pathStyle is { } style) Append("path_style", style ? "true" : "false");
        return text.ToString();

        void Append(string name, string value)
        {
            text.Append(separator).Append(name).Append('=').Append(value);
            separator = '&';
        }
    }

    private static FerryException Invalid(string url, string why) =>
        new(ErrorCodes.ConfigInvalidStorageUrl, $"invalid storage URL '{Redaction.Url(url)}': {why}");
}
