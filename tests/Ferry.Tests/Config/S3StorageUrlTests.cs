using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Tests.Config;

/// <summary>
/// The parameters an s3:// URL carries (<c>endpoint</c>, <c>region</c>, <c>path_style</c>), its normalized form, and
/// what it refuses. Regression: every s3:// URL with a query string was refused, so the server could only come from
/// FERRY_S3_ENDPOINT and two tasks on one agent could not use two S3 servers.
/// </summary>
public sealed class S3StorageUrlTests
{
    private const string Secret = "s3cr3t";

    [Theory]
    [InlineData("s3://my-bucket/team/app", "s3://my-bucket/team/app")]
    [InlineData("s3://my-bucket/team/app/", "s3://my-bucket/team/app")]
    [InlineData("s3://my-bucket?endpoint=http://127.0.0.1:9000", "s3://my-bucket?endpoint=http://127.0.0.1:9000")]
    [InlineData("s3://my-bucket/?endpoint=http://127.0.0.1:9000/", "s3://my-bucket?endpoint=http://127.0.0.1:9000")]
    [InlineData("s3://my-bucket/x/?path_style=false&region=eu-west-3&endpoint=https://MinIO.Example.com:9443",
        "s3://my-bucket/x?endpoint=https://minio.example.com:9443&region=eu-west-3&path_style=false")]
    [InlineData("s3://my-bucket/x?endpoint=https://s3.example.com:443", "s3://my-bucket/x?endpoint=https://s3.example.com")]
    [InlineData("s3://my-bucket/x?endpoint=http%3A%2F%2F10.0.0.5%3A9000", "s3://my-bucket/x?endpoint=http://10.0.0.5:9000")]
    [InlineData("s3://my-bucket/x?endpoint=http://[::1]:9000", "s3://my-bucket/x?endpoint=http://[::1]:9000")]
    [InlineData("s3://my-bucket/x?region=auto", "s3://my-bucket/x?region=auto")]
    [InlineData("s3://my-bucket/x?path_style=true", "s3://my-bucket/x?path_style=true")]
    [InlineData("s3://my-bucket/team@x/app?region=us-gov-west-1", "s3://my-bucket/team@x/app?region=us-gov-west-1")]
    public void Parse_Valid_NormalizedAndRoundTrips(string text, string expected)
    {
        var url = StorageUrl.Parse(text);

        Assert.Equal(expected, url.ToString());
        Assert.Equal(expected, url.Location);
        // Stored in the task definition and parsed again by every agent: the same URL comes back.
        Assert.Equal(url, StorageUrl.Parse(url.ToString()));
    }

    [Fact]
    public void Parse_AllParameters_Exposed()
    {
        var url = StorageUrl.Parse("s3://my-bucket/team/app?region=eu-west-3&endpoint=http://127.0.0.1:9000&path_style=false");

        Assert.Equal(StorageKind.S3, url.Kind);
        Assert.Equal(("my-bucket", "team/app"), (url.Bucket, url.Prefix));
        Assert.Equal(new Uri("http://127.0.0.1:9000"), url.Endpoint);
        Assert.Equal("eu-west-3", url.Region);
        Assert.False(url.PathStyle);
    }

    [Fact]
    public void Parse_NoParameters_AllNull()
    {
        var url = StorageUrl.Parse("s3://my-bucket/team/app");

        Assert.Null(url.Endpoint);
        Assert.Null(url.Region);
        Assert.Null(url.PathStyle);
    }

    [Theory]
    [InlineData("s3://my-bucket/x?foo=1", "unknown parameter 'foo'")]
    [InlineData("s3://my-bucket/x?Endpoint=http://h:9000", "unknown parameter 'Endpoint'")]
    [InlineData("s3://my-bucket/x?region=eu-west-1&region=eu-west-3", "'region' is given more than once")]
    [InlineData("s3://my-bucket/x?endpoint=http://a:1&endpoint=http://b:2", "'endpoint' is given more than once")]
    [InlineData("s3://my-bucket/x?region=", "'region' is empty")]
    [InlineData("s3://my-bucket/x?region", "'region' is empty")]
    [InlineData("s3://my-bucket/x?endpoint=", "'endpoint' is empty")]
    [InlineData("s3://my-bucket/x?path_style=", "'path_style' is empty")]
    [InlineData("s3://my-bucket/x?", "nothing after '?'")]
    [InlineData("s3://my-bucket/x?region=eu-west-1&", "an empty parameter")]
    [InlineData("s3://my-bucket/x?&region=eu-west-1", "an empty parameter")]
    [InlineData("s3://my-bucket/x?endpoint=ftp://files.example.com:21", "endpoint ftp://files.example.com:21 is not http or https")]
    [InlineData("s3://my-bucket/x?endpoint=/var/s3", "is not http or https")]
    [InlineData("s3://my-bucket/x?endpoint=::9000", "endpoint is not an absolute URL")]
    [InlineData("s3://my-bucket/x?endpoint=http://minio:9000/base", "endpoint http://minio:9000 has a path")]
    [InlineData("s3://my-bucket/x?endpoint=http://minio:9000/?a=b", "endpoint http://minio:9000 has a query string")]
    [InlineData("s3://my-bucket/x?region=US-EAST-1", "region must be a region name")]
    [InlineData("s3://my-bucket/x?region=us_east_1", "region must be a region name")]
    [InlineData("s3://my-bucket/x?region=us-east-", "region must be a region name")]
    [InlineData("s3://my-bucket/x?region=1a", "region must be a region name")]
    [InlineData("s3://my-bucket/x?path_style=yes", "path_style must be true or false")]
    [InlineData("s3://my-bucket/x?path_style=True", "path_style must be true or false")]
    [InlineData("s3://my-bucket/x#part", "takes no fragment")]
    public void Parse_BadParameter_InvalidStorageUrlSayingWhy(string text, string why)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, error.Code);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3://my-bucket/x?foo=1")]
    [InlineData("s3://my-bucket/x?region=eu-west-1&region=eu-west-3")]
    [InlineData("s3://my-bucket/x?region=")]
    public void Parse_UnknownRepeatedOrEmpty_SaysWhatIsAllowed(string text)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Contains("endpoint=http(s)://host[:port]", error.Message, StringComparison.Ordinal);
        Assert.Contains("region=", error.Message, StringComparison.Ordinal);
        Assert.Contains("path_style=true|false", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3://my-bucket/x?endpoint=http://AKIAEXAMPLE:s3cr3t@127.0.0.1:9000")]
    [InlineData("s3://my-bucket/x?endpoint=http%3A%2F%2FAKIAEXAMPLE%3As3cr3t%40127.0.0.1%3A9000")]
    [InlineData("s3://my-bucket/x?endpoint=http://127.0.0.1:9000/?X-Amz-Signature=s3cr3t")]
    [InlineData("s3://my-bucket/x?endpoint=http://127.0.0.1:9000/s3cr3t")]
    [InlineData("s3://my-bucket/x?aws_secret_access_key=s3cr3t")]
    [InlineData("s3://my-bucket/x?access_key=AKIAEXAMPLE&secret=s3cr3t")]
    [InlineData("s3://my-bucket/x?X-Amz-Credential=AKIA%2F20250101&X-Amz-Signature=s3cr3t")]
    [InlineData("s3://my-bucket/x?x-amz-security-token=s3cr3t")]
    [InlineData("s3://my-bucket/x?region=eu-west-1&token=s3cr3t")]
    [InlineData("s3://my-bucket/x?session_token=s3cr3t")]
    [InlineData("s3://my-bucket/x?password=s3cr3t")]
    [InlineData("s3://my-bucket/x?Signature=s3cr3t&AWSAccessKeyId=AKIAEXAMPLE")]
    [InlineData("s3://my-bucket/x?region=s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")]
    [InlineData("s3://my-bucket/x?region=s3cr3t/s3cr3t")]
    [InlineData("s3://my-bucket/x?path_style=s3cr3t")]
    [InlineData("s3://my-bucket/x?foo=s3cr3t")]
    [InlineData("s3://my-bucket/x?region=s3cr3t&region=s3cr3t")]
    [InlineData("s3://AKIAEXAMPLE:s3cr3t@my-bucket/x?region=us-east-1")]
    [InlineData("s3://AKIAEXAMPLE:s3cr3t?x@my-bucket/x")]
    [InlineData("s3://my-bucket/x?endpoint=http://127.0.0.1:9000#s3cr3t")]
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
    [InlineData("s3://my-bucket/x?endpoint=http://AKIAEXAMPLE:s3cr3t@127.0.0.1:9000")]
    [InlineData("s3://my-bucket/x?aws_secret_access_key=s3cr3t")]
    [InlineData("s3://my-bucket/x?X-Amz-Signature=s3cr3t")]
    [InlineData("s3://my-bucket/x?token=s3cr3t")]
    public void Parse_Credentials_SaysWhereTheyGoInstead(string text)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Contains("credentials don't go in the URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("AWS_SECRET_ACCESS_KEY", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EndpointWithCredentials_ShowsOnlySchemeHostPort()
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse("s3://my-bucket/x?endpoint=http://AKIAEXAMPLE:s3cr3t@minio.local:9000"));

        Assert.Contains("endpoint http://minio.local:9000 carries credentials", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAEXAMPLE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseEndpoint_Valid_SchemeHostPortOnly()
    {
        Assert.True(StorageUrl.TryParseEndpoint("HTTP://Example.COM:9000/", out var endpoint, out _));

        Assert.Equal(new Uri("http://example.com:9000"), endpoint);
        Assert.Equal("http://example.com:9000", StorageUrl.FormatEndpoint(endpoint!));
    }
}
