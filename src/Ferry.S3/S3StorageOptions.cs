namespace Ferry.S3;

/// <summary>
/// How <see cref="S3ObjectStorage"/> reaches S3. <see cref="FromEnvironment"/> reads the standard AWS variables
/// (<c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_SESSION_TOKEN</c>, <c>AWS_REGION</c> or
/// <c>AWS_DEFAULT_REGION</c>) and <c>FERRY_S3_ENDPOINT</c> for an S3-compatible server (MinIO, s3rver).
/// The secret is held in a <see cref="S3Secret"/> whose <c>ToString</c> hides it.
/// </summary>
public sealed class S3StorageOptions
{
    /// <summary>Environment variable naming an S3-compatible endpoint, e.g. <c>http://127.0.0.1:9000</c>; unset for AWS.</summary>
    public const string EndpointVariable = "FERRY_S3_ENDPOINT";

    /// <summary>An S3-compatible endpoint (path-style requests); null for AWS S3 itself.</summary>
    public Uri? Endpoint { get; init; }

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

    public static S3StorageOptions FromEnvironment()
    {
        var endpoint = Environment.GetEnvironmentVariable(EndpointVariable);
        Uri? endpointUri = null;
        if (!string.IsNullOrWhiteSpace(endpoint)
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out endpointUri) || endpointUri.Scheme is not ("http" or "https")))
        {
            throw new ArgumentException($"{EndpointVariable}='{endpoint}' is not an http(s) URL such as http://127.0.0.1:9000");
        }

        var region = Environment.GetEnvironmentVariable("AWS_REGION");
        if (string.IsNullOrWhiteSpace(region)) region = Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION");
        var keyId = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        var token = Environment.GetEnvironmentVariable("AWS_SESSION_TOKEN");
        var haveKeys = !string.IsNullOrEmpty(keyId) && !string.IsNullOrEmpty(secret);
        return new S3StorageOptions
        {
            Endpoint = endpointUri,
            Region = string.IsNullOrWhiteSpace(region) ? "us-east-1" : region,
            AccessKeyId = haveKeys ? keyId : null,
            SecretAccessKey = haveKeys ? new S3Secret(secret!) : null,
            SessionToken = haveKeys && !string.IsNullOrEmpty(token) ? new S3Secret(token) : null,
        };
    }

    public void Validate()
    {
        if (ListPageSize is < 1 or > 1000) throw new ArgumentException($"ListPageSize is {ListPageSize}; S3 allows 1 to 1000 keys per page");
        if (RequestTimeout <= TimeSpan.Zero || UploadTimeout <= TimeSpan.Zero || ReadIdleTimeout <= TimeSpan.Zero) throw new ArgumentException("timeouts must be positive; use TimeSpan.FromSeconds(30) or longer");
        if ((AccessKeyId is null) != (SecretAccessKey is null)) throw new ArgumentException("set both AccessKeyId and SecretAccessKey, or neither to use the default credential chain");
    }

    public override string ToString() => $"S3StorageOptions(endpoint={Endpoint?.ToString() ?? "aws"}, region={Region}, credentials={(AccessKeyId is null ? "default chain" : "environment")})";
}

/// <summary>A secret string that never shows itself in logs or messages.</summary>
public sealed class S3Secret(string value)
{
    internal string Reveal() => value;

    public override string ToString() => "***";
}
