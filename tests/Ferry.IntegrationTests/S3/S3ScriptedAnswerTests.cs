using System.Net;
using System.Net.Sockets;
using System.Text;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;

namespace Ferry.IntegrationTests.S3;

/// <summary>
/// The answers s3rver never gives (it ignores If-None-Match), from a loopback HTTP server that replies with a
/// scripted S3 error document, through the real AWS SDK: 412 means "name taken", and S3 error codes map to
/// Ferry Storage codes.
/// </summary>
public sealed class S3ScriptedAnswerTests
{
    private static async Task<T> WithAnswerAsync<T>(int status, string s3Code, Func<S3ObjectStorage, Task<T>> act, List<string>? seen = null)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        // Closed exactly once below: the managed HttpListener's Stop() followed by Dispose() re-binds the port to
        // remove it again, which fails when a parallel test has taken that port meanwhile.
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        using var stop = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception) when (stop.IsCancellationRequested || !listener.IsListening)
                {
                    return;
                }

                if (seen is not null)
                {
                    lock (seen) seen.Add($"{context.Request.HttpMethod} {context.Request.Url!.AbsolutePath} If-None-Match={context.Request.Headers["If-None-Match"]}");
                }

                using (var body = new MemoryStream())
                {
                    await context.Request.InputStream.CopyToAsync(body);
                }

                var xml = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{s3Code}</Code><Message>scripted {s3Code}</Message><RequestId>SCRIPTED1</RequestId></Error>");
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/xml";
                context.Response.ContentLength64 = xml.Length;
                await context.Response.OutputStream.WriteAsync(xml);
                context.Response.Close();
            }
        });

        var options = new S3StorageOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{port}"),
            AccessKeyId = "AKIDSCRIPTED",
            SecretAccessKey = new S3Secret("scripted-secret-value"),
            RequestTimeout = TimeSpan.FromSeconds(20),
        };
        try
        {
            await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://bucket/prefix"), options);
            return await act(storage);
        }
        finally
        {
            await stop.CancelAsync();
            listener.Close();
            await serve;
        }
    }

    [Fact]
    public async Task PutIfAbsent_PreconditionFailed_FalseAndSentIfNoneMatchStar()
    {
        var seen = new List<string>();

        var created = await WithAnswerAsync(412, "PreconditionFailed", s => s.PutIfAbsentAsync("dbs/1/x", new MemoryStream([1, 2, 3])), seen);

        Assert.False(created);
        Assert.Contains("PUT /bucket/prefix/dbs/1/x If-None-Match=*", seen);
    }

    [Theory]
    [InlineData(403, "InvalidAccessKeyId", "FERRY:Storage:PermissionDenied")]
    [InlineData(403, "SignatureDoesNotMatch", "FERRY:Storage:PermissionDenied")]
    [InlineData(404, "NoSuchBucket", "FERRY:Storage:NotFound")]
    [InlineData(503, "SlowDown", "FERRY:Storage:Unavailable")]
    [InlineData(507, "InsufficientStorage", "FERRY:Storage:QuotaExceeded")]
    [InlineData(400, "EntityTooLarge", "FERRY:Storage:QuotaExceeded")]
    public async Task PutIfAbsent_S3Error_ClassifiedWithoutSecret(int status, string s3Code, string expected)
    {
        var error = await WithAnswerAsync(status, s3Code, s => Assert.ThrowsAsync<FerryException>(() => s.PutIfAbsentAsync("x", new MemoryStream([1]))));

        Assert.Equal(expected, error.Code.Code);
        Assert.Equal("put x", error.Context.Operation);
        Assert.DoesNotContain("scripted-secret-value", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TryOpenRead_NoSuchKey_Null()
    {
        var stream = await WithAnswerAsync(404, "NoSuchKey", s => s.TryOpenReadAsync("missing"));

        Assert.Null(stream);
    }

    [Fact]
    public async Task TryOpenRead_NoSuchBucket_NotFoundError()
    {
        var error = await WithAnswerAsync(404, "NoSuchBucket", s => Assert.ThrowsAsync<FerryException>(() => s.TryOpenReadAsync("x")));

        Assert.Equal(ErrorCodes.StorageNotFound, error.Code);
    }

    [Fact]
    public async Task List_ServerAcceptsButNeverAnswers_TimeoutWithinTheDeadline()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(); // the kernel accepts connections; nobody reads or answers
        var options = new S3StorageOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}"),
            AccessKeyId = "AKIDSCRIPTED",
            SecretAccessKey = new S3Secret("scripted-secret-value"),
            RequestTimeout = TimeSpan.FromSeconds(1),
        };
        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://bucket/prefix"), options);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));

        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }
}
