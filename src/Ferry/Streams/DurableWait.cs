using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Streams;

/// <summary>What <see cref="DurableWait.WaitAsync"/> found: which records proved it, and by which rule.</summary>
internal sealed record DurableWaitResult(string Database, IReadOnlyList<string> Proofs);

/// <summary>
/// Waits, from outside the replicating process, until everything a database committed before the call is durable in
/// storage (<c>ferry wait</c>, and <c>replicate --exec</c> once its application has exited). It reads the database's
/// WAL file and the checkpoint records the replicating agent publishes; it opens no SQLite connection, takes no
/// lock and writes nothing.
/// <para>
/// The target is the WAL's last commit frame when the call starts, found the way SQLite's own recovery finds it (the
/// header's salts, the checksum chain, the last frame with a commit marker). A store's checkpoint record holds, per
/// database, the position shipped: the WAL cursor after the last transaction uploaded. Two rules decide:
/// </para>
/// <list type="number">
/// <item>Same WAL (same salts, same database file): durable once the shipped cursor is at or past the target frame.
/// Frame indices of one WAL only grow, so this needs no clock.</item>
/// <item>Otherwise (the WAL was reset or replaced since either was read, or it holds no commit: everything is in the
/// database file), the record's time: every transaction committed at or before <c>ts</c> is durable, so once
/// <c>ts</c> is at or past the start of the call, so is everything committed before it. This holds only while every
/// stream of the store is healthy (<c>ts</c> is the minimum over the healthy ones), so a record that says RETRYING,
/// STALLED, DEGRADED or paused proves nothing by its time.</item>
/// </list>
/// </summary>
internal static class DurableWait
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Returns once every task that replicates <paramref name="database"/> on the selected store has shipped what it
    /// committed before this call, or throws <c>FERRY:Task:WaitTimedOut</c> after <paramref name="timeout"/> saying
    /// what was missing. A task or store not yet publishing is waited for, not an error: the agent may be starting.
    /// </summary>
    public static async Task<DurableWaitResult> WaitAsync(
        IMetaStore meta,
        MetaKeys keys,
        string database,
        TimeSpan timeout,
        string? task = null,
        long? storeId = null,
        TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(meta);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentException.ThrowIfNullOrEmpty(database);
        time ??= TimeProvider.System;
        var path = Path.GetFullPath(database);
        var context = new ErrorContext(Task: task, StoreId: storeId, Database: path, Operation: "wait until durable");
        if (!File.Exists(path)) throw new FerryException(ErrorCodes.DatabaseNotFound, $"database {path} does not exist", context);

        var calledAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        var target = WalMark.Read(path);
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var (proofs, missing) = await JudgeAsync(meta, keys, path, target, calledAt, task, storeId, cancellationToken).ConfigureAwait(false);
            if (missing is null) return new DurableWaitResult(path, proofs);
            if (time.GetUtcNow() >= deadline)
            {
                throw new FerryException(ErrorCodes.TaskWaitTimedOut,
                    $"what {path} committed before the wait was not durable in storage within {timeout.TotalSeconds:0.###} s: {missing}", context);
            }

            await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One look at the records: the proofs when everything is durable, else what is missing.</summary>
    private static async Task<(IReadOnlyList<string> Proofs, string? Missing)> JudgeAsync(
        IMetaStore meta, MetaKeys keys, string path, WalMark? target, long calledAt, string? task, long? storeId, CancellationToken cancellationToken)
    {
        var tasks = task is not null
            ? [task]
            : (await meta.RangeAsync(keys.TasksPrefix, cancellationToken).ConfigureAwait(false)).Kvs.Select(kv => kv.Key[keys.TasksPrefix.Length..]).ToList();
        var records = new List<(string Task, long Store, Checkpoint Checkpoint)>();
        foreach (var name in tasks)
        {
            foreach (var kv in (await meta.RangeAsync(keys.CheckpointPrefix(name), cancellationToken).ConfigureAwait(false)).Kvs)
            {
                if (MetaKeys.StoreIdOf(kv.Key) is not { } id || (storeId is not null && id != storeId)) continue;
                var checkpoint = MetaJson.Deserialize<Checkpoint>(kv);
                if (checkpoint.Streams?.ContainsKey(path) == true) records.Add((name, id, checkpoint));
            }
        }

        if (records.Count == 0)
        {
            var which = task is null ? "no task" : $"task '{task}'";
            var where = storeId is null ? "" : $" on store {storeId}";
            return ([], $"{which}{where} has published a position for it yet: is `ferry replicate {path}` (or an agent with a task for it) running with the same --meta?");
        }

        var stores = records.Select(r => r.Store).Distinct().ToList();
        if (stores.Count > 1)
        {
            // The same path on several hosts: only the caller knows which host's database it means.
            throw new FerryException(ErrorCodes.ConfigInvalidArgument,
                $"stores {string.Join(", ", stores)} all replicate a database at {path}: give --store-id (this host's)",
                new ErrorContext(Database: path, Operation: "wait until durable"));
        }

        var proofs = new List<string>();
        foreach (var (name, id, checkpoint) in records)
        {
            var verdict = Judge(checkpoint, path, target, calledAt);
            if (!verdict.Durable) return ([], $"task '{name}' on store {id}: {verdict.Why}");
            proofs.Add($"task '{name}' on store {id}: {verdict.Why}");
        }

        return (proofs, null);
    }

    /// <summary>The decision for one store's record (the two rules of the type's summary).</summary>
    internal static (bool Durable, string Why) Judge(Checkpoint checkpoint, string path, WalMark? target, long calledAt)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var position = checkpoint.Streams?.GetValueOrDefault(path) is { } text ? StreamPosition.Parse(text, out _) : null;
        if (position is null) return (false, "its position for the database is missing or unreadable");
        var cursor = position.Cursor;
        if (target is { } mark && mark.SameWal(cursor))
        {
            return cursor.FrameIndex >= mark.FrameIndex
                ? (true, $"shipped to WAL frame {cursor.FrameIndex}, at or past the last commit before the wait (frame {mark.FrameIndex})")
                : (false, $"shipped to WAL frame {cursor.FrameIndex} of the {mark.FrameIndex} committed before the wait");
        }

        if (checkpoint.Paused || checkpoint.StreamsState != TaskState.RUNNING)
        {
            return (false, $"the store reports {checkpoint.State}{(checkpoint.Detail is null ? "" : $" ({checkpoint.Detail})")}: see `ferry task status`");
        }

        var at = DateTimeOffset.FromUnixTimeMilliseconds(checkpoint.Ts);
        return checkpoint.Ts >= calledAt
            ? (true, $"checkpoint {at:O}, at or past the start of the wait")
            : (false, $"the checkpoint is at {at:O}, before the start of the wait ({DateTimeOffset.FromUnixTimeMilliseconds(calledAt):O})");
    }
}

/// <summary>
/// The last commit frame of a database's WAL as read from the file now: its salts, its frame index and the database
/// file it belongs to. Null when there is no WAL or no committed frame in it.
/// </summary>
internal readonly record struct WalMark(uint Salt1, uint Salt2, uint FrameIndex, FileIdentity Database)
{
    public bool SameWal(WalCursor cursor) =>
        cursor.Salt1 == Salt1 && cursor.Salt2 == Salt2
        && (!Database.IsKnown || cursor.Database == FileIdentity.Unknown || cursor.Database == Database);

    /// <summary>
    /// Reads the WAL next to <paramref name="database"/> without SQLite. A frame being appended is cut short or fails
    /// its checksum and ends the scan, as in SQLite's recovery: what the scan ends at is committed.
    /// </summary>
    public static WalMark? Read(string database)
    {
        var walPath = database + "-wal";
        FileIdentity identity;
        try
        {
            identity = FileIdentity.Of(database);
            using var wal = new FileStream(walPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            var headerBytes = new byte[WalHeader.Size];
            if (wal.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false) < headerBytes.Length) return null;
            if (WalHeader.TryParse(headerBytes, out var header) != WalHeaderStatus.Valid) return null;
            var scanner = new WalScanner(wal, header!, new WalPosition(0, header!.Checksum));
            var page = new byte[header.PageSize];
            uint lastCommit = 0;
            while (scanner.TryNext(page, out var frame))
            {
                if (frame.CommitSize != 0) lastCommit = scanner.Position.FrameIndex;
            }

            return lastCommit == 0 ? null : new WalMark(header.Salt1, header.Salt2, lastCommit, identity);
        }
        catch (FileNotFoundException)
        {
            // No WAL (never written, or removed when the last connection closed): everything is in the database file.
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Database, new ErrorContext(Database: database, Operation: "read the WAL"));
        }
    }
}
