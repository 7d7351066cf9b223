using Ferry.Capture;
using Ferry.Replica;
using Ferry.S3;
using Ferry.Storage;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.S3;
using Microsoft.Data.Sqlite;

namespace Ferry.IntegrationTests.S3;

/// <summary>
/// A long chain of small segments in s3rver, restored by the real <c>ferry restore</c> one object at a time and with
/// parallel downloads: both give the database's final state byte for byte.
/// </summary>
public sealed class S3ParallelRestoreTests : IClassFixture<S3rverServer>, IDisposable
{
    private const int PageSize = 4096;
    private const int Transactions = 200;
    private static readonly DateTimeOffset T0 = new(2026, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private static readonly ReplicaDatabase Db = new(4, "/var/lib/app/chain.db");

    private readonly S3rverServer _server;
    private readonly TempDirectory _dir = new("s3-parallel-restore");

    public S3ParallelRestoreTests(S3rverServer server) => _server = server;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Restore_LongChainFromS3_Parallelism1And8_TheSameFinalStateByteForByte()
    {
        var url = $"s3://{_server.Bucket}/chain-{Guid.NewGuid():N}";
        var (first, transactions, final) = History();
        await using (var storage = new S3ObjectStorage(StorageUrl.Parse(url), new S3StorageOptions
        {
            Endpoint = _server.Endpoint,
            AccessKeyId = S3rverServer.AccessKey,
            SecretAccessKey = new S3Secret(S3rverServer.SecretKey),
        }))
        {
            var writer = new ReplicaWriter(storage, Db);
            var generation = await writer.CreateGenerationAsync(T0, PageSize);
            await writer.WriteSnapshotAsync(generation, 0, T0, new ImagePages(first));
            for (var i = 0; i < transactions.Count; i++) await writer.WriteSegmentAsync(generation, i, [transactions[i]]);
        }

        foreach (var parallelism in new[] { "1", "8" })
        {
            var output = _dir.File($"p{parallelism}.db");

            var result = await FerryCli.RunAsync(["restore", "--from", url, "--db", "chain.db", "--out", output, "--parallelism", parallelism],
                _dir.File("home"), _server.Environment, TimeSpan.FromMinutes(3));

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains($"{Transactions} transactions from {Transactions} segments", result.Stdout, StringComparison.Ordinal);
            Assert.Equal(final, await File.ReadAllBytesAsync(output));
        }
    }

    /// <summary>
    /// A real database changed row by row, each change closed (SQLite checkpoints and drops its WAL): the first
    /// state's bytes, each change as the pages that differ from the state before, and the final state's bytes.
    /// </summary>
    private (byte[] First, List<CommittedTransaction> Transactions, byte[] Final) History()
    {
        var path = _dir.File("source.db");
        void Execute(string sql)
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        Execute($"PRAGMA page_size={PageSize}; PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);");
        var first = File.ReadAllBytes(path);
        var before = first;
        var transactions = new List<CommittedTransaction>();
        for (var i = 0; i < Transactions; i++)
        {
            Execute($"INSERT INTO t(v) VALUES (printf('%0500d', {i}));");
            var after = File.ReadAllBytes(path);
            var pages = after.Length / PageSize;
            var frames = new List<WalFrame>();
            for (var p = 0; p < pages; p++)
            {
                var page = after.AsMemory(p * PageSize, PageSize);
                if ((p + 1) * PageSize > before.Length || !page.Span.SequenceEqual(before.AsSpan(p * PageSize, PageSize))) frames.Add(new WalFrame((uint)(p + 1), 0, page));
            }

            frames[^1] = frames[^1] with { CommitSize = (uint)pages };
            transactions.Add(new CommittedTransaction(T0.AddSeconds(i + 1), frames));
            before = after;
        }

        return (first, transactions, before);
    }

    private sealed class ImagePages(byte[] image) : IPageSource
    {
        public int PageSize => S3ParallelRestoreTests.PageSize;

        public uint PageCount => (uint)(image.Length / PageSize);

        public void ReadPage(uint pageNumber, Span<byte> destination) =>
            image.AsSpan((int)(pageNumber - 1) * PageSize, PageSize).CopyTo(destination);
    }
}
