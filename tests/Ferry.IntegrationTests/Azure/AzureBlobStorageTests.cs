using System.Text;
using Ferry.Azure;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.TestKit.Azure;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Azure;

/// <summary>IObjectStorage behaviour of <see cref="AzureBlobStorage"/> against a real Azurite process, and how its failures are classified.</summary>
public sealed class AzureBlobStorageTests : IClassFixture<AzuriteServer>
{
    /// <summary>A valid base64 key of the right length that is not the account's.</summary>
    private const string WrongKey = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0s=";

    private readonly AzuriteServer _server;
    private readonly ITestOutputHelper _output;

    public AzureBlobStorageTests(AzuriteServer server, ITestOutputHelper output) => (_server, _output) = (server, output);

    private static AzureStorageOptions KeyOptions(string key = AzuriteServer.AccountKey, int pageSize = 5000) => new()
    {
        AccountName = AzuriteServer.Account,
        AccountKey = new AzureSecret(key),
        ListPageSize = pageSize,
    };

    private AzureBlobStorage Open(string prefix, int pageSize = 5000) => new(StorageUrl.Parse(_server.Url(prefix)), KeyOptions(pageSize: pageSize));

    private static MemoryStream Content(string text) => new(Encoding.UTF8.GetBytes(text));

    private static async Task<string?> ReadAsync(IObjectStorage storage, string name)
    {
        await using var stream = await storage.TryOpenReadAsync(name);
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task PutGetDelete_RoundTrip_UnderThePrefixWithLastModified()
    {
        var prefix = $"t-{Guid.NewGuid():N}";
        await using var storage = Open(prefix);

        Assert.True(await storage.PutIfAbsentAsync("dbs/1/a.seg", Content("hello")));
        Assert.Equal("hello", await ReadAsync(storage, "dbs/1/a.seg"));

        var listed = await storage.ListAsync("dbs/");
        Assert.Equal([("dbs/1/a.seg", 5L)], listed.Select(o => (o.Name, o.Size)));
        Assert.InRange(listed[0].LastModified!.Value, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Equal(TimeSpan.Zero, listed[0].LastModified!.Value.Offset);

        // Another prefix in the same container sees nothing of it.
        await using var other = Open(prefix + "-other");
        Assert.Empty(await other.ListAsync(""));
        Assert.Null(await ReadAsync(other, "dbs/1/a.seg"));

        Assert.True(await storage.DeleteAsync("dbs/1/a.seg"));
        Assert.False(await storage.DeleteAsync("dbs/1/a.seg"));
        Assert.Null(await ReadAsync(storage, "dbs/1/a.seg"));
    }

    [Fact]
    public async Task PutIfAbsent_NameTaken_FalseAndTheFirstContentStays()
    {
        await using var storage = Open($"t-{Guid.NewGuid():N}");

        Assert.True(await storage.PutIfAbsentAsync("seg", Content("first")));
        Assert.False(await storage.PutIfAbsentAsync("seg", Content("second")));

        Assert.Equal("first", await ReadAsync(storage, "seg"));
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
    public async Task ConnectionString_NoEndpointInUrl_ReachesTheConnectionStringsEndpoint()
    {
        var prefix = $"t-{Guid.NewGuid():N}";
        var options = new AzureStorageOptions { ConnectionString = new AzureSecret(_server.ConnectionString) };
        await using var storage = new AzureBlobStorage(StorageUrl.Parse($"az://{_server.Container}/{prefix}"), options);

        Assert.True(await storage.PutIfAbsentAsync("x", Content("via connection string")));

        await using var byKey = Open(prefix);
        Assert.Equal("via connection string", await ReadAsync(byKey, "x"));
    }

    [Fact]
    public async Task AnyCall_MissingContainer_StorageNotFoundNamingIt()
    {
        await using var storage = new AzureBlobStorage(StorageUrl.Parse(_server.Url("p", container: "no-such-container")), KeyOptions());

        var list = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));
        var put = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("x", Content("x")));
        var read = await Assert.ThrowsAsync<FerryException>(() => storage.TryOpenReadAsync("x"));
        var delete = await Assert.ThrowsAsync<FerryException>(() => storage.DeleteAsync("x"));

        Assert.All(new[] { list, put, read, delete }, e => Assert.Equal(ErrorCodes.StorageNotFound, e.Code));
        _output.WriteLine(list.ToOneLine());
        Assert.Contains("ContainerNotFound", list.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorClass.Permanent, list.Class);
    }

    [Fact]
    public async Task AnyCall_WrongKey_PermissionDeniedWithoutTheKey()
    {
        await using var storage = new AzureBlobStorage(StorageUrl.Parse(_server.Url("p")), KeyOptions(WrongKey));

        var list = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));
        var put = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("x", Content("x")));

        _output.WriteLine(put.ToOneLine());
        Assert.Equal(ErrorCodes.StoragePermissionDenied, list.Code);
        Assert.Equal(ErrorCodes.StoragePermissionDenied, put.Code);
        Assert.Equal(ErrorClass.Permanent, put.Class);
        Assert.Contains("AZURE_STORAGE_KEY", put.Message, StringComparison.Ordinal);
        foreach (var e in new[] { list, put })
        {
            var everything = e.ToString() + e.ToOneLine();
            Assert.DoesNotContain(WrongKey, everything, StringComparison.Ordinal);
            Assert.DoesNotContain(WrongKey[..20], everything, StringComparison.Ordinal);
        }
    }

    /// <summary>Nothing listens on the endpoint's port (a stopped Azurite is the outage tests' part): the SDK's few retries, then a transient error.</summary>
    [Fact]
    public async Task AnyCall_ConnectionRefused_UnavailableTransient()
    {
        var port = TestKit.Tools.FreePort();
        await using var storage = new AzureBlobStorage(StorageUrl.Parse($"az://c-down/p?endpoint=http://127.0.0.1:{port}/{AzuriteServer.Account}"), KeyOptions());

        var list = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));
        var put = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("x", Content("x")));

        _output.WriteLine(list.ToOneLine());
        Assert.Equal(ErrorCodes.StorageUnavailable, list.Code);
        Assert.Equal(ErrorCodes.StorageUnavailable, put.Code);
        Assert.Equal(ErrorClass.Transient, list.Class);
        Assert.Contains("refused", list.Message, StringComparison.OrdinalIgnoreCase);
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

    [Fact]
    public async Task AnyCall_NoAnswerWithinTheDeadline_TimeoutNotCancelled()
    {
        // A listener that accepts connections and never answers: the request's own deadline ends it.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var options = KeyOptions() with { RequestTimeout = TimeSpan.FromMilliseconds(500), MaxRetries = 0 };
        await using var storage = new AzureBlobStorage(StorageUrl.Parse($"az://c-silent/p?endpoint=http://127.0.0.1:{port}/{AzuriteServer.Account}"), options);

        var error = await Assert.ThrowsAsync<FerryException>(() => storage.ListAsync(""));

        _output.WriteLine(error.ToOneLine());
        Assert.Equal(ErrorCodes.StorageTimeout, error.Code);
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
