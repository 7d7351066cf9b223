namespace Ferry.Capture;

/// <summary>Tuning of one <see cref="DatabaseCapture"/>. Defaults suit a database written by one busy application.</summary>
internal sealed class DatabaseCaptureOptions
{
    /// <summary>How long Ferry's connections wait for a lock when opening, pinning or writing its nonce (default 5 s, at least 1 s).</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the checkpoint cycle waits for the write lock before skipping the round (default 1 s, at least 1 s).</summary>
    public TimeSpan CheckpointLockTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Ferry checkpoints only once the WAL holds at least this many frames (default 1000)...</summary>
    public int CheckpointThresholdFrames { get; set; } = 1000;

    /// <summary>...or at least this many bytes (default 4 MiB).</summary>
    public long CheckpointThresholdBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>
    /// Whether the WAL in use up to <paramref name="cursor"/> has passed either threshold. Measured by the cursor, not
    /// the file: a reset rewrites from frame 1 but never shrinks the file.
    /// </summary>
    public bool IsPastCheckpointThreshold(WalCursor cursor)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        return cursor.FrameIndex >= CheckpointThresholdFrames || cursor.NextFrameOffset >= CheckpointThresholdBytes;
    }

    /// <summary>A read returns after about this many frames (at a commit boundary) to bound memory (default 4096).</summary>
    public int MaxFramesPerRead { get; set; } = 4096;

    /// <summary>Throws with a message saying what to use instead when a setting is out of range.</summary>
    public void Validate()
    {
        if (BusyTimeout < TimeSpan.FromSeconds(1) || BusyTimeout > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "use a busy timeout from 1 s to 10 min; SQLite's 0 would mean 'wait forever' to Microsoft.Data.Sqlite");
        }

        if (CheckpointLockTimeout < TimeSpan.FromSeconds(1) || CheckpointLockTimeout > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(CheckpointLockTimeout), CheckpointLockTimeout, "use a checkpoint lock timeout from 1 s to 10 min");
        }

        if (CheckpointThresholdFrames < 1) throw new ArgumentOutOfRangeException(nameof(CheckpointThresholdFrames), CheckpointThresholdFrames, "use at least 1 frame");
        if (CheckpointThresholdBytes < 1) throw new ArgumentOutOfRangeException(nameof(CheckpointThresholdBytes), CheckpointThresholdBytes, "use at least 1 byte");
        if (MaxFramesPerRead < 1) throw new ArgumentOutOfRangeException(nameof(MaxFramesPerRead), MaxFramesPerRead, "use at least 1 frame per read");
    }
}

/// <summary>Whether capture can continue the current generation or must start a new one with a snapshot.</summary>
internal enum CaptureContinuity
{
    /// <summary>Every frame after the cursor is still in the WAL: keep shipping from it.</summary>
    Continue,

    /// <summary>Continuity can't be proven (first start, unseen WAL reset, database replaced): call <see cref="DatabaseCapture.TakeSnapshot"/>.</summary>
    NewGenerationNeeded,
}

/// <summary>The result of <see cref="DatabaseCapture.Start"/>.</summary>
internal sealed record CaptureStart(CaptureContinuity Continuity, string Reason);

/// <summary>
/// Transactions read by one call, oldest first, and the cursor after the last of them (persist it once they are
/// shipped). When <see cref="Continuity"/> is <see cref="CaptureContinuity.NewGenerationNeeded"/> the list is empty.
/// </summary>
internal sealed record CaptureBatch(
    IReadOnlyList<CommittedTransaction> Transactions,
    WalCursor? Cursor,
    CaptureContinuity Continuity,
    string? Reason = null,
    bool ReachedEnd = true)
{
    /// <summary>
    /// False when the read stopped at <see cref="DatabaseCaptureOptions.MaxFramesPerRead"/> with more committed
    /// frames after it: commits made before the read began may still be unread.
    /// </summary>
    public bool ReachedEnd { get; init; } = ReachedEnd;
}

internal enum CheckpointStatus
{
    /// <summary>The WAL is below the thresholds (or a new generation is pending); nothing was done.</summary>
    NotNeeded,

    /// <summary>The application held the write lock past the timeout; nothing was changed, try next round.</summary>
    SkippedBusy,

    /// <summary>The cycle ran; <see cref="CheckpointOutcome.Transactions"/> must be shipped.</summary>
    Done,
}

/// <summary>
/// The result of <see cref="DatabaseCapture.CheckpointIfNeeded"/>: the transactions read under the write lock
/// just before the checkpoint (ship them; the cursor after them is <see cref="Cursor"/>), the SQLite checkpoint
/// counts, and a line for the log.
/// </summary>
internal sealed record CheckpointOutcome(
    CheckpointStatus Status,
    IReadOnlyList<CommittedTransaction> Transactions,
    WalCursor? Cursor,
    string Detail);
