using Ferry.Azure;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Tests.Storage;

/// <summary>Which environment variables give Azure credentials, what is refused, and that no secret is ever shown.</summary>
public sealed class AzureStorageOptionsTests
{
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const string Sas = "sv=2024-01-01&sp=rw&sig=c2VjcmV0";

    private static AzureStorageOptions From(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return AzureStorageOptions.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    [Fact]
    public void FromEnvironment_AccountAndKey_Read()
    {
        var options = From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_KEY", Key));

        options.Validate();
        Assert.Equal("acct1", options.AccountName);
        Assert.Equal(Key, options.AccountKey!.Reveal());
        Assert.Null(options.ConnectionString);
        Assert.Null(options.SasToken);
    }

    [Fact]
    public void FromEnvironment_Nothing_InvalidStorageCredentialsNamingEveryVariable()
    {
        var error = Assert.Throws<FerryException>(() => From().Validate());

        Assert.Same(ErrorCodes.ConfigInvalidStorageCredentials, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        foreach (var name in new[] { "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN" })
        {
            Assert.Contains(name, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FromEnvironment_AccountWithoutKeyOrSas_Refused()
    {
        var error = Assert.Throws<FerryException>(() => From(("AZURE_STORAGE_ACCOUNT", "acct1")).Validate());

        Assert.Same(ErrorCodes.ConfigInvalidStorageCredentials, error.Code);
        Assert.Contains("neither AZURE_STORAGE_KEY nor AZURE_STORAGE_SAS_TOKEN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromEnvironment_BadAccountName_RefusedWithoutShowingIt()
    {
        var error = Assert.Throws<FerryException>(() => From(("AZURE_STORAGE_ACCOUNT", "Not_An;Account=x"), ("AZURE_STORAGE_KEY", Key)).Validate());

        Assert.Same(ErrorCodes.ConfigInvalidStorageCredentials, error.Code);
        Assert.DoesNotContain("Not_An", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_KeyNotBase64_InvalidStorageCredentialsWithoutTheKey()
    {
        var options = From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_KEY", "not base64 s3cr3t!"));

        var error = Assert.Throws<FerryException>(() => new AzureBlobStorage(StorageUrl.Parse("az://backups/x"), options));

        Assert.Same(ErrorCodes.ConfigInvalidStorageCredentials, error.Code);
        Assert.DoesNotContain("s3cr3t", error.ToString(), StringComparison.Ordinal);
        await Task.CompletedTask;
    }

    [Fact]
    public void Open_MalformedConnectionString_InvalidStorageCredentialsWithoutIt()
    {
        var options = From(("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=s3cr3t"));

        var error = Assert.Throws<FerryException>(() => new AzureBlobStorage(StorageUrl.Parse("az://backups/x"), options));

        Assert.Same(ErrorCodes.ConfigInvalidStorageCredentials, error.Code);
        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Open_AccountAndKeyWithoutEndpoint_TheAccountsDefaultEndpoint()
    {
        var storage = new AzureBlobStorage(StorageUrl.Parse("az://backups/x"), From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_KEY", Key)));

        Assert.Equal(new Uri("https://acct1.blob.core.windows.net/backups"), storage.ContainerUri);
        Assert.Equal("az://backups/x", storage.Description);
    }

    [Fact]
    public void Open_SasAndUrlEndpoint_TheUrlsEndpointAndNoSasInTheUri()
    {
        var storage = new AzureBlobStorage(
            StorageUrl.Parse("az://backups/x?endpoint=http://127.0.0.1:10000/acct1"),
            From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_SAS_TOKEN", "?" + Sas)));

        Assert.Equal(new Uri("http://127.0.0.1:10000/acct1/backups"), storage.ContainerUri);
        Assert.DoesNotContain("sig", storage.ContainerUri.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Open_ConnectionStringAndUrlEndpoint_TheUrlsEndpointWins()
    {
        var connection = $"DefaultEndpointsProtocol=http;AccountName=acct1;AccountKey={Key};BlobEndpoint=http://127.0.0.1:1/acct1;";
        var storage = new AzureBlobStorage(
            StorageUrl.Parse("az://backups/x?endpoint=http://127.0.0.1:10000/acct1"),
            From(("AZURE_STORAGE_CONNECTION_STRING", connection)));

        Assert.Equal(new Uri("http://127.0.0.1:10000/acct1/backups"), storage.ContainerUri);
    }

    [Fact]
    public void ToString_AnyCredentials_NoSecret()
    {
        var options = From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_KEY", Key), ("AZURE_STORAGE_SAS_TOKEN", Sas),
            ("AZURE_STORAGE_CONNECTION_STRING", $"AccountName=acct1;AccountKey={Key}"));

        var text = options.ToString() + options.AccountKey + options.SasToken + options.ConnectionString;

        Assert.DoesNotContain(Key[..12], text, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=", text, StringComparison.Ordinal);
        Assert.Contains("connection string", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5001)]
    public void Validate_ListPageSizeOutOfRange_Refused(int size)
    {
        var options = From(("AZURE_STORAGE_ACCOUNT", "acct1"), ("AZURE_STORAGE_KEY", Key)) with { ListPageSize = size };

        Assert.Throws<ArgumentException>(options.Validate);
    }
}
