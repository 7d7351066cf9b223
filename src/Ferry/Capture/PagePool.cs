using System.Runtime.InteropServices;

namespace Ferry.Capture;

/// <summary>
/// Page buffers for captured frames, reused once a frame is shipped. A busy database has thousands of frames in
/// flight between capture and storage for a few hundred milliseconds each: allocated fresh, they outlive the GC's
/// youngest generation, the heap grows to hundreds of MiB and most of Ferry's CPU goes to zeroing and faulting in
/// new memory, on the cores the application writes with. Reused, the same few MiB serve every flush.
/// </summary>
/// <remarks>
/// Only the ship stage returns buffers, after their segment is in storage; a buffer that is never returned (a
/// failed stream, a test, a snapshot) is simply collected. The pool keeps at most <see cref="MaxRetainedBytes"/>
/// for the whole process, so many databases, or a burst, do not leave memory behind. Thread-safe.
/// </remarks>
internal sealed class PagePool
{
    /// <summary>The process's pool, shared by every stream.</summary>
    public static PagePool Shared { get; } = new(32L << 20);

    private readonly Dictionary<int, Stack<byte[]>> _free = [];
    // What is in the stacks, by reference: a buffer given back twice must not be handed out twice.
    private readonly HashSet<byte[]> _pooled = new(ReferenceEqualityComparer.Instance);
    private readonly Lock _lock = new();
    private long _retainedBytes;

    public PagePool(long maxRetainedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetainedBytes);
        MaxRetainedBytes = maxRetainedBytes;
    }

    /// <summary>The most this pool keeps for reuse; buffers returned beyond it are left to the GC.</summary>
    public long MaxRetainedBytes { get; }

    /// <summary>Bytes held for reuse now.</summary>
    public long RetainedBytes
    {
        get
        {
            lock (_lock) return _retainedBytes;
        }
    }

    /// <summary>A buffer of exactly <paramref name="pageSize"/> bytes, with whatever it held before: the caller overwrites it whole.</summary>
    public byte[] Rent(int pageSize)
    {
        lock (_lock)
        {
            if (_free.TryGetValue(pageSize, out var stack) && stack.TryPop(out var page))
            {
                _pooled.Remove(page);
                _retainedBytes -= page.Length;
                return page;
            }
        }

        return GC.AllocateUninitializedArray<byte>(pageSize);
    }

    /// <summary>Gives back the buffers of <paramref name="transactions"/>' frames; none of them may be read afterwards.</summary>
    public void Return(IEnumerable<CommittedTransaction> transactions)
    {
        ArgumentNullException.ThrowIfNull(transactions);
        lock (_lock)
        {
            foreach (var transaction in transactions)
            {
                foreach (var frame in transaction.Frames) ReturnLocked(frame.Page);
            }
        }
    }

    /// <summary>Gives back frames read but never handed out (the uncommitted tail of a scan).</summary>
    public void Return(IEnumerable<WalFrame> frames)
    {
        ArgumentNullException.ThrowIfNull(frames);
        lock (_lock)
        {
            foreach (var frame in frames) ReturnLocked(frame.Page);
        }
    }

    private void ReturnLocked(ReadOnlyMemory<byte> page)
    {
        // Only whole arrays go back: a slice of something else is not ours to reuse.
        if (!MemoryMarshal.TryGetArray(page, out var segment) || segment.Array is not { } array) return;
        if (segment.Offset != 0 || segment.Count != array.Length) return;
        if (_retainedBytes + array.Length > MaxRetainedBytes || !_pooled.Add(array)) return;
        if (!_free.TryGetValue(array.Length, out var stack)) _free[array.Length] = stack = new Stack<byte[]>();
        stack.Push(array);
        _retainedBytes += array.Length;
    }
}
