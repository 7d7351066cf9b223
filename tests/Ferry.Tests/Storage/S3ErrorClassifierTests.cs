using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

namespace Ferry.Tests.Storage;

public sealed class S3ErrorClassifierTests
{
    private static AmazonS3Exception S3Error(string code, HttpStatusCode status) =>
        new($"S3 said {code}", ErrorType.Sender, code, "REQ123", status);

    [Theory]
    [InlineData("AccessDenied", HttpStatusCode.Forbidden, "FERRY:Storage:PermissionDenied")]
    [InlineData("InvalidAccessKeyId", HttpStatusCode.Forbidden, "FERRY:Storage:PermissionDenied")]
    [InlineData("SignatureDoesNotMatch", HttpStatusCode.Forbidden, "FERRY:Storage:PermissionDenied")]
    [InlineData("NoSuchBucket", HttpStatusCode.NotFound, "FERRY:Storage:NotFound")]
    [InlineData("NoSuchKey", HttpStatusCode.NotFound, "FERRY:Storage:ObjectNotFound")]
    [InlineData("SlowDown", HttpStatusCode.ServiceUnavailable, "FERRY:Storage:Unavailable")]
    [InlineData("ServiceUnavailable", HttpStatusCode.ServiceUnavailable, "FERRY:Storage:Unavailable")]
    [InlineData("InternalError", HttpStatusCode.InternalServerError, "FERRY:Storage:Unavailable")]
    [InlineData("RequestTimeout", HttpStatusCode.BadRequest, "FERRY:Storage:Timeout")]
    [InlineData("EntityTooLarge", HttpStatusCode.BadRequest, "FERRY:Storage:QuotaExceeded")]
    [InlineData("XMinioStorageFull", HttpStatusCode.InternalServerError, "FERRY:Storage:QuotaExceeded")]
    [InlineData("", HttpStatusCode.InsufficientStorage, "FERRY:Storage:QuotaExceeded")]
    [InlineData("", HttpStatusCode.ServiceUnavailable, "FERRY:Storage:Unavailable")]
    [InlineData("", HttpStatusCode.Forbidden, "FERRY:Storage:PermissionDenied")]
    [InlineData("", HttpStatusCode.GatewayTimeout, "FERRY:Storage:Timeout")]
    [InlineData("SomethingNew", HttpStatusCode.BadRequest, "FERRY:Storage:Io")]
    public void Classify_S3ErrorCodeAndStatus_StorageCode(string s3Code, HttpStatusCode status, string expected)
    {
        var error = S3ErrorClassifier.Classify(S3Error(s3Code, status), new ErrorContext(Operation: "put x"));

        Assert.Equal(expected, error.Code.Code);
        Assert.Equal("put x", error.Context.Operation);
        Assert.IsType<AmazonS3Exception>(error.InnerException);
    }

    [Fact]
    public void Classify_PermissionDenied_IsPermanentAndNamesTheVariables()
    {
        var error = S3ErrorClassifier.Classify(S3Error("InvalidAccessKeyId", HttpStatusCode.Forbidden));

        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("AWS_ACCESS_KEY_ID", error.Message, StringComparison.Ordinal);
        Assert.Contains("REQ123", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_ConnectionRefusedInsideClientException_Unavailable()
    {
        var refused = new HttpRequestException("Connection refused (127.0.0.1:1)", new SocketException((int)SocketError.ConnectionRefused));
        var error = S3ErrorClassifier.Classify(new AmazonClientException("request failed", refused));

        Assert.Equal(ErrorCodes.StorageUnavailable, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
    }

    [Fact]
    public void Classify_DeadlineFiredNotCallerCancel_Timeout()
    {
        using var caller = new CancellationTokenSource();

        var error = S3ErrorClassifier.Classify(new TaskCanceledException("deadline"), callerToken: caller.Token);

        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
    }

    [Fact]
    public void Classify_CallerCancelled_Cancelled()
    {
        using var caller = new CancellationTokenSource();
        caller.Cancel();

        var error = S3ErrorClassifier.Classify(new OperationCanceledException(caller.Token), callerToken: caller.Token);

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
    }

    [Fact]
    public void Classify_TimeoutInsideClientException_Timeout()
    {
        var error = S3ErrorClassifier.Classify(new AmazonClientException("request failed", new TimeoutException("the request timed out")));

        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
    }

    [Fact]
    public async Task S3ObjectStorage_SecretsNeverInToStringOrDescription()
    {
        var options = new S3StorageOptions
        {
            Endpoint = new Uri("http://127.0.0.1:1"),
            AccessKeyId = "AKIDEXAMPLEKEYID",
            SecretAccessKey = new S3Secret("wJalrXUtnFEMIsecretEXAMPLEKEY"),
        };
        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://my-bucket/backups/prod"), options);

        Assert.Equal("s3://my-bucket/backups/prod", storage.Description);
        Assert.Equal("s3://my-bucket/backups/prod", storage.ToString());
        Assert.DoesNotContain("wJalrXUtnFEMIsecret", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("AKIDEXAMPLEKEYID", options.ToString(), StringComparison.Ordinal);
        Assert.Equal("***", options.SecretAccessKey!.ToString());
    }

    [Fact]
    public void S3ObjectStorage_ZeroReadIdleTimeout_RefusedSayingWhatToUse()
    {
        var options = new S3StorageOptions { Endpoint = new Uri("http://127.0.0.1:1"), ReadIdleTimeout = TimeSpan.Zero };

        var error = Assert.Throws<ArgumentException>(() => new S3ObjectStorage(StorageUrl.Parse("s3://my-bucket/p"), options));

        Assert.Contains("positive", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(30), new S3StorageOptions().ReadIdleTimeout);
    }

    [Fact]
    public async Task S3ObjectStorage_NothingListening_UnavailableWithoutSecret()
    {
        var options = new S3StorageOptions
        {
            Endpoint = new Uri("http://127.0.0.1:1"),
            AccessKeyId = "AKIDEXAMPLEKEYID",
            SecretAccessKey = new S3Secret("wJalrXUtnFEMIsecretEXAMPLEKEY"),
            RequestTimeout = TimeSpan.FromSeconds(10),
        };
        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://my-bucket/p"), options);

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));

        Assert.Equal(ErrorCodes.StorageUnavailable, error.Code);
        Assert.DoesNotContain("wJalrXUtnFEMIsecret", error.ToOneLine(), StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMIsecret", error.ToString(), StringComparison.Ordinal);
    }
}
