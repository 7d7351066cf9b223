using System.Diagnostics;
using Ferry.Diagnostics;
using Ferry.Errors;
using Microsoft.Data.Sqlite;

namespace Ferry.Capture;

// How no committed frame slips past unseen.
//
// While A holds a read transaction that began with an unchecked frame in the WAL, SQLite cannot reset the WAL
// (a reset needs every read mark above 0 free), so frames stay where they are and each read continues the
// checksum chain from the cursor; a salt change seen under the pin means the pin was not effective and we
// resnapshot rather than guess. The pin is released only in the checkpoint cycle, under this protocol:
//
//  0. B: BEGIN IMMEDIATE for a moment, in which A moves its pin to the end of the WAL; then, unlocked, we read
//     up to that pin and C: wal_checkpoint(PASSIVE) backfills up to it while the application writes on
//     (appending after it: A's read mark forbids a reset). Most of the reading and copying happens here, in up
//     to four such rounds, until one finds little new.
//  1. B: BEGIN IMMEDIATE (bounded; if busy, skip the round, nothing changed). Nobody can append or reset now.
//  2. Read every committed frame after the cursor; hand them to the caller to ship.
//  3. A moves its pin to the end of the WAL, hand over hand (MovePinToEnd: the new read begins before the old
//     one ends, so it takes a read mark above 0 while the WAL holds unchecked frames; when every frame is checked
//     already, A is at the end and stays). C: wal_checkpoint(PASSIVE), which backfills up to that mark:
//     everything, of which step 0 left only what was written since. (A pin taken on a fully checked WAL reads
//     the database file alone, mark 0, which lets the application reset the WAL the moment B commits: the
//     next step would then find other salts and start a new generation.)
//  4. B: COMMIT, then BEGIN IMMEDIATE again. SQLite resets the WAL only on a write whose read snapshot began
//     after a complete backfill, which B's first transaction was not, hence the second one. In the gap between,
//     an application write can't reset the WAL either: A's read mark forbids it, so it appends to the WAL
//     after the cursor, where the next read finds it.
//  5. Under that lock, A: COMMIT (nothing can be written now), check the salts are unchanged and read what
//     committed in the gap (same salts + intact chain = nothing missed; changed salts = a reset we did not
//     make: new generation).
//  6. B: write a fresh random nonce into _ferry_seq and COMMIT; then A pins again.
//  7. After the pin, the WAL must either carry the old salts (chain continues from the cursor: the gap's
//     writes kept the WAL from resetting this round) or exactly one reset (salt1 + 1) whose first transaction
//     at frame 1 holds our nonce: then the reset was our own write, made while we held the write lock since
//     step 5, so no commit fell between the cursor and frame 1. Anything else (the application reset the WAL
//     again after our commit) means a new generation.
//
// Start runs steps 4–7 against the shipped cursor, which is how a restart proves continuity too.
internal sealed partial class DatabaseCapture
{
    /// <summary>At most this many unlocked rounds of step 0 per cycle...</summary>
    private const int UnlockedRounds = 4;

    /// <summary>...and no more once a round read this few frames: the rest is quick under the lock.</summary>
    private const uint SmallRemainderFrames = 256;

    /// <summary>
    /// Runs the checkpoint cycle when the WAL has grown past the thresholds. Call it once what was read when the WAL
    /// passed them is shipped; ship the returned transactions (read in the cycle, before the reset) next, after
    /// whatever was read since.
    /// </summary>
    public CheckpointOutcome CheckpointIfNeeded()
    {
        ThrowIfNotRunning();
        try
        {
            if (_newGenerationReason is not null) return new CheckpointOutcome(CheckpointStatus.NotNeeded, [], null, "a new generation is pending");
            var cursor = _cursor!;
            if (!_options.IsPastCheckpointThreshold(cursor))
            {
                return new CheckpointOutcome(CheckpointStatus.NotNeeded, [], cursor, $"WAL holds {cursor.FrameIndex} frames ({cursor.NextFrameOffset} bytes) up to the cursor");
            }

            // Step 0: the bulk of the reading and of the copy into the database file, while the application keeps writing.
            if (!TryBackfillUnlocked(out var busy))
            {
                return new CheckpointOutcome(CheckpointStatus.SkippedBusy, [], cursor, $"the write lock stayed busy for {_options.CheckpointLockTimeout}: {busy}");
            }

            cursor = _cursor!;

            WriteLock writeLock;
            try
            {
                writeLock = BeginWriteLock(_options.CheckpointLockTimeout);
            }
            catch (SqliteException e) when (IsBusy(e))
            {
                return new CheckpointOutcome(CheckpointStatus.SkippedBusy, [], cursor, $"the write lock stayed busy for {_options.CheckpointLockTimeout}: {e.Message}");
            }

            List<CommittedTransaction> toShip;
            WalCursor shippedCursor;
            string checkpoint;
            using (writeLock)
            {
                var capturedAt = _time.GetUtcNow();
                var (status, header) = ReadWalHeader();
                if (header is null || !cursor.SameSalts(header))
                {
                    writeLock.Rollback();
                    _newGenerationReason = header is null
                        ? $"the WAL header is no longer valid ({WalHeader.Describe(status)})"
                        : "the WAL was reset (its salts changed) since the last read";
                    return new CheckpointOutcome(CheckpointStatus.NotNeeded, [], null, _newGenerationReason);
                }

                var remaining = WalReader.ReadCommitted(_wal!, header, cursor.Position, capturedAt);
                toShip = [.. _pending, .. remaining.Transactions];
                _pending.Clear();
                _cursor = shippedCursor = WalCursor.At(header, remaining.End, _identity);
                MovePinToEnd();
                checkpoint = CheckpointAll(_options.CheckpointLockTimeout);
                writeLock.Commit();
            }

            // Between steps 3 and 4: the application may write here, and nothing but A's pin keeps it from resetting the WAL.
            Failpoints.Hit("capture.checkpoint-gap");
            string? verdict;
            try
            {
                verdict = Resynchronise(_cursor, "checkpoint");
            }
            catch (SqliteException e) when (IsBusy(e))
            {
                // The application kept the write lock after our first transaction. Still pinned since step 3, so
                // the WAL was not reset: the next read continues from the cursor, and a later round resets it.
                if (_pin is null) Pin();
                verdict = null;
            }

            if (verdict is not null) _newGenerationReason = verdict;
            return new CheckpointOutcome(CheckpointStatus.Done, toShip, shippedCursor, checkpoint);
        }
        catch (Exception e)
        {
            throw FailAndClose(e, "capture-checkpoint");
        }
    }

    /// <summary>
    /// Step 0 of the cycle: under the write lock only for a moment, A moves its pin to the end of the WAL (nothing
    /// can append or reset meanwhile, and once pinned there nobody can reset the WAL, so every frame after the
    /// cursor stays where a read finds it); then, with the lock released, we read up to that pin and C backfills
    /// up to it. Reading and copying are most of a cycle's work and the application writes on throughout: the
    /// locked part of the cycle reads and copies only what was written meanwhile. Returns false, with why, when
    /// the write lock stayed busy.
    /// </summary>
    private bool TryBackfillUnlocked(out string? busy)
    {
        busy = null;
        // Each round leaves the next only what the application wrote during it: a few rounds leave the locked part
        // a few hundred frames at most, however fast the application writes.
        for (var round = 0; round < UnlockedRounds; round++)
        {
            WriteLock writeLock;
            try
            {
                writeLock = BeginWriteLock(_options.CheckpointLockTimeout);
            }
            catch (SqliteException e) when (IsBusy(e))
            {
                if (round > 0) return true; // a round is done already; the locked part does the rest
                busy = e.Message;
                return false;
            }

            using (writeLock)
            {
                MovePinToEnd();
                writeLock.Rollback();
            }

            // Read up to the pin too, so the locked read below starts there. These transactions go out with the
            // cycle's own, after the reset, exactly as the ones read under the lock do.
            var (_, header) = ReadWalHeader();
            var readFrames = 0u;
            if (header is not null && _cursor!.SameSalts(header) && header.PageSize == _cursor.PageSize)
            {
                var read = WalReader.ReadCommitted(_wal!, header, _cursor.Position, _time.GetUtcNow());
                _pending.AddRange(read.Transactions);
                readFrames = read.End.FrameIndex - _cursor.FrameIndex;
                _cursor = WalCursor.At(header, read.End, _identity);
            }

            // Waiting here for the application's own checkpoint (it copies up to the new pin after its next commit)
            // costs the application nothing, and it leaves the locked part only what was written since.
            _ = CheckpointAll(_options.CheckpointLockTimeout);
            if (readFrames <= SmallRemainderFrames) break;
        }

        return true;
    }

    /// <summary>
    /// Steps 4–7 of the protocol above against <paramref name="basis"/>; leaves A pinned. Returns null when the
    /// stream continues (transactions read under the lock are queued for the next read), else why it cannot.
    /// </summary>
    private string? Resynchronise(WalCursor? basis, string operation)
    {
        string? reason;
        WalCursor? consumed = null;
        byte[] nonce;
        using (var writeLock = BeginWriteLock(operation == "checkpoint" ? _options.CheckpointLockTimeout : _options.BusyTimeout))
        {
            // Only now, with nobody able to write, may the WAL be reset: by our nonce below.
            Unpin();
            var capturedAt = _time.GetUtcNow();
            var (status, header) = ReadWalHeader();
            reason = basis is null ? "no shipped cursor: first start of this stream" : Diverges(basis, status, header);
            if (reason is null)
            {
                var read = WalReader.ReadCommitted(_wal!, header!, basis!.Position, capturedAt);
                _pending.AddRange(read.Transactions);
                consumed = WalCursor.At(header!, read.End, _identity);
            }

            nonce = WriteNonce(null);
            writeLock.Commit();
        }

        Pin();
        return consumed is null ? reason : VerifyNonce(consumed, nonce);
    }

    private string? VerifyNonce(WalCursor consumed, byte[] nonce)
    {
        var (status, header) = ReadWalHeader();
        if (header is null) return $"the WAL header is not valid after re-pinning ({WalHeader.Describe(status)})";
        if (header.PageSize != consumed.PageSize) return "the WAL page size changed";
        if (consumed.SameSalts(header))
        {
            _cursor = consumed;
            return null;
        }

        if (header.Salt1 == unchecked(consumed.Salt1 + 1))
        {
            var start = new WalPosition(0, header.Checksum);
            var first = WalReader.ReadCommitted(_wal!, header, start, _time.GetUtcNow(), maxFrames: 1);
            if (first.Transactions.Count > 0 && ContainsNonce(first.Transactions[0], nonce))
            {
                _cursor = WalCursor.At(header, start, _identity);
                return null;
            }

            return "the WAL was reset by another connection right after Ferry's nonce commit";
        }

        return "the WAL was reset more than once while Ferry re-pinned it";
    }

    /// <summary>Why <paramref name="basis"/> does not continue in the current WAL, or null when every frame after it is still there.</summary>
    private string? Diverges(WalCursor basis, WalHeaderStatus status, WalHeader? header)
    {
        if (basis.Database.IsKnown && _identity.IsKnown && basis.Database != _identity)
        {
            return $"the database file is not the one the cursor was taken on (device/inode {_identity.Device}/{_identity.Inode}, cursor has {basis.DatabaseDevice}/{basis.DatabaseInode})";
        }

        if (header is null) return $"the WAL has no valid header ({WalHeader.Describe(status)})";
        if (!basis.SameSalts(header)) return "the WAL was reset since the cursor (its salts differ)";
        if (header.PageSize != basis.PageSize) return "the WAL page size differs from the cursor's";
        if (basis.FrameIndex == 0)
        {
            return header.Checksum == basis.Position.Checksum ? null : "the WAL header checksum differs from the cursor's";
        }

        Span<byte> bytes = stackalloc byte[WalFrameHeader.Size];
        var read = RandomAccess.Read(_wal!.SafeFileHandle, bytes, basis.FrameOffset);
        if (read < WalFrameHeader.Size) return "the WAL is shorter than the cursor";
        var frame = WalFrameHeader.Parse(bytes);
        if (frame.Salt1 != basis.Salt1 || frame.Salt2 != basis.Salt2 || frame.Checksum != basis.Position.Checksum)
        {
            return "the frame at the cursor is not the one last shipped";
        }

        return null;
    }

    /// <summary>B takes the write lock (BEGIN IMMEDIATE) within <paramref name="timeout"/>; see <see cref="WriteLock"/> for how.</summary>
    private WriteLock BeginWriteLock(TimeSpan timeout) => WriteLock.Take(_writeConnection!, timeout, _options.BusyTimeout);

    /// <summary>
    /// A PASSIVE checkpoint that waits, up to <paramref name="timeout"/>, while another connection holds the checkpoint
    /// lock: the application's own checkpoint (its autocheckpoint runs after each of its commits once the WAL is
    /// past 1000 pages) often does, and PASSIVE gives up at once. In step 3, run while B holds the write lock, giving
    /// up would leave the WAL not fully backfilled, so it could not reset and would grow until the next cycle; the
    /// wait is short there, since the other checkpoint only copies pages and nobody can append.
    /// </summary>
    private string CheckpointAll(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            var result = RunPassiveCheckpoint();
            if (!result.LockBusy || watch.Elapsed >= timeout)
            {
                return attempt == 0 ? result.ToString() : $"{result} after {attempt} tries in {watch.ElapsedMilliseconds} ms (another connection was checkpointing)";
            }

            if (attempt < 200) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    private CheckpointResult RunPassiveCheckpoint()
    {
        using var command = _checkpointConnection!.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var reader = command.ExecuteReader();
        if (!reader.Read()) throw new InvalidOperationException("PRAGMA wal_checkpoint returned no row");
        return new CheckpointResult(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>What <c>PRAGMA wal_checkpoint</c> returns; -1 frames with busy set: another connection held the checkpoint lock.</summary>
    private readonly record struct CheckpointResult(long Busy, long WalFrames, long Checkpointed)
    {
        public bool LockBusy => Busy != 0 && WalFrames < 0;

        public override string ToString() => $"checkpoint PASSIVE: busy={Busy} wal_frames={WalFrames} checkpointed={Checkpointed}";
    }

    private static bool IsBusy(SqliteException e) => (e.SqliteErrorCode & 0xff) is 5 or 6;
}
