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
/// before the time, applies the chain of segments after it transaction by transaction, verifies every checksum
/// and that no transaction is missing, checks the result with <c>PRAGMA integrity_check</c>, and only then
/// publishes it under the output path (never replacing a file there). On any failure nothing is left behind; once
/// the output is published and durable the restore has succeeded, and a temp file it then fails to remove is a
/// warning in the result, not a failure.
/// </summary>
public static class DatabaseRestore
{
    public static async Task<RestoreResult> RunAsync(
        IObjectStorage storage,
        RestoreRequest request,
        IProgress<RestoreProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(request);
        var output = Path.GetFullPath(request.OutputPath);
        var directory = Path.GetDirectoryName(output)!;
        CheckOutput(output, directory);

        var catalog = await ReplicaCatalog.LoadAsync(storage, cancellationToken);
        var database = catalog.Single(request.Database, request.StoreId, storage.Description);
        var plan = await RestorePlanner.PlanAsync(storage, database, request.Time, cancellationToken);

        var temp = Path.Combine(directory, $".{Path.GetFileName(output)}.ferry-restore-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        var context = new ErrorContext(Database: database.Identity.Path, Operation: $"restore to {output}");
        var linked = false;
        try
        {
            var (next, restoredTo, applied, pageCount) = await BuildAsync(storage, plan, temp, progress, cancellationToken);
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

            return new RestoreResult(database.Identity, plan.Generation, plan.Snapshot.Index, next, restoredTo, applied,
                plan.Segments.Count, pageCount, output, request.Verify)
            {
                Notes = [.. plan.Notes, .. warnings.Select(w => $"{w.Code}: {w.Message}; the restore is complete, remove it by hand")],
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

        if (!Directory.Exists(directory))
        {
            throw new FerryException(ErrorCodes.ConfigInvalidArgument, $"the directory of --out, {directory}, does not exist",
                new ErrorContext(Operation: "restore"));
        }
    }

    private static async Task<(long Next, DateTimeOffset RestoredTo, long Applied, uint PageCount)> BuildAsync(
        IObjectStorage storage,
        RestorePlan plan,
        string temp,
        IProgress<RestoreProgress>? progress,
        CancellationToken cancellationToken)
    {
        var done = 0L;
        using var image = new DatabaseImage(temp, plan.SnapshotHeader.PageSize);
        var snapshot = await ReplicaReader.ReadSnapshotAsync(storage, plan.Snapshot.Object.Name, (page, bytes) => image.WritePage(page, bytes.Span), cancellationToken);
        image.SetPageCount(snapshot.Header.PageCount);
        done += plan.Snapshot.Object.Size;
        progress?.Report(new RestoreProgress(done, plan.TotalBytes, 0, plan.Segments.Count));

        var next = plan.Snapshot.Index;
        var restoredTo = plan.SnapshotHeader.CapturedAt;
        long applied = 0;
        var segmentsDone = 0;
        var pastTime = false;
        foreach (var stored in plan.Segments)
        {
            // The state as of a time is a prefix of the chain: past the first transaction captured after it, nothing
            // more applies, whatever later segments hold (an overlapping copy may be stamped differently).
            if (pastTime) break;
            cancellationToken.ThrowIfCancellationRequested();
            var segment = await ReplicaReader.ReadSegmentAsync(storage, stored.Object.Name, cancellationToken);
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

        image.Flush();
        return (next, restoredTo, applied, image.PageCount);
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
