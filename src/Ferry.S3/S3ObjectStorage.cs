using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.S3;

/// <summary>
/// Objects in an S3 bucket under a key prefix (<c>s3://bucket/prefix</c>): object <c>name</c> is key
/// <c>prefix/name</c>. The server, region and path style are the URL's (<c>?endpoint=…&amp;region=…&amp;path_style=…</c>)
/// where it names them, else the options' (<see cref="S3StorageOptions.FromEnvironment()"/>). Path-style requests to
/// an endpoint and no chunked (streaming-signature) uploads, so S3-compatible servers work.
/// Every request runs under a deadline linked to the caller's token, and every read of an object's body under an
/// idle timeout; a deadline is a Timeout, the caller's cancel is Cancelled. Credentials come from <see cref="S3StorageOptions"/> and never appear in messages or ToString.
/// </summary>
public sealed class S3ObjectStorage : IObjectStorage
{
    private readonly IAmazonS3 _client;
    private readonly S3StorageOptions _options;
    private readonly string _bucket;
    private readonly string _keyPrefix;

    /// <summary>
    /// Opens <paramref name="url"/> with the options from the environment (<see cref="S3StorageOptions.FromEnvironment()"/>)
    /// under the URL's own parameters. <c>FERRY_S3_ENDPOINT</c> is not read when the URL names its endpoint.
    /// </summary>
    public S3ObjectStorage(StorageUrl url)
        : this(url, S3StorageOptions.FromEnvironment(Environment.GetEnvironmentVariable, includeEndpoint: url?.Endpoint is null))
    {
    }

    /// <summary>Opens <paramref name="url"/> with <paramref name="options"/>; the URL's endpoint, region and path_style take the place of the options' own.</summary>
    public S3ObjectStorage(StorageUrl url, S3StorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(options);
        if (url.Kind != StorageKind.S3 || url.Bucket is null) throw new ArgumentException($"{url} is not an s3:// URL", nameof(url));
        options = options.WithUrl(url);
        options.Validate();
        _options = options;
        _bucket = url.Bucket;
        var prefix = (url.Prefix ?? "").Trim('/');
        _keyPrefix = prefix.Length == 0 ? "" : prefix + "/";
        // The URL's normalized form: bucket, prefix and the parameters it gave, never a credential.
        Description = url.ToString();
        _client = CreateClient(options);
    }

    public string Description { get; }

    /// <summary>The client's configuration, for tests of what reaches it.</summary>
    internal AmazonS3Config ClientConfig => (AmazonS3Config)_client.Config;

    public async Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var context = new ErrorContext(Operation: $"put {name}");
        try
        {
            // The SDK needs a length to sign without chunked encoding: buffer a stream that cannot tell it.
            var body = content;
            MemoryStream? buffered = null;
            if (!content.CanSeek)
            {
                buffered = new MemoryStream();
                await content.CopyToAsync(buffered, cancellationToken);
                buffered.Position = 0;
                body = buffered;
            }

            await using (buffered)
            {
                var request = new PutObjectRequest
                {
                    BucketName = _bucket,
                    Key = _keyPrefix + name,
                    InputStream = body,
                    AutoCloseStream = false,
                    UseChunkEncoding = false,
                    // Create-if-absent: real S3 and MinIO answer 412 PreconditionFailed when the key exists.
                    // NOTE: s3rver (the test server) ignores conditional writes and overwrites; tests against it
                    // cannot observe the "already exists" answer.
                    IfNoneMatch = "*",
                };
                using var deadline = Deadline(_options.UploadTimeout, cancellationToken);
                await _client.PutObjectAsync(request, deadline.Token);
                return true;
            }
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed || e.ErrorCode == "PreconditionFailed")
        {
            return false;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.Conflict && e.ErrorCode == "ConditionalRequestConflict")
        {
            // A concurrent conditional write to the same key is in flight: someone else is writing this name.
            return false;
        }
        catch (Exception e)
        {
            throw S3ErrorClassifier.Classify(e, context, cancellationToken);
        }
    }

    public async Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        try
        {
            using var deadline = Deadline(_options.RequestTimeout, cancellationToken);
            var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = _keyPrefix + name }, deadline.Token);
            return new ResponseBodyStream(response.ResponseStream, response.ContentLength, response, "S3", name, _options.ReadIdleTimeout, S3ErrorClassifier.Classify);
        }
        catch (AmazonS3Exception e) when (IsMissingKey(e))
        {
            // Absence is this method's answer, not an error.
            return null;
        }
        catch (Exception e)
        {
            throw S3ErrorClassifier.Classify(e, new ErrorContext(Operation: $"read {name}"), cancellationToken);
        }
    }

    public async Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ObjectNames.ValidatePrefix(prefix);
        var result = new List<ObjectInfo>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = _keyPrefix + prefix, MaxKeys = _options.ListPageSize };
        try
        {
            while (true)
            {
                ListObjectsV2Response page;
                using (var deadline = Deadline(_options.RequestTimeout, cancellationToken))
                {
                    page = await _client.ListObjectsV2Async(request, deadline.Token);
                }

                foreach (var o in page.S3Objects ?? [])
                {
                    var name = o.Key[_keyPrefix.Length..];
                    if (name.StartsWith(prefix, StringComparison.Ordinal) && ObjectNames.IsValid(name))
                    {
                        result.Add(new ObjectInfo(name, o.Size ?? 0, o.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime(), TimeSpan.Zero) : null));
                    }
                }

                if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken)) break;
                request.ContinuationToken = page.NextContinuationToken;
            }
        }
        catch (Exception e)
        {
            throw S3ErrorClassifier.Classify(e, new ErrorContext(Operation: $"list {prefix}"), cancellationToken);
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        var key = _keyPrefix + name;
        try
        {
            // S3 answers a delete the same whether or not the key existed; ask first to report absence.
            using (var deadline = Deadline(_options.RequestTimeout, cancellationToken))
            {
                try
                {
                    await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = key }, deadline.Token);
                }
                catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
                {
                    return false;
                }
            }

            using (var deadline = Deadline(_options.RequestTimeout, cancellationToken))
            {
                await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = key }, deadline.Token);
            }

            return true;
        }
        catch (Exception e)
        {
            throw S3ErrorClassifier.Classify(e, new ErrorContext(Operation: $"delete {name}"), cancellationToken);
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    public override string ToString() => Description;

    private static bool IsMissingKey(AmazonS3Exception e) =>
        e.ErrorCode == "NoSuchKey" || (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode is null or "" or "NotFound");

    private static CancellationTokenSource Deadline(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(timeout);
        return source;
    }

    private static AmazonS3Client CreateClient(S3StorageOptions options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.UsesPathStyle,
            Timeout = options.UploadTimeout,
            MaxErrorRetry = 2,
            // Checksums only where S3 requires them: S3-compatible servers do not all understand trailing checksums.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            AuthenticationRegion = options.Region,
        };
        if (options.Endpoint is not null)
        {
            config.ServiceURL = options.Endpoint.ToString();
            config.UseHttp = options.Endpoint.Scheme == "http";
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        if (options.AccessKeyId is null) return new AmazonS3Client(config);
        AWSCredentials credentials = options.SessionToken is null
            ? new BasicAWSCredentials(options.AccessKeyId, options.SecretAccessKey!.Reveal())
            : new SessionAWSCredentials(options.AccessKeyId, options.SecretAccessKey!.Reveal(), options.SessionToken.Reveal());
        return new AmazonS3Client(credentials, config);
    }
}
