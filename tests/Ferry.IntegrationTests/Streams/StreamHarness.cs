using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Restore;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.Tasks;
using Microsoft.Data.Sqlite;

namespace Ferry.IntegrationTests.Streams;

/// <summary>One report of <see cref="IStreamProgress.Shipped"/>.</summary>
internal sealed record Shipment(DateTimeOffset CheckpointAt, long Bytes, string Position, DateTimeOffset ReportedAt);

/// <summary>Records what a stream reports, so a test can await a condition instead of sleeping.</summary>
internal sealed class ShippedRecorder : IStreamProgress
{
    private readonly Lock _lock = new();
    private readonly List<Shipment> _shipments = [];
    private DateTimeOffset _lastProgress;

    public Shipment? Last
    {
        get
        {
            lock (_lock) return _shipments.Count == 0 ? null : _shipments[^1];
        }
    }

    public IReadOnlyList<Shipment> All
    {
        get
        {
            lock (_lock) return [.. _shipments];
        }
    }

    public DateTimeOffset LastProgress
    {
        get
        {
            lock (_lock) return _lastProgress;
        }
    }

    public void Progress()
    {
        lock (_lock) _lastProgress = DateTimeOffset.UtcNow;
    }

    public void Shipped(DateTimeOffset checkpointAt, long bytes, string position)
    {
        Assert.NotNull(StreamPosition.Parse(position, out _));
        lock (_lock)
        {
            _shipments.Add(new Shipment(checkpointAt, bytes, position, DateTimeOffset.UtcNow));
            _lastProgress = DateTimeOffset.UtcNow;
        }
    }

    /// <summary>Errors the stream recovered from by itself, as the supervisor would report them.</summary>
    public List<FerryException> Recovered { get; } = [];

    /// <summary>The position a test says is published; null (the default) packs nothing.</summary>
    public string? Published { get; set; }

    public List<(Ferry.Retention.RetentionStatus Status, FerryException? Failure)> RetentionPasses { get; } = [];

    string? IStreamProgress.PublishedPosition => Published;

    void IStreamProgress.Retention(Ferry.Retention.RetentionStatus status, FerryException? failure)
    {
        lock (_lock) RetentionPasses.Add((status, failure));
    }

    void IStreamProgress.Recovered(FerryException error)
    {
        lock (_lock) Recovered.Add(error);
    }

    /// <summary>Polls until the newest shipment satisfies <paramref name="condition"/>; fails at once if the stream ends.</summary>
    public async Task<Shipment> WaitForAsync(Func<Shipment, bool> condition, RunningStream stream, string what, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (Last is { } last && condition(last)) return last;
            if (stream.Task.IsCompleted)
            {
                await stream.Task; // throws the stream's error, if any
                Assert.Fail($"the stream ended before {what}");
            }

            if (watch.Elapsed > (timeout ?? TimeSpan.FromSeconds(10))) Assert.Fail($"timed out waiting for {what}; last shipment {Last}");
            await Task.Delay(10);
        }
    }

    /// <summary>Waits until a checkpoint at or after now is shipped: every transaction committed so far is durable.</summary>
    public Task<Shipment> WaitDurableAsync(RunningStream stream)
    {
        var now = DateTimeOffset.UtcNow;
        return WaitForAsync(s => s.CheckpointAt >= now, stream, $"a shipped checkpoint at or after {now:O}");
    }
}

/// <summary>A <see cref="DatabaseStream"/> running in the test process, stopped by cancelling its token.</summary>
internal sealed class RunningStream : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    private RunningStream(Func<CancellationToken, Task> run)
    {
        Task = Task.Run(() => run(_stop.Token));
    }

    public Task Task { get; }

    public static RunningStream Start(DatabaseStreamSettings settings, string database, StreamPosition? position, IStreamProgress progress) =>
        new(stop => DatabaseStream.RunAsync(settings, database, position, progress, stop));

    /// <summary>Starts the stream as the task runner does: through its body, from a saved position as the checkpoint key held it.</summary>
    public static RunningStream StartFromSaved(DatabaseStreamSettings settings, string database, string? saved, IStreamProgress progress) =>
        new(stop => DatabaseStream.Body(settings)(database, saved, progress, stop));

    /// <summary>Asks the stream to stop and waits for it (a graceful stop ships what was captured).</summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        await _stop.CancelAsync();
        await Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
    }

    /// <summary>Cancels the stream's token without waiting.</summary>
    public Task CancelAsync() => _stop.CancelAsync();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
            // The test already looked at (or failed before) the outcome; disposal only makes sure it is over.
        }

        _stop.Dispose();
    }
}

/// <summary>A database, its writer process and a file storage in one temp directory.</summary>
internal static class StreamFixture
{
    public static DatabaseStreamSettings Settings(IObjectStorage storage, TimeSpan? snapshotInterval = null) => new()
    {
        Storage = storage,
        StoreId = 1,
        FlushInterval = TimeSpan.FromMilliseconds(100),
        Capture = new DatabaseCaptureOptions { CheckpointThresholdFrames = 50 },
        SnapshotInterval = snapshotInterval ?? TimeSpan.FromDays(1),
        StopTimeout = TimeSpan.FromSeconds(1),
        Task = "test",
    };

    /// <summary>The SQL the writer runs to read the content of table t, and the format its answer comes in.</summary>
    public const string ContentQuery = "SELECT id, hex(data) FROM t ORDER BY id";

    /// <summary>Table t of a database file (a restored one: never the source, which only the writer process opens), formatted like the writer's answer.</summary>
    public static string ContentOf(string path)
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        using var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = ContentQuery;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(string.Create(CultureInfo.InvariantCulture, $"{reader.GetInt64(0)},{reader.GetString(1)}"));
        }

        return string.Join('|', rows);
    }

    /// <summary>Restores <paramref name="database"/> as of <paramref name="time"/> (latest when null) into a new file and returns table t.</summary>
    public static async Task<string> RestoreContentAsync(IObjectStorage storage, string database, DateTimeOffset? time, string outDirectory)
    {
        var output = Path.Combine(outDirectory, $"restored-{Guid.NewGuid():N}.db");
        await DatabaseRestore.RunAsync(storage, new RestoreRequest(database, output, time));
        var content = ContentOf(output);
        File.Delete(output);
        return content;
    }

    /// <summary>Describes how two contents of table t differ (row ids missing, extra, changed), for a failure message.</summary>
    public static string Diff(string expected, string actual)
    {
        static Dictionary<string, string> Rows(string content) => content.Length == 0
            ? []
            : content.Split('|').Select(r => r.Split(',')).ToDictionary(r => r[0], r => r[1]);
        var e = Rows(expected);
        var a = Rows(actual);
        var missing = e.Keys.Where(k => !a.ContainsKey(k)).ToList();
        var extra = a.Keys.Where(k => !e.ContainsKey(k)).ToList();
        var changed = e.Keys.Where(k => a.TryGetValue(k, out var v) && v != e[k]).ToList();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"expected {e.Count} rows, got {a.Count}");
        if (missing.Count > 0) text.Append(CultureInfo.InvariantCulture, $"; missing ids {string.Join(' ', missing.Take(20))}");
        if (extra.Count > 0) text.Append(CultureInfo.InvariantCulture, $"; extra ids {string.Join(' ', extra.Take(20))}");
        if (changed.Count > 0) text.Append(CultureInfo.InvariantCulture, $"; changed ids {string.Join(' ', changed.Take(20))}");
        return text.ToString();
    }

    /// <summary>What this process has open (from /proc/self/fd) on the database, its -wal and -shm, or under <paramref name="storageRoot"/>.</summary>
    public static List<string> OpenFiles(string database, string storageRoot)
    {
        var watched = new HashSet<string>(StringComparer.Ordinal) { database, database + "-wal", database + "-shm", storageRoot };
        var open = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed between the listing and the look (the listing's own descriptor, for one)
            }

            if (target is null) continue;
            if (target.EndsWith(" (deleted)", StringComparison.Ordinal)) target = target[..^" (deleted)".Length];
            if (watched.Contains(target) || target.StartsWith(storageRoot + "/", StringComparison.Ordinal)) open.Add($"{Path.GetFileName(fd)} -> {target}");
        }

        return open;
    }

    /// <summary>FileStorage's temp files (dot-names) anywhere under the storage root.</summary>
    public static List<string> TempFiles(string storageRoot) =>
        Directory.EnumerateFiles(storageRoot, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).StartsWith('.'))
            .ToList();
}
