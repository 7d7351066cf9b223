using System.Text.Json;
using System.Threading.Channels;
using Ferry.Capture;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Retention;
using Ferry.Storage;
using Ferry.Tasks;

namespace Ferry.Streams;

/// <summary>Where a stream stands in storage: the generation, the next transaction index, the WAL cursor after it.</summary>
internal sealed record StreamPosition(string Generation, long NextIndex, WalCursor Cursor)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Serialize() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// Reads a position written by <see cref="Serialize"/>. Anything else is no position, and <paramref name="unreadable"/>
    /// says why: continuity can't be proven, so the stream starts a new generation with a snapshot, which loses nothing,
    /// and the damage is reported rather than passed over.
    /// </summary>
    public static StreamPosition? Parse(string? text, out FerryException? unreadable)
    {
        unreadable = null;
        if (string.IsNullOrEmpty(text)) return null;
        try
        {
            return JsonSerializer.Deserialize<StreamPosition>(text, Json)
                ?? throw new JsonException("the position is null");
        }
        catch (JsonException e)
        {
            unreadable = new FerryException(
                ErrorCodes.TaskPositionUnreadable,
                $"the saved position '{(text.Length > 120 ? text[..120] + "…" : text)}' does not parse ({e.Message}); starting a new generation with a snapshot",
                innerException: e);
            return null;
        }
    }
}

/// <summary>What one stream needs besides its database.</summary>
internal sealed class DatabaseStreamSettings
{
    public required IObjectStorage Storage { get; init; }

    public required long StoreId { get; init; }

    /// <summary>This process's fence token for the store, recorded in every generation and segment it writes (DESIGN §5).</summary>
    public FenceToken? Fence { get; init; }

    /// <summary>
    /// Asked before every storage write (DESIGN §5), given by the agent for its session; when it aborts (a fence, a
    /// lost session) the stream stops at once without shipping what it captured. None outside an agent.
    /// </summary>
    public IWriteGuard? Guard { get; init; }

    /// <summary>How often committed frames are shipped as a segment.</summary>
    public TimeSpan FlushInterval { get; init; } = TaskOptions.Defaults.FlushInterval;

    public DatabaseCaptureOptions Capture { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public string? Task { get; init; }

    /// <summary>
    /// How often a fresh snapshot starts a new generation (default daily; the agent takes it from the retention
    /// policy): it bounds how many segments a restore applies. A database that was not written since the last
    /// snapshot gets none: its generation still restores every instant since.
    /// </summary>
    public TimeSpan SnapshotInterval { get; init; } = TimeSpan.FromDays(1);

    /// <summary>What storage keeps and how it is packed (DESIGN §10); none: nothing is packed or deleted.</summary>
    public RetentionPolicy? Retention { get; init; }

    /// <summary>A retention pass with no progress for this long is cancelled as <c>FERRY:Retention:Stalled</c> (default 60 s).</summary>
    public TimeSpan StallTimeout { get; init; } = TaskOptions.Defaults.StallTimeout;

    /// <summary>
    /// How long a graceful stop may take to ship what was captured (default 30 s); past it the stream is aborted.
    /// Nothing is lost either way: what was not shipped is read again from the last shipped position.
    /// </summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A segment is shipped early once it holds this many bytes of pages (default 16 MiB).</summary>
    public long MaxSegmentBytes { get; init; } = 16L << 20;

    /// <summary>
    /// The shortest time between flushes when capture asks for one early (default 100 ms): a WAL past its checkpoint
    /// bound is shipped this soon rather than at the flush interval, so the application's WAL stays short while
    /// storage sees at most this many segments a second.
    /// </summary>
    public TimeSpan MinEarlyFlushSpacing { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the WAL is read: a fraction of the flush interval, so a segment's transactions are stamped finely.</summary>
    public TimeSpan PollInterval => TimeSpan.FromMilliseconds(Math.Clamp(FlushInterval.TotalMilliseconds / 10, 5, 100));
}

/// <summary>
/// One database's stream (DESIGN §7): capture → ship as a pipeline of two stages joined by a bounded channel. The
/// capture stage pins the WAL, reads committed transactions, starts a generation with a snapshot when continuity
/// can't be proven, and checkpoints once shipping has reached where it stood when the WAL passed its bound. The
/// ship stage encodes and uploads a segment every flush interval and then reports the position shipped. Failure
/// discipline is <see cref="StagePipeline"/>'s. A stop drains (what was captured is shipped); an abort of the
/// <see cref="DatabaseStreamSettings.Guard"/> does not, and no commit is lost by it: the store's owner reads the
/// rest again from the last position shipped, or, if a checkpoint cycle had just reset the WAL past it (what the
/// cycle read, about one flush, ships right after the reset), starts a new generation whose snapshot holds it.
/// </summary>
internal static class DatabaseStream
{
    /// <summary>A <see cref="StreamBody"/> for the task runner.</summary>
    public static StreamBody Body(DatabaseStreamSettings settings) =>
        (database, saved, progress, cancellationToken) =>
        {
            var position = StreamPosition.Parse(saved, out var unreadable);
            if (unreadable is not null) progress.Recovered(unreadable);
            return RunAsync(settings, database, position, progress, cancellationToken);
        };

    public static async Task RunAsync(
        DatabaseStreamSettings settings,
        string database,
        StreamPosition? position,
        IStreamProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var channel = Channel.CreateBounded<CapturedWork>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        var shared = new SharedState();
        var writer = new ReplicaWriter(settings.Storage, new ReplicaDatabase(settings.StoreId, database), settings.Fence, settings.Guard);
        var context = new ErrorContext(Task: settings.Task, StoreId: settings.StoreId, Database: database);
        // What shipping wrote, for the retention stage: unbounded, so shipping never waits on a pass (one small item a flush).
        var written = settings.Retention is null ? null : Channel.CreateUnbounded<ShippedSegment>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        IPipelineStage[] stages = written is null
            ?
            [
                new CaptureStage(settings, database, position, writer, channel.Writer, shared, progress, context),
                new ShipStage(settings, writer, position, channel.Reader, shared, progress, null),
            ]
            :
            [
                new CaptureStage(settings, database, position, writer, channel.Writer, shared, progress, context),
                new ShipStage(settings, writer, position, channel.Reader, shared, progress, written.Writer),
                new RetentionStage(settings, writer, written.Reader, progress),
            ];
        await StagePipeline.RunAsync(
            stages,
            cancellationToken,
            settings.StopTimeout,
            settings.Guard?.Aborted ?? default).ConfigureAwait(false);

        // Aborted, not stopped: what was captured was not shipped, and the stream says why (Fenced or SessionLost).
        if (settings.Guard is { Aborted.IsCancellationRequested: true } guard) guard.ThrowIfAborted();
    }

    /// <summary>What capture hands to shipping: a new generation, or the transactions of one read.</summary>
    private abstract record CapturedWork;

    private sealed record GenerationStarted(GenerationId Generation, DateTimeOffset ReadAt, WalCursor Cursor, long SnapshotBytes) : CapturedWork;

    private sealed record Transactions(IReadOnlyList<CommittedTransaction> Items, DateTimeOffset ReadAt, WalCursor Cursor) : CapturedWork;

    /// <summary>Capture waits to checkpoint a WAL past its bound until what it had read by then is shipped: ship it soon.</summary>
    private sealed record FlushSoon : CapturedWork;

    /// <summary>The one fact the stages share: the cursor of what is durably shipped, so capture knows when it may checkpoint.</summary>
    private sealed class SharedState
    {
        private WalCursor? _shipped;
        private TaskCompletionSource _moved = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public WalCursor? Shipped
        {
            get => Volatile.Read(ref _shipped);
            set
            {
                Volatile.Write(ref _shipped, value);
                Interlocked.Exchange(ref _moved, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        }

        /// <summary>
        /// Returns once <see cref="Shipped"/> is at or past <paramref name="target"/> or was set again, or after
        /// <paramref name="atMost"/>: capture checkpoints the moment shipping catches up rather than at its next poll,
        /// which keeps the WAL short.
        /// </summary>
        public async Task WaitForShipmentAsync(WalCursor target, TimeSpan atMost, TimeProvider time, CancellationToken cancellationToken)
        {
            var moved = Volatile.Read(ref _moved).Task;
            if (Shipped is { } shipped && shipped.IsAtOrPast(target)) return;
            using var delay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var timeout = Task.Delay(atMost, time, delay.Token);
            await Task.WhenAny(moved, timeout).ConfigureAwait(false);
            await delay.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private sealed class CaptureStage(
        DatabaseStreamSettings settings,
        string database,
        StreamPosition? position,
        ReplicaWriter writer,
        ChannelWriter<CapturedWork> output,
        SharedState shared,
        IStreamProgress progress,
        ErrorContext context) : IPipelineStage
    {
        private DatabaseCapture? _capture;
        private DateTimeOffset _generationStartedAt = settings.Time.GetUtcNow();
        private bool _readSinceGeneration = true;

        public string Name => "capture";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            try
            {
                _capture = new DatabaseCapture(database, settings.Capture, settings.Time, context);
                var start = _capture.Start(position?.Cursor);
                // Where capture has read to: never taken from shared.Shipped after a new generation, which the ship
                // stage may not have seen yet (a stale cursor there would keep capture waiting for a flush forever).
                WalCursor? read;
                if (start.Continuity == CaptureContinuity.Continue && position is not null
                    && await StorageHoldsAsync(position, cancellationToken).ConfigureAwait(false))
                {
                    shared.Shipped = read = position.Cursor;
                }
                else
                {
                    read = await StartGenerationAsync(cancellationToken).ConfigureAwait(false);
                }

                var nextCheckpointTry = DateTimeOffset.MinValue;
                var seenAllBefore = _generationStartedAt;
                var missedResets = 0;
                // Where capture stood when the WAL passed its bound: the cycle runs once shipping has reached it.
                WalCursor? checkpointAfter = null;
                while (!cancellationToken.IsCancellationRequested)
                {
                    await Failpoints.HitAsync("capture.read", cancellationToken).ConfigureAwait(false);
                    // Checkpoint only what is in storage, give or take what capture read while shipping caught up:
                    // an application that never pauses would keep shipping one read behind forever, so the cycle
                    // runs once shipping has reached where capture stood when the WAL passed its bound, and what was
                    // read since (about one flush) goes out right after the reset, with what the cycle reads under
                    // the write lock. Reading on meanwhile, rather than waiting, keeps the cycle short, and the WAL.
                    if (checkpointAfter is null && read is not null && settings.Capture.IsPastCheckpointThreshold(read) && settings.Time.GetUtcNow() >= nextCheckpointTry)
                    {
                        checkpointAfter = read;
                        await output.WriteAsync(new FlushSoon(), cancellationToken).ConfigureAwait(false);
                    }

                    if (checkpointAfter is not null && shared.Shipped is { } shippedSoFar && shippedSoFar.IsAtOrPast(checkpointAfter))
                    {
                        checkpointAfter = null;

                        var checkpointAt = settings.Time.GetUtcNow();
                        var outcome = _capture.CheckpointIfNeeded();
                        if (outcome is { Status: CheckpointStatus.Done, Cursor: { } after })
                        {
                            read = after;
                            seenAllBefore = checkpointAt;
                            await output.WriteAsync(new Transactions(Stamp(outcome.Transactions), checkpointAt, after), cancellationToken).ConfigureAwait(false);

                            // A reader of the application's can keep SQLite from resetting the WAL: then don't run the
                            // cycle (and write a nonce) every round while nothing changes; try again later, backing off
                            // while it lasts. A single miss (the application committed in the instant between the
                            // cycle's two transactions) is retried at once: every cycle missed grows the WAL. Judged
                            // by where capture stands after the cycle, not by the shipped cursor from before the
                            // reset, which is always past the bound (that is why the cycle ran).
                            if (_capture.Cursor is { } resumed && settings.Capture.IsPastCheckpointThreshold(resumed))
                            {
                                missedResets++;
                                nextCheckpointTry = checkpointAt + RetryAfterMissedResets(missedResets);
                            }
                            else
                            {
                                missedResets = 0;
                            }
                        }
                        else if (outcome.Status == CheckpointStatus.SkippedBusy)
                        {
                            // The application holds the write lock: keep reading, try again in a few flushes.
                            nextCheckpointTry = checkpointAt + (settings.FlushInterval * 3);
                        }
                    }

                    // A due snapshot comes before the read: it holds whatever that read would have shipped.
                    var readAt = settings.Time.GetUtcNow();
                    var batch = readAt - _generationStartedAt >= settings.SnapshotInterval && _readSinceGeneration ? null : _capture.ReadNewTransactions();
                    if (batch is null || batch.Continuity == CaptureContinuity.NewGenerationNeeded)
                    {
                        read = await StartGenerationAsync(cancellationToken).ConfigureAwait(false);
                        checkpointAfter = null;
                        continue;
                    }

                    read = batch.Cursor ?? read;
                    if (batch.Transactions.Count > 0) _readSinceGeneration = true;
                    // Only a read that reached the end of the committed WAL proves every commit before it was seen; a
                    // read cut short by the frame limit keeps the previous bound, and the next read follows at once.
                    if (batch.ReachedEnd) seenAllBefore = readAt;
                    if (read is not null) await output.WriteAsync(new Transactions(Stamp(batch.Transactions), seenAllBefore, read), cancellationToken).ConfigureAwait(false);
                    progress.Progress();
                    if (!batch.ReachedEnd) continue;

                    // This read took the WAL past its bound: ask for the flush now, not a poll later.
                    if (checkpointAfter is null && read is not null && settings.Capture.IsPastCheckpointThreshold(read) && settings.Time.GetUtcNow() >= nextCheckpointTry) continue;

                    if (checkpointAfter is not null)
                    {
                        await shared.WaitForShipmentAsync(checkpointAfter, settings.PollInterval, settings.Time, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await Task.Delay(settings.PollInterval, settings.Time, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Graceful stop (or another stage failed): the channel is completed below.
            }
            finally
            {
                output.TryComplete();
            }
        }

        /// <summary>When to try the cycle again after <paramref name="missed"/> cycles in a row left the WAL unreset: at once, then 1, 2, 4… flushes, at most 10.</summary>
        private TimeSpan RetryAfterMissedResets(int missed) =>
            missed <= 1 ? TimeSpan.Zero : settings.FlushInterval * Math.Min(10, 1 << Math.Min(missed - 2, 4));

        /// <summary>
        /// Planning compares the local position with storage: continuing a generation whose objects are gone (the
        /// backup directory was wiped or replaced) would ship segments nobody can restore, so a missing manifest or
        /// a missing last segment starts a new generation instead.
        /// </summary>
        private async Task<bool> StorageHoldsAsync(StreamPosition saved, CancellationToken cancellationToken)
        {
            if (!GenerationId.TryParse(saved.Generation, out var generation)) return false;
            var manifest = ReplicaLayout.Manifest(writer.Database, generation);
            await using (var stream = await settings.Storage.TryOpenReadAsync(manifest, cancellationToken).ConfigureAwait(false))
            {
                if (stream is null) return false;
            }

            if (saved.NextIndex == 0) return true;
            var segments = await settings.Storage.ListAsync(ReplicaLayout.GenerationPrefix(writer.Database, generation) + "segments/", cancellationToken).ConfigureAwait(false);
            var lastShipped = $"-{(saved.NextIndex - 1).ToString("D16", System.Globalization.CultureInfo.InvariantCulture)}.seg";
            return segments.Any(o => o.Name.EndsWith(lastShipped, StringComparison.Ordinal));
        }

        /// <summary>
        /// Stamps transactions with the end of the read that saw them: at or after each one's commit, so a restore
        /// to T never includes a transaction committed after T. The batch's own time, taken before the read, is the
        /// checkpoint: every commit before it was seen.
        /// </summary>
        private List<CommittedTransaction> Stamp(IReadOnlyList<CommittedTransaction> transactions)
        {
            var seenBy = settings.Time.GetUtcNow();
            return [.. transactions.Select(t => t with { CapturedAt = seenBy })];
        }

        /// <summary>Snapshots the database into a new generation; returns the cursor the snapshot was taken at.</summary>
        private async Task<WalCursor> StartGenerationAsync(CancellationToken cancellationToken)
        {
            // The snapshot holds every commit before the call (the checkpoint bound) and none after its return
            // (the restore bound): the pin is taken inside TakeSnapshot.
            var before = settings.Time.GetUtcNow();
            _generationStartedAt = before;
            _readSinceGeneration = false;
            await Failpoints.HitAsync("capture.snapshot", cancellationToken).ConfigureAwait(false);
            var snapshot = _capture!.TakeSnapshot();
            var capturedAt = settings.Time.GetUtcNow();
            var generation = await writer.CreateGenerationAsync(capturedAt, snapshot.PageSize, cancellationToken).ConfigureAwait(false);
            // A large snapshot takes a while: every page read feeds the watchdog, so only a stuck upload stalls.
            var pages = new ProgressPageSource(snapshot, progress);
            var written = await writer.WriteSnapshotAsync(generation, 0, capturedAt, pages, cancellationToken).ConfigureAwait(false);
            progress.Progress();
            await output.WriteAsync(new GenerationStarted(generation, before, snapshot.Cursor, written.Size), cancellationToken).ConfigureAwait(false);
            return snapshot.Cursor;
        }

        public ValueTask DisposeAsync()
        {
            // Releases the read transaction, the connections, then the database file handle.
            _capture?.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class ShipStage(
        DatabaseStreamSettings settings,
        ReplicaWriter writer,
        StreamPosition? position,
        ChannelReader<CapturedWork> input,
        SharedState shared,
        IStreamProgress progress,
        ChannelWriter<ShippedSegment>? shipped) : IPipelineStage
    {
        private readonly List<CommittedTransaction> _pending = [];
        // Continuing a generation starts from the saved position; a new one arrives as GenerationStarted first.
        private GenerationId? _generation = position is null ? null : GenerationId.Parse(position.Generation);
        private long _nextIndex = position?.NextIndex ?? 0;
        private bool _flushSoon;
        private DateTimeOffset _lastFlush = DateTimeOffset.MinValue;
        private WalCursor? _pendingCursor;
        private DateTimeOffset _pendingReadAt;
        private long _pendingBytes;
        private long _snapshotBytes;

        public string Name => "ship";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var nextFlush = settings.Time.GetUtcNow() + settings.FlushInterval;
            // Flushes run on the clock, not only when work arrives: a database that stops being written still has
            // its last reads shipped within the interval, and capture waiting to checkpoint gets its flush.
            while (await WaitForWorkAsync(nextFlush, cancellationToken).ConfigureAwait(false))
            {
                while (input.TryRead(out var work))
                {
                    await HandleAsync(work, cancellationToken).ConfigureAwait(false);
                }

                // Capture waits to checkpoint: flush as soon as the spacing allows, not at the interval.
                if (_flushSoon && _lastFlush + settings.MinEarlyFlushSpacing < nextFlush) nextFlush = _lastFlush + settings.MinEarlyFlushSpacing;

                if (settings.Time.GetUtcNow() >= nextFlush)
                {
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    _flushSoon = false;
                    _lastFlush = settings.Time.GetUtcNow();
                    nextFlush = _lastFlush + settings.FlushInterval;
                }
            }

            // The input is complete: a graceful stop ships what was captured. After a failure elsewhere the token is
            // cancelled and this throws, which the pipeline ignores as a consequence.
            try
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                shipped?.TryComplete();
            }
        }

        /// <summary>True when there is work or the flush is due; false once the input is complete and drained.</summary>
        private async Task<bool> WaitForWorkAsync(DateTimeOffset nextFlush, CancellationToken cancellationToken)
        {
            var wait = nextFlush - settings.Time.GetUtcNow();
            if (wait <= TimeSpan.Zero) return !input.Completion.IsCompleted || input.TryPeek(out _);
            using var timer = new CancellationTokenSource(wait, settings.Time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
            try
            {
                return await input.WaitToReadAsync(either.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return true;
            }
        }

        private async Task HandleAsync(CapturedWork work, CancellationToken cancellationToken)
        {
            switch (work)
            {
                case GenerationStarted started:
                    // What the old generation read before the switch is shipped to it first, so a restore to a
                    // time before the new snapshot still finds every transaction.
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    shipped?.TryWrite(new ShippedSegment(null, null));
                    _generation = started.Generation;
                    _nextIndex = 0;
                    _snapshotBytes = started.SnapshotBytes;
                    await CommitAsync(started.ReadAt, started.Cursor, 0, cancellationToken).ConfigureAwait(false);
                    break;
                case Transactions read:
                    _pending.AddRange(read.Items);
                    _pendingCursor = read.Cursor;
                    _pendingReadAt = read.ReadAt;
                    _pendingBytes += read.Items.Sum(t => (long)t.Frames.Count * (t.Frames.Count > 0 ? t.Frames[0].Page.Length : 0));

                    // A backlog (after downtime, or a burst) ships as several bounded segments rather than one huge
                    // upload: each stays quick enough to show progress to the watchdog and cheap to retry.
                    if (_pendingBytes >= settings.MaxSegmentBytes) await FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case FlushSoon:
                    _flushSoon = true;
                    break;
            }
        }

        private async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_pendingCursor is null) return;
            var bytes = _snapshotBytes;
            _snapshotBytes = 0;
            if (_pending.Count > 0)
            {
                if (_generation is null)
                {
                    throw new FerryException(ErrorCodes.Internal, "transactions captured before any generation was known", new ErrorContext(Database: writer.Database.Path));
                }

                var written = await writer.WriteSegmentAsync(_generation.Value, _nextIndex, _pending, cancellationToken).ConfigureAwait(false);
                shipped?.TryWrite(new ShippedSegment(written.Name, new SegmentHeader(
                    _generation.Value, _nextIndex, _nextIndex + _pending.Count - 1, _pending[0].Frames[0].Page.Length,
                    _pending[0].CapturedAt, _pending[^1].CapturedAt, _pending.Sum(t => (long)t.Frames.Count), settings.Fence)));
                _nextIndex += _pending.Count;
                bytes += written.Size;
                // In storage now, and nothing else holds these frames: their buffers serve the next reads.
                PagePool.Shared.Return(_pending);
                _pending.Clear();
                _pendingBytes = 0;
            }

            await CommitAsync(_pendingReadAt, _pendingCursor, bytes, cancellationToken).ConfigureAwait(false);
            _pendingCursor = null;
        }

        private async ValueTask CommitAsync(DateTimeOffset readAt, WalCursor cursor, long bytes, CancellationToken cancellationToken)
        {
            if (_generation is null) return;
            await Failpoints.HitAsync("stream.commit", cancellationToken).ConfigureAwait(false);
            shared.Shipped = cursor;
            progress.Shipped(readAt, bytes, new StreamPosition(_generation.Value.Value, _nextIndex, cursor).Serialize());
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Passes pages through and reports progress every so many, for the watchdog.</summary>
    private sealed class ProgressPageSource(IPageSource inner, IStreamProgress progress) : IPageSource
    {
        private const int PagesPerProgress = 256;

        public int PageSize => inner.PageSize;

        public uint PageCount => inner.PageCount;

        public void ReadPage(uint pageNumber, Span<byte> destination)
        {
            inner.ReadPage(pageNumber, destination);
            if (pageNumber % PagesPerProgress == 0) progress.Progress();
        }
    }
}
