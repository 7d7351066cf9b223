using System.Text;
using Ferry.Errors;
using Ferry.S3;
using Ferry.Storage;
using Ferry.TestKit.S3;

namespace Ferry.IntegrationTests.S3;

/// <summary>IObjectStorage behaviour of <see cref="S3ObjectStorage"/> against a real s3rver process.</summary>
public sealed class S3ObjectStorageTests : IClassFixture<S3rverServer>
{
    private readonly S3rverServer _server;

    public S3ObjectStorageTests(S3rverServer server) => _server = server;

    private S3StorageOptions Options(int pageSize = 1000) => new()
    {
        Endpoint = _server.Endpoint,
        AccessKeyId = S3rverServer.AccessKey,
        SecretAccessKey = new S3Secret(S3rverServer.SecretKey),
        ListPageSize = pageSize,
    };

    private S3ObjectStorage Open(string prefix, int pageSize = 1000) =>
        new(StorageUrl.Parse($"s3://{_server.Bucket}/{prefix}"), Options(pageSize));

    private static MemoryStream Content(string text) => new(Encoding.UTF8.GetBytes(text));

    private static async Task<string?> ReadAsync(IObjectStorage storage, string name)
    {
        await using var stream = await storage.TryOpenReadAsync(name);
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task PutGetDelete_RoundTrip_UnderThePrefix()
    {
        var prefix = $"t-{Guid.NewGuid():N}";
        await using var storage = Open(prefix);

        Assert.True(await storage.PutIfAbsentAsync("dbs/1/a.seg", Content("hello")));
        Assert.Equal("hello", await ReadAsync(storage, "dbs/1/a.seg"));

        var listed = await storage.ListAsync("dbs/");
        Assert.Equal([("dbs/1/a.seg", 5L)], listed.Select(o => (o.Name, o.Size)));
        Assert.InRange(listed[0].LastModified!.Value, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));

        // Another prefix in the same bucket sees nothing of it.
        await using var other = Open(prefix + "-other");
        Assert.Empty(await other.ListAsync(""));
        Assert.Null(await ReadAsync(other, "dbs/1/a.seg"));

        Assert.True(await storage.DeleteAsync("dbs/1/a.seg"));
        Assert.False(await storage.DeleteAsync("dbs/1/a.seg"));
        Assert.Null(await ReadAsync(storage, "dbs/1/a.seg"));
    }

    [Fact]
    public async Task TryOpenRead_MissingObject_Null()
    {
        await using var storage = Open($"t-{Guid.NewGuid():N}");

        Assert.Null(await storage.TryOpenReadAsync("no/such/object"));
    }

    [Fact]
    public async Task PutIfAbsent_NonSeekableStream_Uploaded()
    {
        await using var storage = Open($"t-{Guid.NewGuid():N}");
        var bytes = new byte[300_000];
        Random.Shared.NextBytes(bytes);
        await using var pipe = new NonSeekable(new MemoryStream(bytes));

        Assert.True(await storage.PutIfAbsentAsync("big", pipe));

        await using var read = (await storage.TryOpenReadAsync("big"))!;
        using var copy = new MemoryStream();
        await read.CopyToAsync(copy);
        Assert.Equal(bytes, copy.ToArray());
    }

    [Fact]
    public async Task List_MoreObjectsThanAPage_AllInOrdinalOrder()
    {
        await using var storage = Open($"t-{Guid.NewGuid():N}", pageSize: 7);
        var names = Enumerable.Range(0, 40).Select(i => $"seg/{i:x4}-{(i % 3 == 0 ? "A" : "b")}").ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, ct) =>
            Assert.True(await storage.PutIfAbsentAsync(name, Content(name), ct)));
        Assert.True(await storage.PutIfAbsentAsync("other/x", Content("x")));

        var listed = await storage.ListAsync("seg/");

        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Select(o => o.Name));
        Assert.All(listed, o => Assert.Equal(o.Name.Length, o.Size));
        Assert.Equal(41, (await storage.ListAsync("")).Count);
    }

    [Fact]
    public async Task AnyCall_MissingBucket_StorageNotFound()
    {
        await using var storage = new S3ObjectStorage(StorageUrl.Parse("s3://no-such-bucket-here/p"), Options());

        var list = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));
        var put = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("x", Content("x")));

        Assert.Equal(ErrorCodes.StorageNotFound, list.Code);
        Assert.Equal(ErrorCodes.StorageNotFound, put.Code);
    }

    [Fact]
    public async Task AnyCall_ServerDown_Unavailable()
    {
        await using var server = new S3rverServer();
        await server.InitializeAsync();
        var options = new S3StorageOptions
        {
            Endpoint = server.Endpoint,
            AccessKeyId = S3rverServer.AccessKey,
            SecretAccessKey = new S3Secret(S3rverServer.SecretKey),
        };
        await using var storage = new S3ObjectStorage(StorageUrl.Parse($"s3://{server.Bucket}/p"), options);
        Assert.Empty(await storage.ListAsync(""));

        server.Stop();
        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));

        Assert.Equal(ErrorCodes.StorageUnavailable, error.Code);
        Assert.Equal(ErrorClass.Transient, error.Class);
    }

    [Fact]
    public async Task AnyCall_CallerCancels_Cancelled()
    {
        await using var storage = Open($"t-{Guid.NewGuid():N}");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync("", cancelled.Token));

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
    }

    private sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
