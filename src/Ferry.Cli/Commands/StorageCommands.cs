using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry storage ls|verify</c>: what a storage holds, and whether all of it is intact.</summary>
internal static class StorageCommands
{
    public static Command Build() => new("storage", "Inspect backups in storage directly (no metadata store needed).")
    {
        List(),
        Verify(),
    };

    /// <summary>The storage URL forms, for the help of every option that takes one.</summary>
    internal const string UrlForms =
        "a directory, file:///dir or s3://bucket/prefix[?endpoint=http(s)://host:port&region=NAME&path_style=true|false] "
        + "(what the URL leaves out comes from FERRY_S3_ENDPOINT and AWS_REGION; credentials only from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never the URL)";

    internal static Option<string> FromOption() => new("--from")
    {
        Description = $"The storage holding the backups (the task's --to): {UrlForms}.",
        Required = true,
    };

    internal static Option<long?> StoreOption() => new("--store")
    {
        Description = "Only databases backed up by this store id (when the same path exists on several hosts).",
    };

    private static Command List()
    {
        var from = FromOption();
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var command = new Command("ls", "List the databases in storage with their generations, snapshots, segments and the time range each can be restored to.") { from, json };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            await using var storage = StorageFactory.Open(StorageUrl.Parse(parse.GetValue(from)!));
            var catalog = await ReplicaCatalog.LoadAsync(storage, token);
            var databases = new List<DatabaseListing>();
            foreach (var database in catalog.Databases)
            {
                var generations = new List<GenerationListing>();
                foreach (var generation in database.Generations) generations.Add(await DescribeAsync(storage, generation, token));

                // The fencing rule on what the listing already read: each writer's token and when it last captured.
                var fencedOut = FencedOutGenerations.Find(
                    [.. database.Generations.Zip(generations, (g, l) => new GenerationActivity(g.Id, l.Writer, g.Id.CreatedAt, l.To))]);
                generations = [.. generations.Select(l => l with { FencedOut = fencedOut.FirstOrDefault(f => f.Id.Value == l.Generation)?.ToString() })];
                databases.Add(new DatabaseListing(database.Identity.StoreId, database.Identity.Path, generations));
            }

            if (parse.GetValue(json))
            {
                var document = new { storage = storage.Description, databases, unrecognized = catalog.Unrecognized.Select(o => o.Name) };
                await output.WriteLineAsync(JsonSerializer.Serialize(document, MetaJson.OutputOptions));
                return ExitCodes.Ok;
            }

            await WriteListingAsync(output, storage.Description, databases, catalog.Unrecognized);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Verify()
    {
        var from = FromOption();
        var db = new Option<string?>("--db") { Description = "Only this database: its absolute path or an unambiguous end of it (default: every database)." };
        var store = StoreOption();
        var command = new Command("verify", "Read every object in storage and check its checksum, format and place in its generation's chain, without restoring. "
            + "Exits 1 and names every damaged object or missing range when anything is wrong.") { from, db, store };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            await using var storage = StorageFactory.Open(StorageUrl.Parse(parse.GetValue(from)!));
            var catalog = await ReplicaCatalog.LoadAsync(storage, token);
            var name = parse.GetValue(db);
            var storeId = parse.GetValue(store);
            IReadOnlyList<StoredDatabase> selected = name is not null
                ? [catalog.Single(name, storeId, storage.Description)]
                : catalog.Databases.Where(d => storeId is null || d.Identity.StoreId == storeId).ToList();

            var report = await ReplicaVerifier.VerifyAsync(storage, catalog, selected, cancellationToken: token);
            foreach (var problem in report.Problems)
            {
                await output.WriteLineAsync($"DAMAGED {problem.Where}: {problem.Error.Code.Code}: {problem.Error.Message}");
            }

            foreach (var unknown in report.Unrecognized)
            {
                await output.WriteLineAsync($"note: {unknown.Name} is not a Ferry object name; ignored");
            }

            foreach (var note in report.Notes) await output.WriteLineAsync($"note: {note}");

            var summary = $"{report.ObjectsChecked} objects ({Bytes(report.BytesChecked)}) of {report.Databases} databases in {storage.Description}";
            if (report.Ok)
            {
                await output.WriteLineAsync($"verified {summary}: all intact");
                return ExitCodes.Ok;
            }

            await Console.Error.WriteLineAsync($"ferry: {report.Problems.Count} problems in {summary}; see the DAMAGED lines above");
            return ExitCodes.Failure;
        }, ct));
        return command;
    }

    internal sealed record SnapshotListing(long Index, DateTimeOffset? CapturedAt, long Bytes);

    internal sealed record GenerationListing(
        string Generation,
        DateTimeOffset? CreatedAt,
        int? PageSize,
        DateTimeOffset? From,
        DateTimeOffset? To,
        long? FirstTransaction,
        long? LastTransaction,
        int Segments,
        IReadOnlyList<SnapshotListing> Snapshots,
        long Bytes,
        IReadOnlyList<string> Problems,
        FenceToken? Writer)
    {
        /// <summary>Why a restore does not use this generation, when a fenced-out writer started it.</summary>
        public string? FencedOut { get; init; }
    }

    internal sealed record DatabaseListing(long StoreId, string Path, IReadOnlyList<GenerationListing> Generations);

    /// <summary>Reads only headers (and the manifest); a damaged one is listed as a problem, not fatal to the listing.</summary>
    private static async Task<GenerationListing> DescribeAsync(IObjectStorage storage, StoredGeneration generation, CancellationToken cancellationToken)
    {
        var problems = ReplicaCatalog.FindGaps(generation).Select(g => g.Description).ToList();
        async Task<T?> TryAsync<T>(Func<Task<T>> read)
            where T : class
        {
            try
            {
                return await read();
            }
            catch (FerryException e) when (e.Class is ErrorClass.Integrity or ErrorClass.Permanent)
            {
                // Shown in the listing: ls is how an operator finds out what is there, damage included.
                problems.Add(e.ToOneLine());
                return null;
            }
        }

        var manifest = generation.Manifest is { } m ? await TryAsync(() => ReplicaReader.ReadManifestAsync(storage, m.Name, cancellationToken)) : null;
        var snapshots = new List<SnapshotListing>();
        foreach (var snapshot in generation.Snapshots)
        {
            var header = await TryAsync(() => ReplicaReader.ReadSnapshotHeaderAsync(storage, snapshot.Object.Name, cancellationToken));
            snapshots.Add(new SnapshotListing(snapshot.Index, header?.CapturedAt, snapshot.Object.Size));
        }

        SegmentHeader? last = generation.Segments.Count == 0 ? null
            : await TryAsync(() => ReplicaReader.ReadSegmentHeaderAsync(storage, generation.Segments.MaxBy(s => s.Last)!.Object.Name, cancellationToken));
        var from = snapshots.FirstOrDefault(s => s.Index == 0)?.CapturedAt;
        var to = new[] { last?.LastCapturedAt, snapshots.Max(s => s.CapturedAt) }.Max();
        return new GenerationListing(
            generation.Id.Value,
            manifest?.CreatedAt ?? generation.Id.CreatedAt,
            manifest?.PageSize,
            from,
            to,
            generation.Segments.Count == 0 ? null : generation.Segments.Min(s => s.First),
            generation.Segments.Count == 0 ? null : generation.Segments.Max(s => s.Last),
            generation.Segments.Count,
            snapshots,
            generation.TotalBytes,
            problems,
            manifest?.Token);
    }

    private static async Task WriteListingAsync(TextWriter output, string storage, List<DatabaseListing> databases, IReadOnlyList<ObjectInfo> unrecognized)
    {
        if (databases.Count == 0) await output.WriteLineAsync($"{storage} holds no databases");
        foreach (var database in databases)
        {
            await output.WriteLineAsync($"store {database.StoreId}  {database.Path}");
            foreach (var g in database.Generations)
            {
                var range = g.From is null ? "not restorable (no snapshot at index 0)" : $"restorable {Time(g.From)} .. {Time(g.To)}";
                var transactions = g.LastTransaction is null ? "no transactions" : $"transactions {g.FirstTransaction}-{g.LastTransaction} in {g.Segments} segments";
                var writer = g.Writer is { } w ? $"  fence {w}" : "";
                await output.WriteLineAsync($"  generation {g.Generation}  created {Time(g.CreatedAt)}  page size {g.PageSize?.ToString(CultureInfo.InvariantCulture) ?? "?"}  {Bytes(g.Bytes)}{writer}");
                await output.WriteLineAsync($"    {range}; {transactions}; snapshots at {(g.Snapshots.Count == 0 ? "none" : string.Join(", ", g.Snapshots.Select(s => s.Index)))}");
                if (g.FencedOut is { } fencedOut) await output.WriteLineAsync($"    FENCED OUT: {fencedOut}");
                foreach (var problem in g.Problems) await output.WriteLineAsync($"    PROBLEM: {problem}");
            }
        }

        foreach (var unknown in unrecognized) await output.WriteLineAsync($"note: {unknown.Name} is not a Ferry object name");
    }

    private static string Time(DateTimeOffset? time) =>
        time?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ?? "?";

    internal static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB"),
    };
}
