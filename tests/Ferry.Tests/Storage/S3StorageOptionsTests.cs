using Amazon.S3;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

namespace Ferry.Tests.Storage;

/// <summary>
/// The S3 options from the environment, and the URL's endpoint, region and path style put over them. Regression: a
/// bad FERRY_S3_ENDPOINT was an ArgumentException that echoed the variable whole, password and query included.
/// </summary>
public sealed class S3StorageOptionsTests
{
    private const string Secret = "s3cr3t";

    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Theory]
    [InlineData("http://AKIAEXAMPLE:s3cr3t@minio.local:9000", "FERRY_S3_ENDPOINT http://minio.local:9000 carries credentials")]
    [InlineData("http://minio.local:9000/?X-Amz-Signature=s3cr3t", "FERRY_S3_ENDPOINT http://minio.local:9000 has a query string")]
    [InlineData("http://minio.local:9000/s3cr3t", "FERRY_S3_ENDPOINT http://minio.local:9000 has a path")]
    [InlineData("ftp://minio.local:21/s3cr3t", "FERRY_S3_ENDPOINT ftp://minio.local:21 is not http or https")]
    [InlineData("s3cr3t s3cr3t", "FERRY_S3_ENDPOINT is not an absolute URL")]
    public void FromEnvironment_BadEndpoint_ConfigErrorShowingOnlySchemeHostPort(string value, string expected)
    {
        var error = Assert.Throws<FerryException>(() => S3StorageOptions.FromEnvironment(Environment(("FERRY_S3_ENDPOINT", value)), includeEndpoint: true));

        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAEXAMPLE", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void FromEnvironment_EndpointRegionAndKeys_Read()
    {
        var options = S3StorageOptions.FromEnvironment(Environment(
            ("FERRY_S3_ENDPOINT", "http://127.0.0.1:9000"), ("AWS_DEFAULT_REGION", "eu-west-3"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", Secret)), includeEndpoint: true);

        Assert.Equal(new Uri("http://127.0.0.1:9000"), options.Endpoint);
        Assert.Equal("eu-west-3", options.Region);
        Assert.Equal("AKIAEXAMPLE", options.AccessKeyId);
        Assert.True(options.UsesPathStyle);
    }

    [Fact]
    public void FromEnvironment_UrlNamesTheEndpoint_BadVariableNotInTheWay()
    {
        // A task whose URL names its server does not depend on FERRY_S3_ENDPOINT, even a broken one.
        var options = S3StorageOptions.FromEnvironment(Environment(("FERRY_S3_ENDPOINT", "ftp://x")), includeEndpoint: false);

        Assert.Null(options.Endpoint);
    }

    [Fact]
    public void WithUrl_UrlEndpointOverEnvironmentEndpoint_UrlWinsPathStyle()
    {
        var environment = new S3StorageOptions { Endpoint = new Uri("http://127.0.0.1:1111"), Region = "us-east-1" };

        var options = environment.WithUrl(StorageUrl.Parse("s3://my-bucket/x?endpoint=http://127.0.0.1:2222&region=eu-west-3"));

        Assert.Equal(new Uri("http://127.0.0.1:2222"), options.Endpoint);
        Assert.Equal("eu-west-3", options.Region);
        Assert.True(options.UsesPathStyle);
        // The options given stay as they were.
        Assert.Equal(new Uri("http://127.0.0.1:1111"), environment.Endpoint);
    }

    [Fact]
    public void WithUrl_NoParameters_EnvironmentKept()
    {
        var environment = new S3StorageOptions { Endpoint = new Uri("http://127.0.0.1:1111"), Region = "ap-south-1", PathStyle = false };

        var options = environment.WithUrl(StorageUrl.Parse("s3://my-bucket/x"));

        Assert.Equal((environment.Endpoint, "ap-south-1", false), (options.Endpoint, options.Region, options.UsesPathStyle));
    }

    [Theory]
    [InlineData(null, "s3://my-bucket/x", false)]
    [InlineData(null, "s3://my-bucket/x?path_style=true", true)]
    [InlineData("http://127.0.0.1:1111", "s3://my-bucket/x", true)]
    [InlineData("http://127.0.0.1:1111", "s3://my-bucket/x?path_style=false", false)]
    [InlineData(null, "s3://my-bucket/x?endpoint=http://127.0.0.1:2222", true)]
    public void WithUrl_PathStyle_DefaultsToWhetherThereIsAnEndpoint(string? environmentEndpoint, string url, bool expected)
    {
        var environment = new S3StorageOptions { Endpoint = environmentEndpoint is null ? null : new Uri(environmentEndpoint) };

        Assert.Equal(expected, environment.WithUrl(StorageUrl.Parse(url)).UsesPathStyle);
    }

    [Fact]
    public async Task S3ObjectStorage_UrlParameters_ReachTheClient()
    {
        var options = new S3StorageOptions { Endpoint = new Uri("http://127.0.0.1:1111"), Region = "us-east-1" };

        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://my-bucket/x?endpoint=http://127.0.0.1:2222&region=eu-west-3&path_style=false"), options);

        var config = storage.ClientConfig;
        Assert.Equal("http://127.0.0.1:2222/", config.ServiceURL);
        Assert.False(config.ForcePathStyle);
        Assert.Equal("eu-west-3", config.AuthenticationRegion);
        Assert.Equal("s3://my-bucket/x?endpoint=http://127.0.0.1:2222&region=eu-west-3&path_style=false", storage.Description);
    }

    [Fact]
    public async Task S3ObjectStorage_Aws_VirtualHostedRequestsInTheRegion()
    {
        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://my-bucket/x?region=eu-west-3"), new S3StorageOptions());

        var config = storage.ClientConfig;
        Assert.False(config.ForcePathStyle);
        Assert.Equal(Amazon.RegionEndpoint.EUWest3, config.RegionEndpoint);
        Assert.IsType<AmazonS3Config>(config);
    }
}
