using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.IntegrationTests.Agent;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Hosting;

/// <summary>
/// Ferry inside an application (DESIGN §11): the sample minimal API, a real process writing to SQLite through HTTP, with
/// <c>AddFerry</c> replicating its database and <c>/health</c> reporting Ferry's state. Its backups restore with the
/// real <c>ferry restore</c>; a really full file system (tmpfs, needs root) turns its health Unhealthy with the code.
/// </summary>
public sealed class SampleApiTests(ITestOutputHelper output) : IDisposable
{
    private const string QuotaExceeded = "FERRY:Storage:QuotaExceeded";

    private readonly TempDirectory _dir = new("sample-api");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task SampleApi_RowsWrittenThroughHttpThenSigterm_RestoreHasEveryRow()
    {
        const int Rows = 150;
        var watch = Stopwatch.StartNew();
        var database = _dir.File("data/app.db");
        var backup = _dir.File("backup");
        await using var app = await SampleApiProcess.StartAsync(database, backup, _dir.File("data/ferry-meta.db"), _dir.Path);
        await app.WaitForHealthAsync("Healthy", TimeSpan.FromSeconds(30));

        for (var i = 0; i < Rows; i++) await app.InsertAsync($"item {i} {new string('x', 40)}");
        Assert.Equal(Rows, await app.CountAsync());

        // Straight after the last write: what the application committed is shipped on the way out, not lost.
        Assert.True(await app.StopAsync() == 0, app.Log);
        Assert.Contains("task app started on store 1", app.Log, StringComparison.Ordinal);

        await StorageChecks.AssertRestoreMatchesAsync(backup, database, _dir.File("restored.db"), _dir.Path);
        Assert.Equal(Rows.ToString(System.Globalization.CultureInfo.InvariantCulture), Sqlite3.Run(_dir.File("restored.db"), "SELECT count(*) FROM items").Trim());
        output.WriteLine($"{Rows} rows through HTTP, SIGTERM, restore: {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task SampleApi_StorageFull_HealthTurnsUnhealthyWithTheCodeAndHint()
    {
        var watch = Stopwatch.StartNew();
        var database = _dir.File("data/app.db");
        using var tmpfs = await TmpfsMount.MountAsync(_dir.File("backup"), "2m");
        await using var app = await SampleApiProcess.StartAsync(database, tmpfs.Path, _dir.File("data/ferry-meta.db"), _dir.Path);
        try
        {
            await app.InsertAsync("first");
            await app.WaitForHealthAsync("Healthy", TimeSpan.FromSeconds(30));

            // About 4 MB of incompressible rows into a 2 MB file system, in 48 KB transactions.
            for (var i = 0; i < 84; i++) await app.InsertAsync(Convert.ToBase64String(RandomNumberGenerator.GetBytes(36 * 1024)));
            var filled = Stopwatch.StartNew();
            var body = await app.WaitForHealthAsync("Unhealthy", TimeSpan.FromSeconds(15));
            var after = filled.Elapsed;

            var (status, _) = await app.HealthAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            using var doc = JsonDocument.Parse(body);
            var ferry = doc.RootElement.GetProperty("checks").GetProperty("ferry");
            Assert.Equal("Unhealthy", ferry.GetProperty("status").GetString());
            var data = ferry.GetProperty("data");
            Assert.True(data.GetProperty("error_code").GetString() == QuotaExceeded, body);
            Assert.False(string.IsNullOrEmpty(data.GetProperty("hint").GetString()), body);
            var task = data.GetProperty("tasks").EnumerateArray().Single();
            Assert.Equal("app", task.GetProperty("task").GetString());
            Assert.Equal("PAUSED_DUE_TO_ERROR", task.GetProperty("state").GetString());
            Assert.Equal(QuotaExceeded, task.GetProperty("error_code").GetString());

            // The application itself goes on serving while its backup is paused.
            Assert.Equal(85, await app.CountAsync());
            output.WriteLine($"storage full: /health Unhealthy {after.TotalMilliseconds:0} ms after the fill; whole test {watch.Elapsed.TotalSeconds:0.0} s\n{body}");
        }
        finally
        {
            // Stopped before the tmpfs is unmounted: nothing may hold it open.
            await app.StopAsync();
        }
    }
}
