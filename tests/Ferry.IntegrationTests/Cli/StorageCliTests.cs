using System.Diagnostics;
using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Replica;
using Ferry.TestKit;
using Microsoft.Data.Sqlite;

namespace Ferry.IntegrationTests.Cli;

/// <summary>Runs the real <c>ferry</c> (ferry.dll next to these tests) against a storage written by <see cref="ReplicaWriter"/>.</summary>
public sealed class StorageCliTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly ReplicaDatabase Db = new(3, "/var/lib/shop/orders.db");

    private readonly TempDirectory _dir = new("cli");
    private readonly string _storage;

    public StorageCliTests()
    {
        _storage = _dir.File("storage");
        Directory.CreateDirectory(_storage);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>A real database file, snapshotted at T0, with one segment that rewrites its first page at T0+1s.</summary>
    private async Task<GenerationId> WriteBackupAsync(FenceToken? fence = null)
    {
        var source = _dir.File("source.db");
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('tea'), ('cake');";
            command.ExecuteNonQuery();
        }

        var image = await File.ReadAllBytesAsync(source);
        var storage = new Ferry.Storage.FileStorage(_storage);
        var writer = new ReplicaWriter(storage, Db, fence);
        var generation = await writer.CreateGenerationAsync(T0, 4096);
        await writer.WriteSnapshotAsync(generation, 0, T0, new ImagePages(image));
        var page1 = image.AsMemory(0, 4096);
        await writer.WriteSegmentAsync(generation, 0, [new CommittedTransaction(T0.AddSeconds(1), [new WalFrame(1, (uint)(image.Length / 4096), page1)])]);
        return generation;
    }

    [Fact]
    public async Task StorageLs_ListsDatabaseGenerationAndRange()
    {
        var generation = await WriteBackupAsync();

        var (exit, stdout, _) = await FerryAsync("storage", "ls", "--from", _storage);
        var (jsonExit, json, _) = await FerryAsync("storage", "ls", "--from", _storage, "--json");

        Assert.Equal(0, exit);
        Assert.Contains("store 3  /var/lib/shop/orders.db", stdout, StringComparison.Ordinal);
        Assert.Contains($"generation {generation}", stdout, StringComparison.Ordinal);
        Assert.Contains("restorable 2026-03-04T05:06:07.000Z .. 2026-03-04T05:06:08.000Z", stdout, StringComparison.Ordinal);
        // The database's own line: its restorable window and how many objects it holds (manifest, snapshot, segment).
        Assert.Contains("store 3  /var/lib/shop/orders.db  restorable 2026-03-04T05:06:07.000Z .. 2026-03-04T05:06:08.000Z  3 objects", stdout, StringComparison.Ordinal);
        Assert.Equal(0, jsonExit);
        Assert.Contains("\"path\":\"/var/lib/shop/orders.db\"", json, StringComparison.Ordinal);
        var database = System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("databases")[0];
        Assert.Equal(T0, database.GetProperty("oldest_restorable").GetDateTimeOffset());
        Assert.Equal(T0.AddSeconds(1), database.GetProperty("newest_restorable").GetDateTimeOffset());
        Assert.Equal(3, database.GetProperty("objects").GetInt32());
    }

    [Fact]
    public async Task ZombieGeneration_LsMarksItFencedOut_RestoreLeavesItOutAndSaysSo()
    {
        var live = await WriteBackupAsync(new FenceToken(2, 1));
        // A process fenced out at generation 1 starts a generation of its own while the live one ships: an empty database.
        var empty = _dir.File("empty.db");
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = empty, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT);";
            command.ExecuteNonQuery();
        }

        var zombie = new ReplicaWriter(new Ferry.Storage.FileStorage(_storage), Db, new FenceToken(1, 3));
        var zombieGeneration = await zombie.CreateGenerationAsync(T0.AddMilliseconds(500), 4096);
        await zombie.WriteSnapshotAsync(zombieGeneration, 0, T0.AddMilliseconds(500), new ImagePages(await File.ReadAllBytesAsync(empty)));
        var output = _dir.File("restored.db");

        var (lsExit, listing, _) = await FerryAsync("storage", "ls", "--from", _storage);
        var (exit, stdout, stderr) = await FerryAsync("restore", "--from", _storage, "--db", "orders.db", "--out", output);

        Assert.Equal(0, lsExit);
        Assert.Contains($"generation {live}", listing, StringComparison.Ordinal);
        Assert.Contains("fence generation 2 epoch 1", listing, StringComparison.Ordinal);
        Assert.Contains($"FENCED OUT: generation {zombieGeneration} is not used", listing, StringComparison.Ordinal);
        Assert.True(exit == 0, stderr);
        Assert.Contains($"generation {live}", stdout, StringComparison.Ordinal);
        Assert.Contains($"note: generation {zombieGeneration} is not used", stdout, StringComparison.Ordinal);
        using var restored = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = output, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        restored.Open();
        using var read = restored.CreateCommand();
        read.CommandText = "SELECT group_concat(item) FROM orders";
        Assert.Equal("tea,cake", read.ExecuteScalar());
    }

    [Theory]
    [InlineData]
    [InlineData("--parallelism", "1")]
    [InlineData("--parallelism", "64")]
    public async Task Restore_Latest_WritesAWorkingDatabase(params string[] extra)
    {
        await WriteBackupAsync();
        var output = _dir.File("restored.db");

        var (exit, stdout, stderr) = await FerryAsync(["restore", "--from", _storage, "--db", "orders.db", "--out", output, .. extra]);

        Assert.True(exit == 0, stderr);
        Assert.Contains("PRAGMA integrity_check: ok", stdout, StringComparison.Ordinal);
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = output, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT group_concat(item) FROM orders";
        Assert.Equal("tea,cake", command.ExecuteScalar());
    }

    [Fact]
    public async Task StorageVerify_DamagedSegment_FailsNamingTheObject()
    {
        var generation = await WriteBackupAsync();
        var (cleanExit, cleanOut, _) = await FerryAsync("storage", "verify", "--from", _storage);
        var segment = ReplicaLayout.Segment(Db, generation, 0, 0);
        var path = Path.Combine(_storage, segment);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^20] ^= 0x10;
        await File.WriteAllBytesAsync(path, bytes);

        var (exit, stdout, stderr) = await FerryAsync("storage", "verify", "--from", _storage, "--db", "shop/orders.db");

        Assert.Equal(0, cleanExit);
        Assert.Contains("all intact", cleanOut, StringComparison.Ordinal);
        Assert.Equal(1, exit);
        Assert.Contains($"DAMAGED {segment}: FERRY:Storage:CorruptObject", stdout, StringComparison.Ordinal);
        Assert.Contains("1 problems", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--time", "2026-03-04T05:06:07Z", "--latest")]
    [InlineData("--time", "yesterday")]
    [InlineData("--time", "2026-03-04T05:06:07")]
    [InlineData("--parallelism")]
    public async Task Restore_UsageErrors_Exit64WithOneLine(params string[] extra)
    {
        var (exit, stdout, stderr) = await FerryAsync(["restore", "--from", _storage, "--db", "orders.db", "--out", _dir.File("x.db"), .. extra]);

        Assert.Equal(64, exit);
        Assert.Empty(stdout);
        Assert.StartsWith("ferry: ", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("x.db")));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("65")]
    [InlineData("many")]
    public async Task Restore_ParallelismOutOfRange_Exit64NamingTheRange(string parallelism)
    {
        await WriteBackupAsync();

        var (exit, stdout, stderr) = await FerryAsync("restore", "--from", _storage, "--db", "orders.db", "--out", _dir.File("x.db"), "--parallelism", parallelism);

        Assert.Equal(64, exit);
        Assert.Empty(stdout);
        Assert.Contains($"ferry: --parallelism '{parallelism}' is not a whole number from 1 to 64.", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("x.db")));
    }

    [Fact]
    public async Task Restore_MissingRequiredOptions_Exit64()
    {
        // --db defaults to --out's absolute path (the entrypoint's `restore -o DB`), so --out is what is missing.
        var (exit, _, stderr) = await FerryAsync("restore", "--from", _storage);

        Assert.Equal(64, exit);
        Assert.Contains("Option '--out' is required.", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_UnknownDatabase_FailsListingWhatIsStored()
    {
        await WriteBackupAsync();

        var (exit, _, stderr) = await FerryAsync("restore", "--from", _storage, "--db", "nope.db", "--out", _dir.File("x.db"));

        Assert.Equal(1, exit);
        Assert.Contains("FERRY:Restore:DatabaseNotFound", stderr, StringComparison.Ordinal);
        Assert.Contains("/var/lib/shop/orders.db", stderr, StringComparison.Ordinal);
    }

    private static Task<(int Exit, string Stdout, string Stderr)> FerryAsync(params string[] args) => RunAsync(args);

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private sealed class ImagePages(byte[] image) : IPageSource
    {
        public int PageSize => 4096;

        public uint PageCount => (uint)(image.Length / 4096);

        public void ReadPage(uint pageNumber, Span<byte> destination) =>
            image.AsSpan((int)(pageNumber - 1) * 4096, 4096).CopyTo(destination);
    }
}
