using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Replica;
using Ferry.Retention;
using Ferry.Storage;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry storage ls|verify|prune</c>: what a storage holds, whether all of it is intact, and deleting what no restore needs.</summary>
internal static class StorageCommands
{
    public static Command Build() => new("storage", "Inspect backups in storage directly (no metadata store needed).")
    {
        List(),
        Verify(),
        Prune(),
    };

    /// <summary>The storage URL forms, for the help of every option that takes one.</summary>
    internal const string UrlForms =
        "a directory, file:///dir, s3://bucket/prefix[?endpoint=http(s)://host:port&region=NAME&path_style=true|false] "
        + "(what the URL leaves out comes from FERRY_S3_ENDPOINT and AWS_REGION; credentials only from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never the URL), "
        + "or az://container/prefix[?endpoint=http(s)://host:port/path] for Azure Blob Storage (credentials only from AZURE_STORAGE_CONNECTION_STRING, "
        + "or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, never the URL)";

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
                // A restore uses generations that are not fenced out and have their first snapshot.
                var restorable = generations.Where(l => l.FencedOut is null && l.From is not null).ToList();
                var objects = database.Generations.Sum(g => (g.Manifest is null ? 0 : 1) + g.Snapshots.Count + g.Segments.Count);
                databases.Add(new DatabaseListing(database.Identity.StoreId, database.Identity.Path, generations)
                {
                    OldestRestorable = restorable.Count == 0 ? null : restorable.Min(l => l.From),
                    NewestRestorable = restorable.Count == 0 ? null : restorable[^1].To,
                    Objects = objects,
                });
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
            var selected = catalog.Select(parse.GetValue(db), parse.GetValue(store), storage.Description);

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

    private static Command Prune()
    {
        var from = FromOption();
        var retention = new Option<string>("--retention")
        {
            Description = "Keep every instant of this window restorable (e.g. 12h, 7d; at least 1m): delete what no instant in it needs.",
            DefaultValueFactory = _ => Durations.Humanize(TaskOptions.Defaults.Retention),
        };
        var grace = new Option<string?>("--retention-grace")
        {
            Description = "Delete an object only this long after no instant of the window needs it, so a running restore can finish (default 10m, or the retention if shorter).",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be deleted and why; delete nothing." };
        var force = new Option<bool>("--force") { Description = "Prune even while a live agent owns the store (it prunes by itself; only when you know it is not)." };
        var db = new Option<string?>("--db") { Description = "Only this database: its absolute path or an unambiguous end of it (default: every database)." };
        var store = StoreOption();
        var command = new Command("prune", "Delete from storage what no instant of the retention window needs: generations outside it, fenced-out "
            + "generations, segments packed into others, each only after its grace period. The agent that owns a store does this by itself "
            + "(and packs); this command is for storage no agent tends, and refuses while a live agent owns the store unless --force.")
        {
            from, retention, grace, dryRun, force, db, store,
        };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (output, token) =>
        {
            var options = new TaskOptions
            {
                Retention = Durations.Parse(parse.GetValue(retention)!, "--retention"),
                RetentionGrace = parse.GetValue(grace) is { } g ? Durations.Parse(g, "--retention-grace") : null,
            }.Validate();
            var policy = RetentionPolicy.Of(options);
            await using var storage = StorageFactory.Open(StorageUrl.Parse(parse.GetValue(from)!));
            var catalog = await ReplicaCatalog.LoadAsync(storage, token);
            var selected = catalog.Select(parse.GetValue(db), parse.GetValue(store), storage.Description);
            var dry = parse.GetValue(dryRun);
            if (!dry && !parse.GetValue(force)) await RefuseWhileOwnedAsync(parse, selected.Select(d => d.Identity.StoreId).Distinct(), token);

            var verb = dry ? "would delete" : "deleted";
            var total = 0;
            long bytes = 0;
            foreach (var database in selected)
            {
                var lifecycle = new ReplicaLifecycle(storage, database.Identity, policy);
                var plan = await lifecycle.PlanAsync(cancellationToken: token);
                await output.WriteLineAsync($"store {database.Identity.StoreId}  {database.Identity.Path}: {plan.Due.Count} objects to delete, {plan.Pending.Count} waiting out their grace period"
                    + (plan.NextDueAt is { } next ? $" (next at {Time(next)})" : ""));
                foreach (var deletion in plan.Due) await output.WriteLineAsync($"  {verb} {deletion.Object.Name}: {deletion.Reason}");
                if (!dry) await lifecycle.DeleteAsync(plan.Due, cancellationToken: token);
                total += plan.Due.Count;
                bytes += plan.Due.Sum(d => d.Object.Size);
                var window = plan.OldestRestorable is null ? "nothing restorable" : $"restorable {Time(plan.OldestRestorable)} .. {Time(plan.NewestRestorable)}";
                await output.WriteLineAsync($"  then: {window}; {plan.ObjectCount} objects, {Bytes(plan.Bytes)}");
            }

            await output.WriteLineAsync($"{verb} {total} objects ({Bytes(bytes)}) of {selected.Count} databases in {storage.Description}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary>The agent that owns a store prunes it under its fence: a second pruner would race it.</summary>
    private static async Task RefuseWhileOwnedAsync(ParseResult parse, IEnumerable<long> storeIds, CancellationToken cancellationToken)
    {
        await using var meta = await Wiring.MetaStoreFactory.OpenAsync(parse, cancellationToken);
        var keys = new MetaKeys();
        foreach (var id in storeIds)
        {
            if (await meta.GetAsync(keys.Store(id), cancellationToken) is { } live)
            {
                var record = MetaJson.Deserialize<StoreRecord>(live);
                throw new FerryException(ErrorCodes.RetentionOwnerActive,
                    $"store {id} is owned by a live agent at {record.Address} (deploy generation {record.Generation}), which prunes it itself; stop it first, or pass --force",
                    new ErrorContext(StoreId: id, Operation: "prune"));
            }
        }
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

    internal sealed record DatabaseListing(long StoreId, string Path, IReadOnlyList<GenerationListing> Generations)
    {
        /// <summary>The restorable window: from the oldest usable generation's first snapshot to the newest one's last capture.</summary>
        public DateTimeOffset? OldestRestorable { get; init; }

        public DateTimeOffset? NewestRestorable { get; init; }

        public int Objects { get; init; }
    }

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
            var window = database.OldestRestorable is null ? "nothing restorable" : $"restorable {Time(database.OldestRestorable)} .. {Time(database.NewestRestorable)}";
            await output.WriteLineAsync($"store {database.StoreId}  {database.Path}  {window}  {database.Objects} objects");
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
