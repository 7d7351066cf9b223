using Azure;
using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Azure;

/// <summary>
/// Objects as block blobs in an Azure Blob Storage container under a name prefix (<c>az://container/prefix</c>):
/// object <c>name</c> is blob <c>prefix/name</c>. The account, its endpoint and credentials come from
/// <see cref="AzureStorageOptions"/> (the environment), the endpoint from the URL's <c>endpoint=</c> where it names one.
/// A put is create-if-absent with <c>If-None-Match: *</c>: a blob of that name answers 409 BlobAlreadyExists, and
/// the caller compares contents (its own earlier attempt, or someone else's: a conflict). The SDK retries a request
/// at most <see cref="AzureStorageOptions.MaxRetries"/> times; every request runs under a deadline linked to the
/// caller's token and every read of a blob's body under an idle timeout; a deadline is a Timeout, the caller's
/// cancel is Cancelled. No secret appears in messages or <see cref="ToString"/>.
/// </summary>
public sealed class AzureBlobStorage : IObjectStorage
{
    private readonly BlobContainerClient _container;
    private readonly AzureStorageOptions _options;
    private readonly string _keyPrefix;

    /// <summary>Opens <paramref name="url"/> with the credentials from the environment (<see cref="AzureStorageOptions.FromEnvironment()"/>).</summary>
    public AzureBlobStorage(StorageUrl url)
        : this(url, AzureStorageOptions.FromEnvironment())
    {
    }

    /// <summary>Opens <paramref name="url"/> with <paramref name="options"/>; the URL's endpoint takes the place of the options' own.</summary>
    public AzureBlobStorage(StorageUrl url, AzureStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(options);
        if (url.Kind != StorageKind.Azure || url.Bucket is null) throw new ArgumentException($"{url} is not an az:// URL", nameof(url));
        options = options.WithUrl(url);
        options.Validate();
        _options = options;
        var prefix = (url.Prefix ?? "").Trim('/');
        _keyPrefix = prefix.Length == 0 ? "" : prefix + "/";
        // The URL's normalized form: container, prefix and endpoint, never a credential.
        Description = url.ToString();
        _container = CreateService(options).GetBlobContainerClient(url.Bucket);
    }

    public string Description { get; }

    /// <summary>Where requests go, for tests: the container's URI (it carries no credential: a SAS rides in a credential object).</summary>
    internal Uri ContainerUri => _container.Uri;

    public async Task<bool> PutIfAbsentAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        try
        {
            var upload = new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } };
            using var deadline = Deadline(_options.UploadTimeout, cancellationToken);
            await _container.GetBlobClient(_keyPrefix + name).UploadAsync(content, upload, deadline.Token);
            return true;
        }
        catch (RequestFailedException e) when (IsNameTaken(e))
        {
            // Taken: by our own earlier attempt whose answer was lost, or by someone else; the caller reads it and decides.
            return false;
        }
        catch (Exception e)
        {
            throw AzureErrorClassifier.Classify(e, new ErrorContext(Operation: $"put {name}"), cancellationToken);
        }
    }

    public async Task<Stream?> TryOpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        try
        {
            using var deadline = Deadline(_options.RequestTimeout, cancellationToken);
            var response = await _container.GetBlobClient(_keyPrefix + name).DownloadStreamingAsync(cancellationToken: deadline.Token);
            return new ResponseBodyStream(response.Value.Content, response.Value.Details.ContentLength, response.Value, "Azure", name, _options.ReadIdleTimeout, AzureErrorClassifier.Classify);
        }
        catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.BlobNotFound)
        {
            // Absence is this method's answer, not an error (a missing container is).
            return null;
        }
        catch (Exception e)
        {
            throw AzureErrorClassifier.Classify(e, new ErrorContext(Operation: $"read {name}"), cancellationToken);
        }
    }

    public async Task<IReadOnlyList<ObjectInfo>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ObjectNames.ValidatePrefix(prefix);
        var result = new List<ObjectInfo>();
        string? continuation = null;
        try
        {
            do
            {
                // One page per request, each under its own deadline: a long listing is not cut off as a whole.
                using var deadline = Deadline(_options.RequestTimeout, cancellationToken);
                var pages = _container.GetBlobsAsync(new GetBlobsOptions { Prefix = _keyPrefix + prefix }, deadline.Token)
                    .AsPages(continuation, _options.ListPageSize);
                var enumerator = pages.GetAsyncEnumerator(deadline.Token);
                await using (enumerator)
                {
                    if (!await enumerator.MoveNextAsync()) break;
                    foreach (var blob in enumerator.Current.Values)
                    {
                        var name = blob.Name[_keyPrefix.Length..];
                        if (name.StartsWith(prefix, StringComparison.Ordinal) && ObjectNames.IsValid(name))
                        {
                            result.Add(new ObjectInfo(name, blob.Properties.ContentLength ?? 0, blob.Properties.LastModified?.ToUniversalTime()));
                        }
                    }

                    continuation = enumerator.Current.ContinuationToken;
                }
            }
            while (!string.IsNullOrEmpty(continuation));
        }
        catch (Exception e)
        {
            throw AzureErrorClassifier.Classify(e, new ErrorContext(Operation: $"list {prefix}"), cancellationToken);
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ObjectNames.Validate(name);
        try
        {
            using var deadline = Deadline(_options.RequestTimeout, cancellationToken);
            await _container.GetBlobClient(_keyPrefix + name).DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions: null, deadline.Token);
            return true;
        }
        catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.BlobNotFound)
        {
            // Azure tells a missing blob from a missing container (ContainerNotFound), which stays an error.
            return false;
        }
        catch (Exception e)
        {
            throw AzureErrorClassifier.Classify(e, new ErrorContext(Operation: $"delete {name}"), cancellationToken);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public override string ToString() => Description;

    /// <summary>
    /// 409 BlobAlreadyExists answers a single-shot put; a put that went in blocks answers its commit with 412
    /// ConditionNotMet instead.
    /// </summary>
    private static bool IsNameTaken(RequestFailedException e) =>
        (e.Status == 409 && e.ErrorCode == BlobErrorCode.BlobAlreadyExists) || (e.Status == 412 && e.ErrorCode == BlobErrorCode.ConditionNotMet);

    private static CancellationTokenSource Deadline(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(timeout);
        return source;
    }

    private static BlobServiceClient CreateService(AzureStorageOptions options)
    {
        var client = new BlobClientOptions();
        client.Retry.MaxRetries = options.MaxRetries;
        client.Retry.Mode = RetryMode.Exponential;
        client.Retry.Delay = TimeSpan.FromMilliseconds(200);
        client.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        // The SDK's per-try timeout (100 s by default) is only a backstop: each call's own deadline is the tighter one.
        client.Retry.NetworkTimeout = options.UploadTimeout;

        if (options.ConnectionString is { } connection)
        {
            try
            {
                return new BlobServiceClient(WithBlobEndpoint(connection.Reveal(), options.Endpoint), client);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                // The SDK's message may quote the connection string: neither it nor the exception goes further.
                throw AzureStorageOptions.Credentials(
                    $"{AzureStorageOptions.ConnectionStringVariable} is not a usable connection string ({e.GetType().Name}); "
                    + "give AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature, separated by ';'");
            }
        }

        var account = options.AccountName!;
        var endpoint = options.Endpoint ?? new Uri($"https://{account}.blob.core.windows.net");
        if (options.AccountKey is { } key)
        {
            StorageSharedKeyCredential credential;
            try
            {
                credential = new StorageSharedKeyCredential(account, key.Reveal());
            }
            catch (FormatException)
            {
                throw AzureStorageOptions.Credentials($"{AzureStorageOptions.KeyVariable} is not a base64 account key; copy key1 or key2 of the storage account");
            }

            return new BlobServiceClient(endpoint, credential, client);
        }

        return new BlobServiceClient(endpoint, new AzureSasCredential(options.SasToken!.Reveal().TrimStart('?')), client);
    }

    /// <summary>
    /// <paramref name="connection"/> with its blob endpoint replaced by <paramref name="endpoint"/> when there is one:
    /// the URL's endpoint goes over the connection string's, its credentials stay.
    /// </summary>
    internal static string WithBlobEndpoint(string connection, Uri? endpoint)
    {
        if (endpoint is null) return connection;
        var settings = connection.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(s => !s.StartsWith("BlobEndpoint=", StringComparison.OrdinalIgnoreCase));
        return string.Join(';', [.. settings, $"BlobEndpoint={StorageUrl.FormatEndpointWithPath(endpoint)}"]);
    }
}
