using System.Diagnostics;
using System.Text;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.TestKit;

namespace Ferry.Tests.Storage;

public sealed class FileStorageTests : IDisposable
{
    private readonly TempDirectory _dir = new("storage");
    private readonly FileStorage _storage;

    public FileStorageTests() => _storage = new FileStorage(_dir.Path);

    public void Dispose() => _dir.Dispose();

    private static MemoryStream Content(string text) => new(Encoding.UTF8.GetBytes(text));

    private static string[] TempFiles(string root) =>
        Directory.GetFiles(root, "*.tmp", SearchOption.AllDirectories);

    [Fact]
    public async Task PutIfAbsent_NewName_CreatesObjectReadableBack()
    {
        Assert.True(await _storage.PutIfAbsentAsync("a/b/c.seg", Content("hello")));

        Assert.Equal("hello"u8.ToArray(), await _storage.ReadAllBytesAsync("a/b/c.seg"));
        Assert.Empty(TempFiles(_dir.Path));
    }

    [Fact]
    public async Task PutIfAbsent_NameTaken_ReturnsFalseAndKeepsFirstContent()
    {
        Assert.True(await _storage.PutIfAbsentAsync("x/o", Content("first")));

        Assert.False(await _storage.PutIfAbsentAsync("x/o", Content("second")));
        Assert.Equal("first"u8.ToArray(), await _storage.ReadAllBytesAsync("x/o"));
        Assert.Empty(TempFiles(_dir.Path));
    }

    [Fact]
    public async Task PutIfAbsent_ConcurrentWritersOfOneName_ExactlyOneWins()
    {
        for (var round = 0; round < 20; round++)
        {
            var name = $"race/{round}";
            var writers = Enumerable.Range(0, 8)
                .Select(i => Task.Run(() => _storage.PutIfAbsentAsync(name, Content($"writer {i}"))))
                .ToArray();
            var results = await Task.WhenAll(writers);

            Assert.Equal(1, results.Count(r => r));
            var winner = Array.IndexOf(results, true);
            Assert.Equal($"writer {winner}", Encoding.UTF8.GetString(await _storage.ReadAllBytesAsync(name)));
        }

        Assert.Empty(TempFiles(_dir.Path));
    }

    [Fact]
    public async Task PutIfAbsent_ContentStreamFails_NoObjectNoTempFile()
    {
        var error = await Assert.ThrowsAsync<FerryException>(() => _storage.PutIfAbsentAsync("f/o", new FailingStream()));

        Assert.Equal(ErrorCodes.StorageIo, error.Code);
        Assert.Null(await _storage.TryOpenReadAsync("f/o"));
        Assert.Empty(TempFiles(_dir.Path));
    }

    [Fact]
    public async Task PutIfAbsent_Cancelled_NoTempFile()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var error = await Assert.ThrowsAsync<FerryException>(() => _storage.PutIfAbsentAsync("c/o", Content("x"), cts.Token));

        Assert.Equal(ErrorCodes.Cancelled, error.Code);
        Assert.Empty(TempFiles(_dir.Path));
    }

    [Fact]
    public async Task PutIfAbsent_DiskFull_QuotaExceededAndNoTempFile()
    {
        using var mount = new TempDirectory("tmpfs");
        Run("mount", $"-t tmpfs -o size=64k tmpfs {mount.Path}");
        try
        {
            var storage = new FileStorage(mount.Path);
            Assert.True(await storage.PutIfAbsentAsync("small", new MemoryStream(new byte[8192])));

            var error = await Assert.ThrowsAsync<FerryException>(() => storage.PutIfAbsentAsync("d/big", new MemoryStream(new byte[1 << 20])));

            Assert.Equal(ErrorCodes.StorageQuotaExceeded, error.Code);
            Assert.Contains("put d/big", error.ToOneLine(), StringComparison.Ordinal);
            Assert.Empty(TempFiles(mount.Path));
            Assert.Null(await storage.TryOpenReadAsync("d/big"));
        }
        finally
        {
            Run("umount", mount.Path);
        }
    }

    [Fact]
    public async Task TryOpenRead_Missing_NullAndOpenReadNamesTheObject()
    {
        Assert.Null(await _storage.TryOpenReadAsync("no/such"));

        var error = await Assert.ThrowsAsync<FerryException>(() => _storage.OpenReadAsync("no/such"));
        Assert.Equal(ErrorCodes.StorageObjectNotFound, error.Code);
        Assert.Contains("no/such", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_Prefix_ReturnsMatchingNamesSortedWithSizesAndSkipsTempFiles()
    {
        await _storage.PutIfAbsentAsync("dbs/2/b", Content("22"));
        await _storage.PutIfAbsentAsync("dbs/1/a", Content("1"));
        await _storage.PutIfAbsentAsync("other/x", Content("333"));
        await File.WriteAllTextAsync(Path.Combine(_dir.Path, "dbs", "1", ".a.123.tmp"), "partial");

        var listed = await _storage.ListAsync("dbs/");

        Assert.Equal([("dbs/1/a", 1L), ("dbs/2/b", 2L)], listed.Select(o => (o.Name, o.Size)));
        Assert.All(listed, o => Assert.InRange(o.LastModified!.Value, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5)));
        Assert.Empty(await _storage.ListAsync("nothing/"));
    }

    [Fact]
    public async Task Delete_ExistingThenMissing_TrueThenFalse()
    {
        await _storage.PutIfAbsentAsync("d/x", Content("1"));

        Assert.True(await _storage.DeleteAsync("d/x"));
        Assert.False(await _storage.DeleteAsync("d/x"));
        Assert.Null(await _storage.TryOpenReadAsync("d/x"));
    }

    [Fact]
    public void Constructor_MissingRoot_StorageNotFound()
    {
        var error = Assert.Throws<FerryException>(() => new FileStorage(_dir.File("missing")));

        Assert.Equal(ErrorCodes.StorageNotFound, error.Code);
    }

    [Fact]
    public async Task PutIfAbsent_InvalidName_Rejected()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _storage.PutIfAbsentAsync("../escape", Content("x")));
        Assert.False(ObjectNames.IsValid("a//b"));
        Assert.False(ObjectNames.IsValid("a/.hidden"));
        Assert.True(ObjectNames.IsValid("dbs/1/!data!app.db/x"));
    }

    [Fact]
    public void StorageFactory_S3NotRegistered_NotSupported()
    {
        var error = Assert.Throws<FerryException>(() => StorageFactory.Open(StorageUrl.Parse("s3://bucket/prefix")));

        Assert.Equal(ErrorCodes.StorageNotSupported, error.Code);
        Assert.IsType<FileStorage>(StorageFactory.Open(StorageUrl.Parse(_dir.Path)));
    }

    private static void Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {arguments}: {stderr}");
    }

    private sealed class FailingStream : MemoryStream
    {
        private int _reads;

        public FailingStream()
            : base(new byte[100000])
        {
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ++_reads > 1 ? throw new IOException("source broke") : base.ReadAsync(buffer[..10], cancellationToken);
    }
}
