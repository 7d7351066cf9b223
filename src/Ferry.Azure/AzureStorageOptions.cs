using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Azure;

/// <summary>
/// How <see cref="AzureBlobStorage"/> reaches Azure Blob Storage. Credentials come from the environment only
/// (<see cref="FromEnvironment()"/>), in this order: <c>AZURE_STORAGE_CONNECTION_STRING</c>; else
/// <c>AZURE_STORAGE_ACCOUNT</c> with <c>AZURE_STORAGE_KEY</c> (a shared key); else <c>AZURE_STORAGE_ACCOUNT</c> with
/// <c>AZURE_STORAGE_SAS_TOKEN</c>. A storage URL's <c>endpoint=</c> goes over the connection string's blob endpoint and
/// over the account's default <c>https://ACCOUNT.blob.core.windows.net</c> (<see cref="WithUrl"/>). Every secret is
/// held in an <see cref="AzureSecret"/> whose <c>ToString</c> hides it.
/// </summary>
public sealed record AzureStorageOptions
{
    public const string ConnectionStringVariable = "AZURE_STORAGE_CONNECTION_STRING";
    public const string AccountVariable = "AZURE_STORAGE_ACCOUNT";
    public const string KeyVariable = "AZURE_STORAGE_KEY";
    public const string SasTokenVariable = "AZURE_STORAGE_SAS_TOKEN";

    /// <summary>What to set, for messages about missing or malformed credentials.</summary>
    internal const string CredentialVariables =
        $"set {ConnectionStringVariable}, or {AccountVariable} with {KeyVariable} or {SasTokenVariable}";

    /// <summary>The blob service endpoint, e.g. <c>http://127.0.0.1:10000/devstoreaccount1</c> for Azurite; null: the connection string's, else the account's default.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary>A full connection string (<c>AccountName=…;AccountKey=…</c> or <c>BlobEndpoint=…;SharedAccessSignature=…</c>); it goes over the other credentials.</summary>
    public AzureSecret? ConnectionString { get; init; }

    /// <summary>The storage account name, with <see cref="AccountKey"/> or <see cref="SasToken"/>.</summary>
    public string? AccountName { get; init; }

    /// <summary>The account's shared key (base64).</summary>
    public AzureSecret? AccountKey { get; init; }

    /// <summary>A shared access signature, with or without its leading '?'.</summary>
    public AzureSecret? SasToken { get; init; }

    /// <summary>Deadline of one request (list page, delete, the start of a download). Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a read of a blob's body may wait for its next bytes before it fails with <c>FERRY:Storage:Timeout</c>:
    /// a stalled connection fails instead of hanging, a large blob on a slow link is never cut off. Default 30 s.
    /// </summary>
    public TimeSpan ReadIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of one upload, which carries a whole object. Default 5 min.</summary>
    public TimeSpan UploadTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Retries the SDK makes of one request before the failure comes to Ferry, whose own policy (backoff, retry
    /// budget, pause) decides from there. Default 2, with short delays: the SDK's own default would hold a request
    /// for minutes.
    /// </summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>Blobs per list page (Azure allows 1 to 5000). Default 5000; tests lower it to exercise pagination.</summary>
    public int ListPageSize { get; init; } = 5000;

    /// <summary>The options the environment gives; see the type's summary for the variables.</summary>
    public static AzureStorageOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    internal static AzureStorageOptions FromEnvironment(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        var connection = variable(ConnectionStringVariable);
        var account = variable(AccountVariable);
        var key = variable(KeyVariable);
        var sas = variable(SasTokenVariable);
        return new AzureStorageOptions
        {
            ConnectionString = string.IsNullOrWhiteSpace(connection) ? null : new AzureSecret(connection.Trim()),
            AccountName = string.IsNullOrWhiteSpace(account) ? null : account.Trim(),
            AccountKey = string.IsNullOrWhiteSpace(key) ? null : new AzureSecret(key.Trim()),
            SasToken = string.IsNullOrWhiteSpace(sas) ? null : new AzureSecret(sas.Trim()),
        };
    }

    /// <summary>These options with the endpoint <paramref name="url"/> names in place of their own.</summary>
    public AzureStorageOptions WithUrl(StorageUrl url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return this with { Endpoint = url.Endpoint ?? Endpoint };
    }

    /// <summary>
    /// Checks the settings. Missing or unusable credentials are <c>FERRY:Config:InvalidStorageCredentials</c> naming
    /// the variables, never a value; the rest are programming errors (<see cref="ArgumentException"/>).
    /// </summary>
    public void Validate()
    {
        if (ListPageSize is < 1 or > 5000) throw new ArgumentException($"ListPageSize is {ListPageSize}; Azure allows 1 to 5000 blobs per page");
        if (RequestTimeout <= TimeSpan.Zero || UploadTimeout <= TimeSpan.Zero || ReadIdleTimeout <= TimeSpan.Zero) throw new ArgumentException("timeouts must be positive; use TimeSpan.FromSeconds(30) or longer");
        if (MaxRetries is < 0 or > 10) throw new ArgumentException($"MaxRetries is {MaxRetries}; use 0 to 10 and let Ferry's retry policy do the rest");
        if (ConnectionString is not null) return;
        if (AccountName is null)
        {
            throw Credentials($"no Azure credentials: {CredentialVariables}");
        }

        if (!IsAccountName(AccountName))
        {
            throw Credentials($"{AccountVariable} is not a storage account name (3-24 lower-case letters and digits)");
        }

        if (AccountKey is null && SasToken is null)
        {
            throw Credentials($"{AccountVariable} is set but neither {KeyVariable} nor {SasTokenVariable} is");
        }
    }

    public override string ToString() =>
        $"AzureStorageOptions(endpoint={(Endpoint is null ? "default" : StorageUrl.FormatEndpointWithPath(Endpoint))}, credentials={Kind})";

    private string Kind => ConnectionString is not null ? "connection string"
        : AccountKey is not null ? "account key"
        : SasToken is not null ? "sas token"
        : "none";

    private static bool IsAccountName(string name) =>
        name.Length is >= 3 and <= 24 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));

    internal static FerryException Credentials(string message) =>
        new(ErrorCodes.ConfigInvalidStorageCredentials, message, new ErrorContext(Operation: "open storage"));
}

/// <summary>A secret string (a key, a SAS, a connection string) that never shows itself in logs or messages.</summary>
public sealed class AzureSecret(string value)
{
    internal string Reveal() => value;

    public override string ToString() => "***";
}
