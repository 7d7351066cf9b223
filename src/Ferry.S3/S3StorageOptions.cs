using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.S3;

/// <summary>
/// How <see cref="S3ObjectStorage"/> reaches S3. <see cref="FromEnvironment()"/> reads the standard AWS variables
/// (<c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_SESSION_TOKEN</c>, <c>AWS_REGION</c> or
/// <c>AWS_DEFAULT_REGION</c>) and <c>FERRY_S3_ENDPOINT</c> for an S3-compatible server (MinIO, s3rver); a storage
/// URL's own <c>endpoint</c>, <c>region</c> and <c>path_style</c> go over them (<see cref="WithUrl"/>).
/// The secret is held in a <see cref="S3Secret"/> whose <c>ToString</c> hides it.
/// </summary>
public sealed record S3StorageOptions
{
    /// <summary>Environment variable naming an S3-compatible endpoint, e.g. <c>http://127.0.0.1:9000</c>; unset for AWS.</summary>
    public const string EndpointVariable = "FERRY_S3_ENDPOINT";

    /// <summary>An S3-compatible endpoint, <c>scheme://host[:port]</c>; null for AWS S3 itself.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>
    /// Path-style requests (<c>host/bucket/key</c>) rather than virtual-hosted ones (<c>bucket.host/key</c>). Null
    /// (the default): path-style with an <see cref="Endpoint"/>, which S3-compatible servers expect, virtual-hosted
    /// for AWS. See <see cref="UsesPathStyle"/>.
    /// </summary>
    public bool? PathStyle { get; init; }

    /// <summary>Whether requests are path-style: <see cref="PathStyle"/>, else whether there is an <see cref="Endpoint"/>.</summary>
    public bool UsesPathStyle => PathStyle ?? Endpoint is not null;

    /// <summary>The signing region. Default us-east-1.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>The access key id; null to use the AWS SDK's default credential chain (profiles, instance roles).</summary>
    public string? AccessKeyId { get; init; }

    public S3Secret? SecretAccessKey { get; init; }

    public S3Secret? SessionToken { get; init; }

    /// <summary>Deadline of one request (list page, head, delete, the start of a get). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a read of an object's body may wait for its next bytes before it fails with
    /// <c>FERRY:Storage:Timeout</c>: a stalled connection fails instead of hanging, while a large object on a slow
    /// link, which keeps sending, is never cut off. Default 30 s.
    /// </summary>
    public TimeSpan ReadIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of one upload, which carries a whole object. Default 5 min.</summary>
    public TimeSpan UploadTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Keys per list page (S3 allows 1 to 1000). Default 1000; tests lower it to exercise pagination.</summary>
    public int ListPageSize { get; init; } = 1000;

    /// <summary>
    /// The options the environment gives. A <c>FERRY_S3_ENDPOINT</c> that is not <c>http(s)://host[:port]</c> is
    /// <c>FERRY:Config:InvalidStorageUrl</c>, whose message shows at most its scheme, host and port.
    /// </summary>
    public static S3StorageOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable, includeEndpoint: true);

    /// <summary>
    /// <see cref="FromEnvironment()"/> reading <paramref name="variable"/>; without <paramref name="includeEndpoint"/>
    /// <c>FERRY_S3_ENDPOINT</c> is not read at all (the storage URL names its own endpoint, and a broken variable
    /// meant for other tasks is not in its way).
    /// </summary>
    internal static S3StorageOptions FromEnvironment(Func<string, string?> variable, bool includeEndpoint)
    {
        Uri? endpoint = null;
        var endpointText = includeEndpoint ? variable(EndpointVariable) : null;
        if (!string.IsNullOrWhiteSpace(endpointText) && !StorageUrl.TryParseEndpoint(endpointText, out endpoint, out var problem))
        {
            throw new FerryException(ErrorCodes.ConfigInvalidStorageUrl, $"{EndpointVariable} {problem}", new ErrorContext(Operation: "open storage"));
        }

        var region = variable("AWS_REGION");
        if (string.IsNullOrWhiteSpace(region)) region = variable("AWS_DEFAULT_REGION");
        var keyId = variable("AWS_ACCESS_KEY_ID");
        var secret = variable("AWS_SECRET_ACCESS_KEY");
        var token = variable("AWS_SESSION_TOKEN");
        var haveKeys = !string.IsNullOrEmpty(keyId) && !string.IsNullOrEmpty(secret);
        return new S3StorageOptions
        {
            Endpoint = endpoint,
            Region = string.IsNullOrWhiteSpace(region) ? "us-east-1" : region,
            AccessKeyId = haveKeys ? keyId : null,
            SecretAccessKey = haveKeys ? new S3Secret(secret!) : null,
            SessionToken = haveKeys && !string.IsNullOrEmpty(token) ? new S3Secret(token) : null,
        };
    }

    /// <summary>These options with what <paramref name="url"/> names (endpoint, region, path_style) in place of their own.</summary>
    public S3StorageOptions WithUrl(StorageUrl url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return this with
        {
            Endpoint = url.Endpoint ?? Endpoint,
            Region = url.Region ?? Region,
            PathStyle = url.PathStyle ?? PathStyle,
        };
    }

    public void Validate()
    {
        if (ListPageSize is < 1 or > 1000) throw new ArgumentException($"ListPageSize is {ListPageSize}; S3 allows 1 to 1000 keys per page");
        if (RequestTimeout <= TimeSpan.Zero || UploadTimeout <= TimeSpan.Zero || ReadIdleTimeout <= TimeSpan.Zero) throw new ArgumentException("timeouts must be positive; use TimeSpan.FromSeconds(30) or longer");
        if ((AccessKeyId is null) != (SecretAccessKey is null)) throw new ArgumentException("set both AccessKeyId and SecretAccessKey, or neither to use the default credential chain");
    }

    public override string ToString() =>
        $"S3StorageOptions(endpoint={(Endpoint is null ? "aws" : StorageUrl.FormatEndpoint(Endpoint))}, region={Region}, path_style={(UsesPathStyle ? "true" : "false")}, credentials={(AccessKeyId is null ? "default chain" : "environment")})";
}

/// <summary>A secret string that never shows itself in logs or messages.</summary>
public sealed class S3Secret(string value)
{
    internal string Reveal() => value;

    public override string ToString() => "***";
}
