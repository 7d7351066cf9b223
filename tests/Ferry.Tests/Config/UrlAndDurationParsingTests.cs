using Ferry.Cli;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;

namespace Ferry.Tests.Config;

/// <summary>What the command line accepts for --meta, storage URLs and durations, and how it says no.</summary>
public sealed class UrlAndDurationParsingTests
{
    [Fact]
    public void MetaUrl_File_IsEmbeddedWithAbsolutePath()
    {
        var url = MetaUrl.Parse("file:rel/meta.db");

        Assert.Equal(MetaKind.Embedded, url.Kind);
        Assert.Equal(Path.GetFullPath("rel/meta.db"), url.Path);
        Assert.Equal($"file:{Path.GetFullPath("rel/meta.db")}", url.ToString());
    }

    [Fact]
    public void MetaUrl_EtcdSeveralEndpoints_KeepsThemInOrder()
    {
        var url = MetaUrl.Parse("etcd://10.0.0.1:2379,10.0.0.2:2380");

        Assert.Equal(MetaKind.Etcd, url.Kind);
        Assert.Equal(["10.0.0.1:2379", "10.0.0.2:2380"], url.Endpoints.Select(e => e.Authority));
        Assert.Equal("etcd://10.0.0.1:2379,10.0.0.2:2380", url.ToString());
    }

    [Theory]
    [InlineData("etcd://")]
    [InlineData("etcd://host")]
    [InlineData("etcd://host:0")]
    [InlineData("etcd://host:99999")]
    [InlineData("etcd://host:12/path")]
    [InlineData("file:")]
    [InlineData("redis://localhost:6379")]
    public void MetaUrl_Malformed_IsInvalidMetaUrl(string text)
    {
        var error = Assert.Throws<FerryException>(() => MetaUrl.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidMetaUrl, error.Code);
        Assert.Contains(text, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/backups/app", "file:///backups/app")]
    [InlineData("file:///backups/app/", "file:///backups/app/")]
    [InlineData("s3://my-bucket/team/app", "s3://my-bucket/team/app")]
    public void StorageUrl_Valid_Normalized(string text, string expected)
    {
        Assert.Equal(expected, StorageUrl.Parse(text).ToString());
    }

    [Fact]
    public void StorageUrl_S3_SplitsBucketAndPrefix()
    {
        var url = StorageUrl.Parse("s3://my-bucket/team/app");

        Assert.Equal(("my-bucket", "team/app"), (url.Bucket, url.Prefix));
    }

    [Theory]
    [InlineData("")]
    [InlineData("file://relative/dir")]
    [InlineData("s3://AB")]
    [InlineData("s3://Bad_Bucket/x")]
    [InlineData("gs://bucket/x")]
    public void StorageUrl_Malformed_IsInvalidStorageUrl(string text)
    {
        Assert.Same(ErrorCodes.ConfigInvalidStorageUrl, Assert.Throws<FerryException>(() => StorageUrl.Parse(text)).Code);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("1s", 1_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("7d", 604_800_000)]
    public void Durations_Parse_Valid(string text, double milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Durations.Parse(text, "--x"));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("soon")]
    [InlineData("-1s")]
    [InlineData("1w")]
    public void Durations_Parse_Invalid_NamesTheOption(string text)
    {
        var error = Assert.Throws<FerryException>(() => Durations.Parse(text, "--flush-interval"));

        Assert.Same(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.Contains("--flush-interval", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.2, "200ms")]
    [InlineData(42, "42s")]
    [InlineData(600, "10m")]
    [InlineData(7200, "2h")]
    [InlineData(-5, "-5s")]
    public void Durations_Humanize(double seconds, string expected)
    {
        Assert.Equal(expected, Durations.Humanize(TimeSpan.FromSeconds(seconds)));
    }
}
