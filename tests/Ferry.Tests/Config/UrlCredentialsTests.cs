using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;

namespace Ferry.Tests.Config;

/// <summary>
/// Credentials written into a URL never reach a message. Regression: a malformed --meta or storage URL was echoed
/// whole in its error, password included, and an s3:// URL with a signed query string was accepted and shown as is.
/// </summary>
public sealed class UrlCredentialsTests
{
    private const string Secret = "s3cr3t";

    [Theory]
    [InlineData("etcd://user:s3cr3t@host:port/x")]
    [InlineData("etcd://user:s3cr3t@host:2379")]
    [InlineData("etcd://10.0.0.1:2379,user:s3cr3t@10.0.0.2:2379")]
    [InlineData("etcd://user:ab/s3cr3t@host:2379")]
    [InlineData("etcd://user:ab s3cr3t@host:2379")]
    [InlineData("etcd://host:2379?password=s3cr3t")]
    [InlineData("etcd://host:2379/?token=s3cr3t")]
    [InlineData("https://root:s3cr3t@10.0.0.1:2379")]
    [InlineData("https://10.0.0.1:2379,root:s3cr3t@10.0.0.2:2379")]
    [InlineData("http://root:s3cr3t@10.0.0.1:2379")]
    [InlineData("redis://user:s3cr3t@localhost:6379")]
    [InlineData("file://user:s3cr3t@host/meta.db")]
    public void MetaUrl_CredentialsInUrl_InvalidWithoutTheSecret(string text)
    {
        var error = Assert.Throws<FerryException>(() => MetaUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidMetaUrl, error.Code);
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToOneLine(), StringComparison.Ordinal);
        Assert.Contains("***", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3://AKIAEXAMPLE:s3cr3t@my-bucket/prefix")]
    [InlineData("s3://AKIAEXAMPLE:s3cr3t@Bad_Bucket/prefix")]
    [InlineData("s3://my-bucket/prefix?X-Amz-Signature=s3cr3t")]
    [InlineData("s3://Bad_Bucket/x?token=s3cr3t")]
    [InlineData("file://user:s3cr3t@host/dir")]
    [InlineData("https://user:s3cr3t@example.com/backups")]
    [InlineData("gs://user:s3cr3t@bucket/x")]
    public void StorageUrl_CredentialsInUrl_InvalidWithoutTheSecret(string text)
    {
        var error = Assert.Throws<FerryException>(() => StorageUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, error.Code);
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToOneLine(), StringComparison.Ordinal);
        Assert.Contains("***", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("etcd://user:pw@host:2379", "etcd://***@host:2379")]
    [InlineData("s3://bucket/x?X-Amz-Signature=sig", "s3://bucket/x?***")]
    [InlineData("https://u:p@host/x?token=t#frag", "https://***@host/x?***")]
    [InlineData("etcd://user:a?b@host:2379", "etcd://***")]
    [InlineData("x://host/p?user=a@b&password=pw", "x://***")]
    [InlineData("user:pw@host://x", "***@host://x")]
    [InlineData("--mta=etcd://u:p@h:1", "--mta=etcd://***@h:1")]
    [InlineData("/backups/a@b?c", "/backups/a@b?c")]
    [InlineData("etcd://10.0.0.1:2379,10.0.0.2:2379", "etcd://10.0.0.1:2379,10.0.0.2:2379")]
    public void Redact_HidesUserInfoAndQueryOnly(string url, string expected)
    {
        Assert.Equal(expected, Redaction.Url(url));
    }

    [Fact]
    public void StorageUrl_AtSignInPrefix_StillValid()
    {
        // An '@' in an S3 key is an ordinary character; only user:password@ before the bucket is refused.
        var url = StorageUrl.Parse("s3://my-bucket/team@x/app");

        Assert.Equal(("my-bucket", "team@x/app"), (url.Bucket, url.Prefix));
    }
}
