using System.Globalization;
using System.Text;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.TestKit;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Streams;

/// <summary>
/// Point-in-time restore as a property: under a seeded random mix of writer operations (small and multi-row
/// transactions, updates and deletes of existing rows, rollbacks, the writer's own checkpoints of every mode, the
/// stream stopped and restarted from its position or with the position lost), a restore to any time T at which the
/// stream had shipped a checkpoint at or after T gives back exactly the source's table as it was at T.
/// </summary>
[Collection(StreamsCollection.Name)]
public sealed class StreamPropertyTests(ITestOutputHelper output) : IDisposable
{
    private const int Steps = 40;
    private readonly TempDirectory _dir = new("stream-prop");

    public void Dispose() => _dir.Dispose();

    /// <summary>Three fixed seeds, plus any listed in FERRY_STREAM_SEEDS (comma-separated) to explore more.</summary>
    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int> { 1, 20250601, 777 };
        foreach (var seed in (Environment.GetEnvironmentVariable("FERRY_STREAM_SEEDS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            seeds.Add(int.Parse(seed, CultureInfo.InvariantCulture));
        }

        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task RestoreAtAnyShippedTime_EqualsTheSourceAtThatTime(int seed)
    {
        var log = new StringBuilder();
        try
        {
            await RunAsync(seed, log);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} failed: {e.Message}\nsteps:\n{log}\n{e}");
        }
        finally
        {
            output.WriteLine($"seed {seed}\n{log}");
        }
    }

    private async Task RunAsync(int seed, StringBuilder log)
    {
        var random = new Random(seed);
        var db = _dir.File("app.db");
        var root = _dir.File("storage");
        Directory.CreateDirectory(root);
        var storage = new FileStorage(root);
        var settings = StreamFixture.Settings(storage);
        settings.Capture.CheckpointThresholdFrames = 20; // small: Ferry's checkpoint cycle runs at most recorded times
        var progress = new ShippedRecorder();
        var recorded = new List<(DateTimeOffset At, string Content, int Step)>();

        using var writer = await PythonWriter.StartAsync(db);
        await writer.InsertAsync(5, 200);
        var stream = RunningStream.Start(settings, db, null, progress);
        try
        {
            for (var step = 0; step < Steps; step++)
            {
                var roll = random.Next(100);
                var what = roll switch
                {
                    < 20 => await SmallTransactionsAsync(writer, random),
                    < 32 => await MultiRowAsync(writer, random),
                    < 44 => await UpdateOrDeleteAsync(writer, random),
                    < 52 => await RollbackAsync(writer, random),
                    < 64 => await CheckpointAsync(writer, random),
                    < 88 => await RecordAsync(writer, progress, stream, recorded, step),
                    _ => null,
                };
                if (what is null)
                {
                    (stream, what) = await RestartAsync(writer, random, settings, db, progress, stream);
                }

                log.Append(CultureInfo.InvariantCulture, $"{step}: {what}\n");
            }

            await RecordAsync(writer, progress, stream, recorded, Steps);
            await stream.StopAsync();
        }
        finally
        {
            await stream.DisposeAsync();
        }

        // The WAL was reset within a generation (by Ferry's checkpoint cycle, or its nonce on a restart after the
        // writer checkpointed): the continuity across resets was exercised.
        var positions = progress.All.Select(s => StreamPosition.Parse(s.Position, out _)!).ToList();
        var generations = positions.Select(p => p.Generation).Distinct().Count();
        var wals = positions.Select(p => (p.Generation, p.Cursor.Salt1, p.Cursor.Salt2)).Distinct().Count();
        log.Append(CultureInfo.InvariantCulture, $"{generations} generations, {wals} (generation, WAL salts) pairs, largest cursor frame {positions.Max(p => p.Cursor.FrameIndex)}\n");
        Assert.True(wals > generations, "the WAL was never reset within a generation: Ferry's checkpoint cycle did not run");

        var final = await writer.SqlAsync(StreamFixture.ContentQuery);
        var latest = await StreamFixture.RestoreContentAsync(storage, db, null, _dir.Path);
        Assert.True(final == latest, $"restore latest: {StreamFixture.Diff(final, latest)}");
        foreach (var (at, content, step) in recorded)
        {
            var restored = await StreamFixture.RestoreContentAsync(storage, db, at, _dir.Path);
            Assert.True(content == restored, $"restore at {at:O} (recorded after step {step}): {StreamFixture.Diff(content, restored)}");
        }

        Assert.True(recorded.Count >= 2, $"only {recorded.Count} points in time were recorded");
    }

    private static async Task<string> SmallTransactionsAsync(PythonWriter writer, Random random)
    {
        var count = random.Next(1, 5);
        var size = random.Next(20, 400);
        await writer.TransactionsAsync(count, size);
        return $"{count} one-row transactions of {size} bytes";
    }

    private static async Task<string> MultiRowAsync(PythonWriter writer, Random random)
    {
        var rows = random.Next(5, 30);
        var size = random.Next(100, 1500);
        await writer.InsertAsync(rows, size);
        return $"one transaction of {rows} rows of {size} bytes";
    }

    private static async Task<string> UpdateOrDeleteAsync(PythonWriter writer, Random random)
    {
        var ids = (await writer.SqlAsync("SELECT id FROM t ORDER BY id")).Split('|', StringSplitOptions.RemoveEmptyEntries);
        if (ids.Length == 0) return "update/delete: no rows";
        var chosen = ids.OrderBy(_ => random.Next()).Take(random.Next(1, Math.Min(6, ids.Length) + 1)).ToList();
        var list = string.Join(',', chosen);
        if (random.Next(2) == 0)
        {
            var size = random.Next(10, 2000);
            await writer.SqlAsync($"UPDATE t SET data = randomblob({size}) WHERE id IN ({list})");
            return $"update ids {list} to {size} bytes";
        }

        await writer.SqlAsync($"DELETE FROM t WHERE id IN ({list})");
        return $"delete ids {list}";
    }

    private static async Task<string> RollbackAsync(PythonWriter writer, Random random)
    {
        var rows = random.Next(1, 60);
        var size = random.Next(100, 1000);
        await writer.RollbackAsync(rows, size, "ROLLEDBACK");
        return $"rolled back {rows} rows of {size} bytes";
    }

    private static async Task<string> CheckpointAsync(PythonWriter writer, Random random)
    {
        string[] modes = ["PASSIVE", "RESTART", "TRUNCATE"];
        var mode = modes[random.Next(modes.Length)];

        // RESTART and TRUNCATE wait for readers (the stream's pin): briefly, so they give up rather than stall the test.
        await writer.SqlAsync("PRAGMA busy_timeout=100");
        var result = await writer.CheckpointAsync(mode);
        await writer.SqlAsync("PRAGMA busy_timeout=5000");
        return $"writer checkpoint {mode}: busy {result.Busy}, log {result.Log}, checkpointed {result.Checkpointed}";
    }

    private static async Task<string> RecordAsync(
        PythonWriter writer,
        ShippedRecorder progress,
        RunningStream stream,
        List<(DateTimeOffset At, string Content, int Step)> recorded,
        int step)
    {
        // Twice: with the writer idle, the read after the first shipment finds everything shipped, which is when
        // Ferry runs its checkpoint cycle if the WAL is past the threshold; the second makes that durable too.
        await progress.WaitDurableAsync(stream);
        await progress.WaitDurableAsync(stream);

        // The writer is idle: its table now is its table at any time from its last commit to its next one.
        var at = DateTimeOffset.UtcNow;
        var content = await writer.SqlAsync(StreamFixture.ContentQuery);
        recorded.Add((at, content, step));
        return $"recorded T={at:O} ({(content.Length == 0 ? 0 : content.Split('|').Length)} rows)";
    }

    private static async Task<(RunningStream Stream, string What)> RestartAsync(
        PythonWriter writer,
        Random random,
        DatabaseStreamSettings settings,
        string db,
        ShippedRecorder progress,
        RunningStream stream)
    {
        await stream.StopAsync();
        await stream.DisposeAsync();
        var whileStopped = new List<string>();
        for (var i = random.Next(3); i > 0; i--)
        {
            whileStopped.Add(random.Next(3) switch
            {
                0 => await SmallTransactionsAsync(writer, random),
                1 => await MultiRowAsync(writer, random),
                _ => await CheckpointAsync(writer, random),
            });
        }

        var lose = random.Next(4) == 0;
        var position = lose ? null : StreamPosition.Parse(progress.Last?.Position, out _);
        var what = $"stream stopped; {(whileStopped.Count == 0 ? "nothing" : string.Join("; ", whileStopped))} while stopped; restarted {(lose ? "with the position lost" : "from its position")}";
        return (RunningStream.Start(settings, db, position, progress), what);
    }
}
