using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Streams;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Streams;

/// <summary>
/// The decision of <c>ferry wait</c>: durable by position while the WAL is the one the position names, by the
/// checkpoint's time otherwise, and never by the time of a store whose streams are not all healthy.
/// </summary>
public sealed class DurableWaitTests : IDisposable
{
    private const string Db = "/data/app.db";
    private const long CalledAt = 1_000_000;
    private static readonly FileIdentity File1 = new(1, 100);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ferry-durable-wait-{Guid.NewGuid():N}");

    public DurableWaitTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Checkpoint Record(long ts, uint salt1, uint frame, string? state = null, FileIdentity? file = null)
    {
        var identity = file ?? File1;
        var cursor = new WalCursor(salt1, 7, frame, 0, 0, 4096, identity.Device, identity.Inode);
        return new Checkpoint(ts, new Dictionary<string, string> { [Db] = new StreamPosition("gen", 3, cursor).Serialize() }, state);
    }

    [Theory]
    [InlineData(12u, true)]
    [InlineData(10u, true)]
    [InlineData(9u, false)]
    public void Judge_SameWal_ByFrameWhateverTheTime(uint shippedFrame, bool durable)
    {
        var target = new WalMark(5, 7, 10, File1);

        // The checkpoint's time is before the call: the position alone decides.
        var (result, why) = DurableWait.Judge(Record(CalledAt - 5000, 5, shippedFrame), Db, target, CalledAt);

        Assert.Equal(durable, result);
        Assert.Contains($"WAL frame {shippedFrame}", why, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_SameWalBehindWhileDegraded_NotDurable()
    {
        var (result, _) = DurableWait.Judge(Record(CalledAt + 5000, 5, 9, nameof(TaskState.DEGRADED)), Db, new WalMark(5, 7, 10, File1), CalledAt);

        Assert.False(result);
    }

    [Theory]
    [InlineData(CalledAt, true)]
    [InlineData(CalledAt - 1, false)]
    public void Judge_WalResetSince_ByCheckpointTime(long ts, bool durable)
    {
        // The shipped cursor is in a newer WAL (other salts) than the one read when the wait started.
        var (result, _) = DurableWait.Judge(Record(ts, 6, 2), Db, new WalMark(5, 7, 10, File1), CalledAt);

        Assert.Equal(durable, result);
    }

    [Fact]
    public void Judge_DatabaseFileReplaced_ByCheckpointTime()
    {
        var (result, why) = DurableWait.Judge(Record(CalledAt - 1, 5, 50, file: new FileIdentity(1, 999)), Db, new WalMark(5, 7, 10, File1), CalledAt);

        Assert.False(result);
        Assert.Contains("before the start of the wait", why, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(TaskState.DEGRADED))]
    [InlineData(nameof(TaskState.RETRYING))]
    [InlineData(nameof(TaskState.PAUSED_DUE_TO_ERROR))]
    public void Judge_NoWalCommitAndStoreNotHealthy_ItsTimeProvesNothing(string state)
    {
        var (result, why) = DurableWait.Judge(Record(CalledAt + 5000, 5, 3, state), Db, target: null, CalledAt);

        Assert.False(result);
        Assert.Contains(state, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Judge_NoPositionForTheDatabase_NotDurable()
    {
        var (result, _) = DurableWait.Judge(new Checkpoint(CalledAt + 5000, new Dictionary<string, string> { ["/other.db"] = "{}" }), Db, null, CalledAt);

        Assert.False(result);
    }

    [Fact]
    public void WalMarkRead_RealWal_LastCommitFrameAndNoneOnceCheckpointedAway()
    {
        var path = Path.Combine(_dir, "app.db");
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x)");
            var afterCreate = WalMark.Read(path);
            Execute(connection, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)");
            var afterInserts = WalMark.Read(path);

            Assert.NotNull(afterCreate);
            Assert.NotNull(afterInserts);
            Assert.Equal(afterCreate.Value.Salt1, afterInserts.Value.Salt1);
            Assert.True(afterInserts.Value.FrameIndex > afterCreate.Value.FrameIndex, $"{afterInserts} after {afterCreate}");
            Assert.Equal(FileIdentity.Of(path), afterInserts.Value.Database);

            Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
            Assert.Null(WalMark.Read(path));
        }

        // The last connection closed: SQLite removed the WAL.
        Assert.Null(WalMark.Read(path));
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
