using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Tests.Config;

/// <summary>
/// az:// (and abs://) URLs: the container and prefix, the one parameter <c>endpoint</c> (which may carry the account's
/// path, as Azurite's does), the normalized form stored in the task, and the refusal of anything that may be a
/// credential (a SAS, a key, user information) without showing it.
/// </summary>
public sealed class AzureStorageUrlTests
{
    private const string Secret = "s3cr3t";

    [Theory]
    [InlineData("az://backups/team/app", "az://backups/team/app")]
    [InlineData("az://backups/team/app/", "az://backups/team/app")]
    [InlineData("abs://backups/team/app", "az://backups/team/app")]
    [InlineData("az://backups", "az://backups")]
    [InlineData("az://my-container-1/x?endpoint=http://127.0.0.1:10000/devstoreaccount1", "az://my-container-1/x?endpoint=http://127.0.0.1:10000/devstoreaccount1")]
    [InlineData("az://backups/x?endpoint=http://127.0.0.1:10000/devstoreaccount1/", "az://backups/x?endpoint=http://127.0.0.1:10000/devstoreaccount1")]
    [InlineData("az://backups/x?endpoint=https://Acct.Blob.Core.ChinaCloudAPI.cn:443", "az://backups/x?endpoint=https://acct.blob.core.chinacloudapi.cn")]
    [InlineData("az://backups/x?endpoint=http%3A%2F%2F10.0.0.5%3A10000%2Facct", "az://backups/x?endpoint=http://10.0.0.5:10000/acct")]
    [InlineData("az://123/x", "az://123/x")]
    public void Parse_Valid_NormalizedAndRoundTrips(string text, string expected)
    {
        var url = StorageUrl.Parse(text);

        Assert.Equal(StorageKind.Azure, url.Kind);
        Assert.Equal(expected, url.ToString());
        Assert.Equal(expected, url.Location);
        // Stored in the task definition and parsed again by every agent: the same URL comes back.
        Assert.Equal(url, StorageUrl.Parse(url.ToString()));
    }

    [Fact]
    public void Parse_ContainerPrefixAndEndpoint_Exposed()
    {
        var url = StorageUrl.Parse("az://backups/team/app?endpoint=http://127.0.0.1:10000/devstoreaccount1");

        Assert.Equal(("backups", "team/app"), (url.Bucket, url.Prefix));
        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), url.Endpoint);
        Assert.Null(url.Region);
        Assert.Null(url.PathStyle);
        Assert.Null(StorageUrl.Parse("az://backups/team/app").Endpoint);
    }

    [Theory]
    [InlineData("az://ab/x", "'ab' is not a valid container name")]
    [InlineData("az://Backups/x", "'Backups' is not a valid container name")]
    [InlineData("az://my_container/x", "is not a valid container name")]
    [InlineData("az://-backups/x", "is not a valid container name")]
    [InlineData("az://backups-/x", "is not a valid container name")]
    [InlineData("az://back--ups/x", "is not a valid container name")]
    [InlineData("az://my.container/x", "is not a valid container name")]
    [InlineData("az:///x", "is not a valid container name")]
    [InlineData("az://backups/x?region=eu-west-1", "unknown parameter 'region'")]
    [InlineData("az://backups/x?path_style=true", "unknown parameter 'path_style'")]
    [InlineData("az://backups/x?endpoint=http://a:1&endpoint=http://b:2", "'endpoint' is given more than once")]
    [InlineData("az://backups/x?endpoint=", "'endpoint' is empty")]
    [InlineData("az://backups/x?", "nothing after '?'")]
    [InlineData("az://backups/x?endpoint=http://a:1&", "an empty parameter")]
    [InlineData("az://backups/x?endpoint=ftp://files.example.com:21", "endpoint ftp://files.example.com:21 is not http or https")]
    [InlineData("az://backups/x?endpoint=http://127.0.0.1:10000/acct?a=b", "has a query string")]
    [InlineData("az://backups/x#part", "takes no fragment")]
    public void Parse_Bad_InvalidStorageUrlSayingWhy(string text, string why)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, error.Code);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("az://backups/x?sv=2024-01-01&sp=rw&sig=s3cr3t")]
    [InlineData("az://backups/x?sig=s3cr3t")]
    [InlineData("az://backups/x?se=2030-01-01&sr=c")]
    [InlineData("az://backups/x?endpoint=http://127.0.0.1:10000/acct&sv=2024-01-01&sig=s3cr3t")]
    [InlineData("az://backups/x?AccountKey=s3cr3t")]
    [InlineData("az://backups/x?account_key=s3cr3t")]
    [InlineData("az://backups/x?sas_token=s3cr3t")]
    [InlineData("az://backups/x?connection_string=s3cr3t")]
    [InlineData("az://backups/x?password=s3cr3t")]
    [InlineData("az://backups/x?endpoint=http://acct:s3cr3t@127.0.0.1:10000/acct")]
    [InlineData("az://backups/x?endpoint=http://127.0.0.1:10000/acct?sig=s3cr3t")]
    [InlineData("az://backups/x?foo=s3cr3t")]
    [InlineData("az://acct:s3cr3t@backups/x")]
    [InlineData("abs://acct:s3cr3t?x@backups/x")]
    [InlineData("az://backups/x?endpoint=http://127.0.0.1:10000#s3cr3t")]
    public void Parse_SecretAnywhere_RefusedWithoutShowingIt(string text)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, error.Code);
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToOneLine(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.Contains("***", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("az://backups/x?sv=2024-01-01&sp=rw&sig=s3cr3t")]
    [InlineData("az://backups/x?AccountKey=s3cr3t")]
    [InlineData("az://acct:s3cr3t@backups/x")]
    public void Parse_Credential_SaysWhereCredentialsGo(string text)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
        Assert.Contains("AZURE_STORAGE_SAS_TOKEN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownScheme_NamesAzAmongTheForms()
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse("gs://bucket/x"));

        Assert.Contains("az://container/prefix", error.Message, StringComparison.Ordinal);
    }
}
