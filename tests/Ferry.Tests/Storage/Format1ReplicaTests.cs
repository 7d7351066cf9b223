using Ferry.Replica;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.TestKit;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Storage;

/// <summary>
/// DESIGN §10: a restore reads what earlier versions of Ferry wrote. <see cref="Format1Replica"/> was written before
/// segments carried their writer's token; it verifies, and restores to its latest state and to a point in time.
/// </summary>
public sealed class Format1ReplicaTests : IDisposable
{
    private readonly TempDirectory _dir = new("format1");
    private readonly FileStorage _storage = new(Format1Replica.Root);

    public void Dispose() => _dir.Dispose();

    private static (long Rows, string Last) Rows(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*), max(v) FROM t";
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetString(1));
    }

    [Fact]
    public async Task Restore_Latest_EveryTransaction()
    {
        var output = _dir.File("latest.db");

        var result = await DatabaseRestore.RunAsync(_storage, new RestoreRequest("app.db", output));

        Assert.Equal(Format1Replica.Generation, result.Generation);
        Assert.Equal(6, result.NextIndex);
        Assert.Equal((12L, "6002".PadLeft(40, '0')), Rows(output));
        Assert.Empty(result.Notes);
    }

    [Fact]
    public async Task Restore_TimeInTheMiddle_StateThenThoughALaterCopyOverlapsIt()
    {
        // The zombie's 0-3, captured an hour later, sorts between 0-1 and 2-3: it must not end the chain at 2.
        var output = _dir.File("middle.db");

        var result = await DatabaseRestore.RunAsync(_storage, new RestoreRequest("app.db", output, SqliteHistory.TimeOf(3).AddMilliseconds(500)));

        Assert.Equal(4, result.NextIndex);
        Assert.Equal(SqliteHistory.TimeOf(3), result.RestoredTo);
        Assert.Equal((8L, "4002".PadLeft(40, '0')), Rows(output));
    }

    [Fact]
    public async Task Verify_EveryObjectIntactNothingLeftOut()
    {
        var catalog = await ReplicaCatalog.LoadAsync(_storage);

        var report = await ReplicaVerifier.VerifyAsync(_storage, catalog, catalog.Databases);

        Assert.True(report.Ok, string.Join('\n', report.Problems.Select(p => p.Error.Message)));
        Assert.Equal(6, report.ObjectsChecked);
        Assert.Empty(report.Notes);
    }
}
