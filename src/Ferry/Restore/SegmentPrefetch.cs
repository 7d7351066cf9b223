using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Storage;

namespace Ferry.Restore;

/// <summary>
/// Fetches (reads, decodes and verifies) a restore's segments ahead of the one being applied, so that a chain of
/// thousands of small objects does not cost a round trip to storage each, and hands them out strictly in chain order.
/// <list type="number">
/// <item>At most <c>parallelism</c> segments are held at once: being fetched, fetched and waiting, or being applied
/// (the one <see cref="NextAsync"/> returned last counts until the next call, which is when the caller has applied
/// it). With a parallelism of 1 a restore reads one object at a time, as a restore always did.</item>
/// <item>Those also stay within <c>maxBytesAhead</c> bytes of stored objects, except that one segment is always
/// allowed: a run of large packed objects can't add up to gigabytes at a high parallelism.</item>
/// <item>The snapshot's download takes one of the slots: <see cref="StartAhead"/> starts the first fetches in the
/// slots it leaves, and <see cref="Token"/> cancels that download too when a fetch fails.</item>
/// <item>The first fetch to fail is the restore's error at once, not when its turn comes: it cancels the others. Their
/// cancellations are its consequence, not errors; a real failure among them rides along as suppressed.</item>
/// <item><see cref="StopAsync"/> or <see cref="FailAsync"/> cancels whatever still runs and awaits every fetch, so
/// none outlives the restore and no fetch's exception goes unobserved. The caller calls one of them on every path.</item>
/// </list>
/// A segment the plan listed that is gone when fetched was deleted since planning (pruned, packed):
/// <c>FERRY:Restore:ObjectVanished</c> (<see cref="DatabaseRestore.Vanished"/>).
/// </summary>
internal sealed class SegmentPrefetch
{
    private readonly IObjectStorage _storage;
    private readonly IReadOnlyList<StoredSegment> _segments;
    private readonly int _parallelism;
    private readonly long _maxBytesAhead;
    private readonly CancellationTokenSource _cancel;
    private readonly Queue<Fetch> _ahead = new();

    /// <summary>The next segment of the plan to start fetching.</summary>
    private int _next;

    /// <summary>Stored bytes of the segments held: those ahead and the one handed out.</summary>
    private long _bytesHeld;

    private StoredSegment? _handedOut;

    /// <summary>The first fetch that failed (not a cancellation); set from the fetches' threads, once.</summary>
    private FerryException? _failure;

    /// <summary>True once <see cref="_failure"/> was thrown to the caller by <see cref="NextAsync"/>.</summary>
    private bool _failureThrown;

    private bool _stopped;

    public SegmentPrefetch(IObjectStorage storage, IReadOnlyList<StoredSegment> segments, int parallelism, long maxBytesAhead, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(segments);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytesAhead, 1);
        _storage = storage;
        _segments = segments;
        _parallelism = parallelism;
        _maxBytesAhead = maxBytesAhead;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>Cancelled when the caller cancels, when a fetch fails, and when the fetches are stopped.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Segments held now: fetches started and not handed out, and the one handed out last.</summary>
    public int Held => _ahead.Count + (_handedOut is null ? 0 : 1);

    /// <summary>The stored bytes of the segments <see cref="Held"/>.</summary>
    public long BytesHeld => _bytesHeld;

    /// <summary>Starts fetching up to <paramref name="slots"/> segments now (those the snapshot's download leaves free).</summary>
    public void StartAhead(int slots) => Fill(Math.Min(slots, _parallelism));

    /// <summary>
    /// The next segment of the plan, fetched and verified; the one returned before counts as applied from now on.
    /// Throws the first failed fetch's error, whichever segment it was, or a cancellation when the caller cancelled.
    /// </summary>
    public async Task<(StoredSegment Stored, Segment Segment)> NextAsync()
    {
        if (_stopped) throw new InvalidOperationException("the fetches were stopped");
        ThrowFailure();
        if (_handedOut is { } applied) _bytesHeld -= applied.Object.Size;
        _handedOut = null;
        Fill(_parallelism);
        if (!_ahead.TryDequeue(out var fetch))
        {
            // Nothing more was started: a fetch failed or the caller cancelled (or the plan is done, a bug of the caller's).
            ThrowFailure();
            _cancel.Token.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"all {_segments.Count} segments were handed out already");
        }

        _handedOut = fetch.Stored;
        try
        {
            return (fetch.Stored, await fetch.Reading.ConfigureAwait(false));
        }
        catch (Exception e) when (Failure is { } first && !ReferenceEquals(e, first))
        {
            // Cancelled because another fetch failed first: that failure is the restore's. A real failure of this one
            // as well (it failed on its own while the first did) rides along.
            if (e is FerryException { Class: not ErrorClass.Cancelled } own) first.AddSuppressed(own);
            ThrowFailure();
            throw new UnreachableException();
        }
        catch (Exception e) when (ReferenceEquals(e, Failure))
        {
            _failureThrown = true;
            throw;
        }
    }

    /// <summary>
    /// Stops the fetches of a restore that succeeded (every segment it needed was applied): cancels those still
    /// running, awaits every one, and returns the failures of segments that were fetched but not needed (past the
    /// restore's time), which the caller reports.
    /// </summary>
    public async Task<IReadOnlyList<FerryException>> StopAsync()
    {
        var failures = await DrainAsync().ConfigureAwait(false);
        if (Failure is { } first && !_failureThrown && !failures.Contains(first)) failures.Insert(0, first);
        return failures;
    }

    /// <summary>
    /// Stops the fetches of a restore that failed with <paramref name="cause"/>, awaits every one, and returns the
    /// restore's error: the first failed fetch's where <paramref name="cause"/> is only the cancellation that failure
    /// caused (the snapshot's download, say), else <paramref name="cause"/>; other fetches' failures ride along as
    /// suppressed.
    /// </summary>
    public async Task<FerryException> FailAsync(FerryException cause)
    {
        ArgumentNullException.ThrowIfNull(cause);
        var failures = await DrainAsync().ConfigureAwait(false);
        if (Failure is { } first && !failures.Contains(first)) failures.Insert(0, first);
        var error = cause.Class == ErrorClass.Cancelled && Failure is { } failed ? failed : cause;
        foreach (var failure in failures)
        {
            if (!ReferenceEquals(failure, error) && !error.Suppressed.Contains(failure)) error.AddSuppressed(failure);
        }

        return error;
    }

    private void Fill(int slots)
    {
        while (_next < _segments.Count && !_cancel.IsCancellationRequested)
        {
            var size = _segments[_next].Object.Size;
            if (Held >= slots || (Held > 0 && _bytesHeld + size > _maxBytesAhead)) return;

            var stored = _segments[_next++];
            _bytesHeld += size;
            var token = _cancel.Token;

            // On the thread pool: reading and decoding run beside the applying, not inline in it.
            _ahead.Enqueue(new Fetch(stored, Task.Run(() => ReadAsync(stored, token), CancellationToken.None)));
        }
    }

    private async Task<Segment> ReadAsync(StoredSegment stored, CancellationToken token)
    {
        try
        {
            return await ReplicaReader.ReadSegmentAsync(_storage, stored.Object.Name, token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var error = ErrorClassifier.Classify(e, ErrorArea.Storage, new ErrorContext(Operation: $"read {stored.Object.Name}"), token);
            if (error.Code == ErrorCodes.StorageObjectNotFound) error = DatabaseRestore.Vanished(_storage, stored.Object.Name, error);

            // The first real failure stops the others. A cancellation (the caller's, or one this caused) is none.
            if (error.Class != ErrorClass.Cancelled && Interlocked.CompareExchange(ref _failure, error, null) is null)
            {
                await _cancel.CancelAsync().ConfigureAwait(false);
            }

            if (ReferenceEquals(error, e)) throw;
            throw error;
        }
    }

    /// <summary>Cancels what still runs and awaits every fetch not handed out; returns their real failures.</summary>
    private async Task<List<FerryException>> DrainAsync()
    {
        var failures = new List<FerryException>();
        if (_stopped) return failures;
        _stopped = true;
        await _cancel.CancelAsync().ConfigureAwait(false);
        while (_ahead.TryDequeue(out var fetch))
        {
            try
            {
                await fetch.Reading.ConfigureAwait(false);
            }
            catch (FerryException e)
            {
                // A cancellation is the cancel just asked for (or the one a failure or the caller asked for): no error.
                if (e.Class != ErrorClass.Cancelled) failures.Add(e);
            }
        }

        _cancel.Dispose();
        return failures;
    }

    private FerryException? Failure => Volatile.Read(ref _failure);

    private void ThrowFailure()
    {
        if (Failure is not { } first) return;
        _failureThrown = true;
        ExceptionDispatchInfo.Throw(first);
    }

    private sealed record Fetch(StoredSegment Stored, Task<Segment> Reading);
}
