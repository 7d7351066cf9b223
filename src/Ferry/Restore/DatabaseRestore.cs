using System.Security.Cryptography;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;
using Ferry.Storage.Internal;
using Microsoft.Data.Sqlite;

namespace Ferry.Restore;

/// <summary>
/// Restores one database from storage to a point in time: picks the generation and the newest snapshot at or
/// before the time, applies the chain of segments after it transaction by transaction (downloading up to
/// <see cref="RestoreRequest.Parallelism"/> objects at once, applying them strictly in order), verifies every checksum
/// and that no transaction is missing, checks the result with <c>PRAGMA integrity_check</c>, and only then
/// publishes it under the output path (never replacing a file there). On any failure nothing is left behind; once
/// the output is published and durable the restore has succeeded, and a temp file it then fails to remove is a
/// warning in the result, not a failure.
/// </summary>
public static class DatabaseRestore
{
    /// <summary>
    /// Stored bytes of segments held ahead of the one being applied, beyond the count the parallelism allows: segments
    /// are up to about 16 MiB and packed objects up to 64 MiB, so 64 of those would be 4 GiB.
    /// </summary>
    internal const long MaxBytesAhead = 256L << 20;

    public static async Task<RestoreResult> RunAsync(
        IObjectStorage storage,
        RestoreRequest request,
        IProgress<RestoreProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var output = Path.GetFullPath(request.OutputPath);
        var directory = Path.GetDirectoryName(output)!;
        CheckOutput(output, directory);

        var catalog = await ReplicaCatalog.LoadAsync(storage, cancellationToken);
        var database = catalog.Single(request.Database, request.StoreId, storage.Description);
        RestorePlan plan;
        try
        {
            plan = await RestorePlanner.PlanAsync(storage, database, request.Time, cancellationToken);
        }
        catch (FerryException e) when (e.Code == ErrorCodes.StorageObjectNotFound && e.Context.Operation is { } operation && operation.StartsWith("read ", StringComparison.Ordinal))
        {
            // Planning reads only objects the listing named: one missing now was deleted since (pruned, packed).
            throw Vanished(storage, operation["read ".Length..], e);
        }


        var temp = Path.Combine(directory, $".{Path.GetFileName(output)}.ferry-restore-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        var context = new ErrorContext(Database: database.Identity.Path, Operation: $"restore to {output}");
        var linked = false;
        try
        {
            var build = await BuildAsync(storage, plan, temp, request.Parallelism, progress, context, cancellationToken);
            if (request.Verify)
            {
                CheckIntegrity(temp, output);

                // SQLite removes them when the last connection closes; make sure no stray file follows the image.
                File.Delete(temp + "-wal");
                File.Delete(temp + "-shm");
            }

            // Publishing, step by step:
            //  1. link(2) the fsynced image to --out: it appears whole or not at all, and never replaces a file there.
            //  2. Remove the temp name. The output is already whole, so a failure here is a warning in the result:
            //     a leftover dot-file is no reason to call the restore failed while its output stays at --out.
            //  3. fsync the directory, which makes both the new name and the removal durable. Until it succeeds the
            //     output may vanish in a crash: if it fails, the output is unlinked again and the restore fails
            //     with nothing left behind.
            Link(temp, output);
            linked = true;
            var warnings = new List<FerryException>();
            RemoveTempAfterPublishing(temp, context, warnings);
            Failpoints.Hit("restore.publish", cancellationToken);
            Posix.FsyncDirectory(directory);

            return new RestoreResult(database.Identity, plan.Generation, plan.Snapshot.Index, build.Next, build.RestoredTo, build.Applied,
                plan.Segments.Count, build.PageCount, output, request.Verify)
            {
                Notes = [.. plan.Notes, .. build.Notes, .. warnings.Select(w => $"{w.Code}: {w.Message}; the restore is complete, remove it by hand")],
                Warnings = warnings,
            };
        }
        catch (Exception e)
        {
            var error = ErrorClassifier.Classify(e, ErrorArea.Database, context, cancellationToken);
            if (linked) Unpublish(output, error);
            RemoveLeftovers(temp, error);
            throw error;
        }
    }

    private static void CheckOutput(string output, string directory)
    {
        if (File.Exists(output) || Directory.Exists(output))
        {
            throw new FerryException(ErrorCodes.RestoreOutputExists, $"{output} exists; restore never overwrites, choose another --out",
                new ErrorContext(Operation: "restore"));
        }

        // SQLite would replay an earlier database's WAL left next to --out onto the restored file (a database deleted
        // without its -wal): the restore would open as a mix of both.
        if (File.Exists(output + "-wal"))
        {
            throw new FerryException(ErrorCodes.RestoreOutputExists,
                $"{output}-wal exists, the WAL of an earlier database there, which SQLite would apply to the restored one; remove {output}-wal and {output}-shm, then restore again",
                new ErrorContext(Operation: "restore"));
        }

        if (!Directory.Exists(directory))
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"the directory of --out, {directory}, does not exist",
                new ErrorContext(Operation: "restore"));
        }
    }

    /// <summary>
    /// Writes the snapshot into a new image at <paramref name="temp"/>, then applies the plan's segments in chain order
    /// while up to <paramref name="parallelism"/> objects are downloaded at once (<see cref="SegmentPrefetch"/>: the
    /// snapshot's download is one of them). Every fetch has ended when this returns or throws.
    /// </summary>
    private static async Task<Build> BuildAsync(
        IObjectStorage storage,
        RestorePlan plan,
        string temp,
        int parallelism,
        IProgress<RestoreProgress>? progress,
        ErrorContext context,
        CancellationToken cancellationToken)
    {
        using var image = new DatabaseImage(temp, plan.SnapshotHeader.PageSize);
        var fetches = new SegmentPrefetch(storage, plan.Segments, parallelism, MaxBytesAhead, cancellationToken);
        Build build;
        try
        {
            // The first segments download while the snapshot does; a failed fetch cancels the snapshot's download too.
            fetches.StartAhead(parallelism - 1);
            var snapshot = await ReadSnapshotAsync(storage, plan.Snapshot.Object.Name, image, fetches.Token);
            image.SetPageCount(snapshot.Header.PageCount);
            build = await ApplyAsync(plan, image, fetches, progress, cancellationToken);
            image.Flush();
        }
        catch (Exception e)
        {
            throw await fetches.FailAsync(ErrorClassifier.Classify(e, ErrorArea.Database, context, fetches.Token));
        }

        // Past the time (where the chain ends inside a segment), segments fetched ahead are not needed: one that could
        // not be read changes nothing in the result, and is said in a note.
        var unneeded = await fetches.StopAsync();
        return build with { Notes = [.. unneeded.Select(e => $"an object past the restore's time was not needed, and reading it failed: {e.ToOneLine()}")] };
    }

    private static async Task<Build> ApplyAsync(
        RestorePlan plan,
        DatabaseImage image,
        SegmentPrefetch fetches,
        IProgress<RestoreProgress>? progress,
        CancellationToken cancellationToken)
    {
        var done = plan.Snapshot.Object.Size;
        progress?.Report(new RestoreProgress(done, plan.TotalBytes, 0, plan.Segments.Count));

        var next = plan.Snapshot.Index;
        var restoredTo = plan.SnapshotHeader.CapturedAt;
        long applied = 0;
        var segmentsDone = 0;
        var pastTime = false;
        for (var s = 0; s < plan.Segments.Count; s++)
        {
            // The state as of a time is a prefix of the chain: past the first transaction captured after it, nothing
            // more applies, whatever later segments hold (an overlapping copy may be stamped differently). The
            // fetches still running ahead are cancelled by the caller.
            if (pastTime) break;
            cancellationToken.ThrowIfCancellationRequested();
            var (stored, segment) = await fetches.NextAsync();
            if (segment.Header.PageSize != image.PageSize)
            {
                throw new FerryException(ErrorCodes.StorageCorruptObject,
                    $"object {stored.Object.Name} is damaged: its page size {segment.Header.PageSize} differs from the snapshot's {image.PageSize}");
            }

            for (var i = 0; i < segment.Transactions.Count; i++)
            {
                var index = segment.Header.First + i;
                if (index < next) continue; // Already in the snapshot or an overlapping segment.
                if (index > next)
                {
                    throw new FerryException(ErrorCodes.Internal,
                        $"the restore plan skips transactions {next}-{index - 1} before {stored.Object.Name}", new ErrorContext(Database: plan.Database.Path, Operation: "restore"));
                }

                var transaction = segment.Transactions[i];
                if (plan.Time is { } time && transaction.CapturedAt > time)
                {
                    pastTime = true;
                    break;
                }

                image.Apply(transaction);
                next = index + 1;
                restoredTo = transaction.CapturedAt;
                applied++;
            }

            done += stored.Object.Size;
            segmentsDone++;
            progress?.Report(new RestoreProgress(done, plan.TotalBytes, segmentsDone, plan.Segments.Count));
        }

        return new Build(next, restoredTo, applied, image.PageCount);
    }

    /// <summary>Streams the plan's snapshot into the image; gone since planning is <c>FERRY:Restore:ObjectVanished</c>.</summary>
    private static async Task<SnapshotRead> ReadSnapshotAsync(IObjectStorage storage, string name, DatabaseImage image, CancellationToken cancellationToken)
    {
        try
        {
            return await ReplicaReader.ReadSnapshotAsync(storage, name, (page, bytes) => image.WritePage(page, bytes.Span), cancellationToken);
        }
        catch (FerryException e) when (e.Code == ErrorCodes.StorageObjectNotFound)
        {
            throw Vanished(storage, name, e);
        }
    }

    /// <summary>
    /// An object the plan named is missing when the restore reads it: storage listed it at planning, so it was deleted
    /// since, most likely by pruning or packing in the agent that owns the store (DESIGN §10: never a wrong database).
    /// </summary>
    internal static FerryException Vanished(IObjectStorage storage, string name, FerryException notFound) =>
        new(ErrorCodes.RestoreObjectVanished,
            $"object {name}, listed when the restore was planned, is gone from {storage.Description}; it was probably pruned or packed after planning. "
            + "Nothing was written: run the restore again, it plans from what storage holds now",
            new ErrorContext(Operation: $"read {name}"), notFound);

    private sealed record Build(long Next, DateTimeOffset RestoredTo, long Applied, uint PageCount)
    {
        public IReadOnlyList<string> Notes { get; init; } = [];
    }

    private static void CheckIntegrity(string temp, string output)
    {
        // Pooling off: the connection must really close before the file is renamed and its -wal/-shm removed.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString());
        var problems = new List<string>();
        try
        {
            connection.Open();
            using var command = connection.CreateCommand();
            // Read through a memory map rather than a read() per page: the check of 1 GiB took 0.7 s instead of
            // 1.8 s here. The file was just written and flushed by us, so it is in the page cache, and no one else
            // has it open (the usual caveat of mmap, another process truncating the file, can't arise).
            command.CommandText = "PRAGMA mmap_size = 2147418112";
            command.ExecuteNonQuery();
            command.CommandText = "PRAGMA integrity_check(20)";
            using var reader = command.ExecuteReader();
            while (reader.Read()) problems.Add(reader.GetString(0));
        }
        catch (SqliteException e)
        {
            throw new FerryException(ErrorCodes.RestoreIntegrityCheckFailed,
                $"the database rebuilt for {output} can't be checked by SQLite ({e.Message}); nothing was written", innerException: e);
        }
        finally
        {
            connection.Dispose();
        }

        if (problems is not ["ok"])
        {
            throw new FerryException(ErrorCodes.RestoreIntegrityCheckFailed,
                $"the database rebuilt for {output} fails PRAGMA integrity_check: {string.Join("; ", problems.Take(5))}; nothing was written");
        }
    }

    private static void Link(string temp, string output)
    {
        // link(2) refuses to replace: a file that appeared at --out since the start is still never overwritten.
        if (!Posix.LinkNoReplace(temp, output))
        {
            throw new FerryException(ErrorCodes.RestoreOutputExists, $"{output} appeared while restoring; restore never overwrites, nothing was written");
        }
    }

    /// <summary>Removes the temp name of a published image; a failure becomes a warning of the successful restore.</summary>
    private static void RemoveTempAfterPublishing(string temp, ErrorContext context, List<FerryException> warnings)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e)
        {
            var error = ErrorClassifier.Classify(e, ErrorArea.Database, context);
            warnings.Add(new FerryException(error.Code, $"the temp file {temp} could not be removed: {error.Message}", context, e));
        }
    }

    /// <summary>Takes a published output back after the restore failed, so that nothing is left at --out.</summary>
    private static void Unpublish(string output, FerryException error)
    {
        try
        {
            File.Delete(output);
        }
        catch (Exception cleanup)
        {
            // Left at --out, possibly not durable: say so with the failure, which stays the first error.
            error.AddSuppressed(new FerryException(ErrorClassifier.Classify(cleanup, ErrorArea.Database).Code,
                $"the failed restore's output {output} could not be removed; delete it, it may be incomplete after a crash", innerException: cleanup));
        }
    }

    /// <summary>Removes the temp image and any -wal/-shm/-journal SQLite left beside it.</summary>
    private static void RemoveLeftovers(string temp, FerryException error)
    {
        foreach (var path in new[] { temp, temp + "-wal", temp + "-shm", temp + "-journal" })
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception cleanup)
            {
                // The restore already failed; a failed cleanup rides along with that error.
                error.AddSuppressed(cleanup);
            }
        }
    }
}
