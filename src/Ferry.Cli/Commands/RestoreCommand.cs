using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;
using Ferry.Errors;
using Ferry.Restore;
using Ferry.Storage;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry restore</c>: rebuild a database from storage alone, as of a time or the latest state.</summary>
internal static partial class RestoreCommand
{
    public static Command Build()
    {
        var from = StorageCommands.FromOption();
        var db = new Option<string?>("--db")
        {
            Description = "Which stored database: its absolute path, or any unambiguous end of it at a '/' (app.db, data/app.db). "
                + "Default: the absolute path of --out, the database that was replicated from where the restore goes (a container's first boot).",
        };
        var output = new Option<string>("--out", "-o")
        {
            Description = "Where to write the restored database. Must not exist, and neither may a -wal file next to it: restore never overwrites.",
            Required = true,
        };
        var ifDbNotExists = new Option<bool>("--if-db-not-exists")
        {
            Description = "When --out exists already, say so and exit 0 instead of failing: restore only where no database is (an entrypoint's every boot).",
        };
        var ifReplicaExists = new Option<bool>("--if-replica-exists")
        {
            Description = "When storage holds no replica of the database (a new application's first boot), say so and exit 0 instead of failing. "
                + "A storage directory that does not exist yet counts as holding none; storage that can't be reached still fails.",
        };
        var time = new Option<string?>("--time")
        {
            Description = "Restore the database as it was at this time, RFC 3339 with a zone (2026-01-02T15:04:05Z, 2026-01-02T16:04:05+01:00): "
                + "every transaction captured at or before it, none after.",
        };
        var latest = new Option<bool>("--latest") { Description = "Restore the newest state in storage (the default)." };
        var noVerify = new Option<bool>("--no-verify") { Description = "Skip PRAGMA integrity_check on the result (checksums are verified regardless)." };
        var parallelism = new Option<int>("--parallelism")
        {
            Description = $"How many objects to download at once, 1 to {RestoreRequest.MaxParallelism}; segments are still applied in order, "
                + $"and at most this many (and about {DatabaseRestore.MaxBytesAhead >> 20} MiB of them) are held in memory.",
            HelpName = "N",
            DefaultValueFactory = _ => RestoreRequest.DefaultParallelism,
            CustomParser = ParseParallelism,
        };
        var store = StorageCommands.StoreOption();
        var command = new Command("restore", "Restore a database from storage to a point in time. Needs only the storage, not the metadata store or an agent. "
            + "The result is checked with PRAGMA integrity_check and appears at --out only when complete.")
        {
            from, db, output, time, latest, noVerify, parallelism, store, ifDbNotExists, ifReplicaExists,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(time) is { } text)
            {
                if (result.GetValue(latest)) result.AddError("--time and --latest can't be used together.");
                else if (!TryParseTime(text, out _)) result.AddError($"--time '{text}' is not an RFC 3339 time with a zone, e.g. 2026-01-02T15:04:05Z.");
            }
        });
        command.SetAction((parse, ct) => CommandRunner.RunAsync(parse, async (writer, token) =>
        {
            var url = StorageUrl.Parse(parse.GetValue(from)!);
            DateTimeOffset? at = parse.GetValue(time) is { } text && TryParseTime(text, out var parsed) ? parsed : null;
            var outputPath = parse.GetValue(output)!;
            var name = parse.GetValue(db) ?? Path.GetFullPath(outputPath);
            var request = new RestoreRequest(name, outputPath, at, !parse.GetValue(noVerify), parse.GetValue(store), parse.GetValue(parallelism));
            if (parse.GetValue(ifDbNotExists) && (File.Exists(outputPath) || Directory.Exists(outputPath)))
            {
                await writer.WriteLineAsync($"nothing to do: {Path.GetFullPath(outputPath)} exists (--if-db-not-exists)");
                return ExitCodes.Ok;
            }

            var ifReplica = parse.GetValue(ifReplicaExists);
            // `ferry replicate` makes its backup directory on its first run: before that, it holds no replica.
            if (ifReplica && url.Kind == StorageKind.File && !Directory.Exists(url.Location))
            {
                await writer.WriteLineAsync($"nothing to do: storage directory {url.Location} does not exist, so it holds no replica of '{name}' (--if-replica-exists)");
                return ExitCodes.Ok;
            }

            await using var storage = StorageFactory.Open(url);

            // On a terminal one line rewritten in place; redirected, a line now and then on a long restore.
            var progress = ReferenceEquals(writer, Console.Out) ? new RestoreProgressLine(writer, inPlace: !Console.IsOutputRedirected, TimeProvider.System) : null;
            RestoreResult result;
            try
            {
                result = await DatabaseRestore.RunAsync(storage, request, progress, token);
            }
            catch (FerryException e) when (ifReplica && e.Code == ErrorCodes.RestoreDatabaseNotFound)
            {
                // Only "no stored database matches": an ambiguous name, an unreachable or damaged storage still fail.
                progress?.Finish();
                progress = null;
                await writer.WriteLineAsync($"nothing to do: {e.Message} (--if-replica-exists)");
                return ExitCodes.Ok;
            }
            finally
            {
                // End the in-place progress line, so a summary or an error starts on a line of its own.
                progress?.Finish();
            }

            var when = result.RestoredTo.ToString("yyyy-MM-dd'T'HH:mm:ss.fffK", CultureInfo.InvariantCulture);
            await writer.WriteLineAsync($"restored {result.Database.Path} (store {result.Database.StoreId}) to {result.OutputPath}");
            await writer.WriteLineAsync($"  generation {result.Generation}, snapshot {result.SnapshotIndex} + {result.TransactionsApplied} transactions from {result.SegmentsApplied} segments; "
                + $"state after transaction {result.NextIndex - 1}, captured at {when}; {result.PageCount} pages");
            await writer.WriteLineAsync(result.Verified ? "  PRAGMA integrity_check: ok" : "  PRAGMA integrity_check: skipped (--no-verify)");
            foreach (var note in result.Notes) await writer.WriteLineAsync($"  note: {note}");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary>A whole number in range, or a usage error saying which numbers are (a validator can't: it runs on what failed to convert too).</summary>
    private static int ParseParallelism(ArgumentResult result)
    {
        var text = result.Tokens is [var token] ? token.Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parallelism)
            || parallelism is < 1 or > RestoreRequest.MaxParallelism)
        {
            result.AddError($"--parallelism '{text}' is not a whole number from 1 to {RestoreRequest.MaxParallelism}.");
        }

        return parallelism;
    }

    internal static bool TryParseTime(string text, out DateTimeOffset time)
    {
        time = default;
        return ZoneSuffix().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out time);
    }

    // A time without a zone means different instants on different machines: require one.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex ZoneSuffix();
}
