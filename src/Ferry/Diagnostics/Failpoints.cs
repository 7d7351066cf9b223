using Ferry.Errors;

namespace Ferry.Diagnostics;

/// <summary>
/// Named fault-injection points, after TiKV's fail-rs. Code marks a point with
/// <c>await Failpoints.HitAsync("storage.put", cancellationToken)</c> (or <see cref="Hit"/>); the point does nothing
/// unless it is armed. Points are armed
/// <list type="bullet">
/// <item>from <c>FERRY_FAILPOINTS</c> at start-up (<see cref="InitializeFromEnvironment"/>), e.g.
/// <c>storage.put=error(FERRY:Storage:Unavailable)*3;capture.read=delay(2s);meta.txn=hang</c>;</item>
/// <item>from the file <c>FERRY_FAILPOINTS_FILE</c> names, in the same syntax (';' or new lines between entries,
/// '#' starts a comment line), re-read when it changes (checked at most every 100 ms, by modification time and
/// length), so a test can release a hang in a child process by rewriting the file. The file's entries override
/// the environment's for the same name (<c>name=off</c> disarms one); entries dropped from the file disarm;</item>
/// <item>in code, for unit tests: <see cref="Arm"/>, which wins over both and returns a scope that disarms.</item>
/// </list>
/// Actions: <c>error(CODE)</c> throws a <see cref="FerryException"/> with that registered code; <c>delay(DURATION)</c>
/// (<c>500ms</c>, <c>2s</c>, <c>1m</c>) waits; <c>hang</c> waits until the token is cancelled or the point is
/// disarmed; <c>off</c> does nothing. <c>*N</c> after an action makes it act N times, after which it is inert.
/// Several actions for one name (repeated entries, or <c>a->b</c>) form a chain: each hit runs the first action
/// that is not used up, so <c>p=error(FERRY:Storage:Unavailable)*3;p=error(FERRY:Storage:QuotaExceeded)</c> fails
/// three times transiently, then permanently.
/// Points in the code: <c>capture.read</c> (before each WAL read of a stream), <c>capture.snapshot</c> (before a
/// snapshot for a new generation), <c>capture.checkpoint-gap</c> (in a checkpoint cycle, between its two write locks), <c>storage.put</c> (start of a file storage put), <c>stream.commit</c> (before a
/// stream reports a shipped position), <c>meta.open</c> (the CLI opening the metadata store), <c>restore.publish</c>
/// (after a restore links its output into place, before the directory fsync that makes it durable).
/// </summary>
internal static partial class Failpoints
{
    /// <summary>The environment variable holding a failpoint specification read at start-up.</summary>
    public const string SpecVariable = "FERRY_FAILPOINTS";

    /// <summary>The environment variable naming a specification file that is re-read when it changes.</summary>
    public const string FileVariable = "FERRY_FAILPOINTS_FILE";

    /// <summary>How often, at most, a hit looks at the specification file.</summary>
    public static readonly TimeSpan FileCheckInterval = TimeSpan.FromMilliseconds(100);

    private static readonly Lock _lock = new();

    // Null while nothing is armed and no file is watched, so an unarmed hit is one volatile read and a branch.
    private static volatile Snapshot? _armed;

    // The three sources, written under _lock only; _armed is rebuilt from them (code > file > environment).
    private static Dictionary<string, Point> _fromEnvironment = new(StringComparer.Ordinal);
    private static Dictionary<string, Point> _fromFile = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, Point> _fromCode = new(StringComparer.Ordinal);
    private static WatchedFile? _file;

    /// <summary>Runs the point's action if it is armed: may throw, wait, or hang until disarmed or cancelled.</summary>
    public static void Hit(string name, CancellationToken cancellationToken = default)
    {
        var armed = _armed;
        if (armed is null) return;
        HitSlow(armed, name, cancellationToken);
    }

    /// <summary>Runs the point's action if it is armed: may throw, wait, or hang until disarmed or cancelled.</summary>
    public static ValueTask HitAsync(string name, CancellationToken cancellationToken = default)
    {
        var armed = _armed;
        return armed is null ? ValueTask.CompletedTask : HitSlowAsync(armed, name, cancellationToken);
    }

    /// <summary>
    /// Arms points from <c>FERRY_FAILPOINTS</c> and <c>FERRY_FAILPOINTS_FILE</c>; call once at process start-up.
    /// Throws a <see cref="FerryException"/> (<c>FERRY:Config:InvalidFailpoints</c>) when either is malformed.
    /// </summary>
    public static void InitializeFromEnvironment() =>
        Configure(Environment.GetEnvironmentVariable(SpecVariable), Environment.GetEnvironmentVariable(FileVariable));

    /// <summary>
    /// Replaces the configured points with <paramref name="spec"/> (as from <c>FERRY_FAILPOINTS</c>) and starts
    /// watching <paramref name="filePath"/> (as from <c>FERRY_FAILPOINTS_FILE</c>), or stops watching when null.
    /// Points armed in code stay. Nothing changes when either is malformed.
    /// </summary>
    public static void Configure(string? spec, string? filePath)
    {
        var fromEnvironment = string.IsNullOrWhiteSpace(spec)
            ? new Dictionary<string, Point>(StringComparer.Ordinal)
            : ToPoints(Parse(spec, SpecVariable));
        WatchedFile? file = null;
        var fromFile = new Dictionary<string, Point>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(filePath))
        {
            file = new WatchedFile(Path.GetFullPath(filePath));
            fromFile = ToPoints(file.ReadIfChanged() ?? []);
        }

        lock (_lock)
        {
            _fromEnvironment = fromEnvironment;
            _fromFile = fromFile;
            _file = file;
            Publish();
        }
    }

    /// <summary>
    /// Arms <paramref name="name"/> with <paramref name="actions"/> (e.g. <c>error(FERRY:Storage:Unavailable)*3</c>,
    /// <c>hang</c>, <c>delay(50ms)->off</c>) until the returned scope is disposed or <see cref="Disarm"/> is called.
    /// </summary>
    public static FailpointScope Arm(string name, string actions)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(actions);
        var entry = ParseEntry(name + "=" + actions, "Failpoints.Arm", 1);
        var point = new Point(entry.Name, entry.Steps, entry.Actions);
        lock (_lock)
        {
            _fromCode[point.Name] = point;
            Publish();
        }

        return new FailpointScope(point);
    }

    /// <summary>Disarms <paramref name="name"/> whatever armed it; a hang in progress returns. False if it was not armed.</summary>
    public static bool Disarm(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_lock)
        {
            var removed = _fromCode.Remove(name) | _fromFile.Remove(name) | _fromEnvironment.Remove(name);
            if (removed) Publish();
            return removed;
        }
    }

    /// <summary>Whether <paramref name="name"/> is armed now (even if its count is used up).</summary>
    public static bool IsArmed(string name)
    {
        var armed = _armed;
        if (armed is null) return false;
        armed.File?.RefreshIfDue();
        return _armed?.Points.ContainsKey(name) ?? false;
    }

    /// <summary>Disarms a point armed by <paramref name="scope"/>, unless something armed the name again since.</summary>
    internal static void Disarm(FailpointScope scope)
    {
        lock (_lock)
        {
            if (_fromCode.TryGetValue(scope.Point.Name, out var current) && ReferenceEquals(current, scope.Point))
            {
                _fromCode.Remove(scope.Point.Name);
                Publish();
            }
        }
    }

    private static void HitSlow(Snapshot armed, string name, CancellationToken cancellationToken)
    {
        var (point, step) = Take(armed, name);
        if (step is null) return;
        switch (step.Kind)
        {
            case ActionKind.Error:
                throw step.NewError(name);
            case ActionKind.Delay:
                // Wakes early only to honour cancellation.
                if (cancellationToken.WaitHandle.WaitOne(step.Delay)) cancellationToken.ThrowIfCancellationRequested();
                return;
            case ActionKind.Hang:
                while (!point!.Released.IsCompleted)
                {
                    // Wakes on disarm or cancellation at once; every interval to look at the file, which may disarm it.
                    point.Released.Wait(FileCheckInterval, cancellationToken);
                    _file?.RefreshIfDue();
                }

                return;
            default:
                return;
        }
    }

    private static async ValueTask HitSlowAsync(Snapshot armed, string name, CancellationToken cancellationToken)
    {
        var (point, step) = Take(armed, name);
        if (step is null) return;
        switch (step.Kind)
        {
            case ActionKind.Error:
                throw step.NewError(name);
            case ActionKind.Delay:
                await Task.Delay(step.Delay, cancellationToken);
                return;
            case ActionKind.Hang:
                while (!point!.Released.IsCompleted)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (_file is null)
                    {
                        await point.Released.WaitAsync(cancellationToken);
                    }
                    else
                    {
                        // The file may disarm the point: look at it every interval, however the wait ended.
                        await Task.WhenAny(point.Released, Task.Delay(FileCheckInterval, cancellationToken));
                        _file?.RefreshIfDue();
                    }
                }

                return;
            default:
                return;
        }
    }

    private static (Point? Point, Step? Step) Take(Snapshot armed, string name)
    {
        if (armed.File is { } file)
        {
            file.RefreshIfDue();
            var current = _armed;
            if (current is null) return (null, null);
            armed = current;
        }

        if (!armed.Points.TryGetValue(name, out var point)) return (null, null);
        point.MarkHit();
        foreach (var step in point.Steps)
        {
            if (step.TryTake()) return (point, step);
        }

        return (point, null);
    }

    /// <summary>Rebuilds the published snapshot from the sources and releases hangs of points that changed. Under _lock.</summary>
    private static void Publish()
    {
        var merged = new Dictionary<string, Point>(_fromEnvironment, StringComparer.Ordinal);
        foreach (var (name, point) in _fromFile) merged[name] = point;
        foreach (var (name, point) in _fromCode) merged[name] = point;

        var previous = _armed;
        _armed = merged.Count == 0 && _file is null ? null : new Snapshot(merged, _file);
        if (previous is null) return;
        foreach (var (name, point) in previous.Points)
        {
            if (!merged.TryGetValue(name, out var now) || !ReferenceEquals(now, point)) point.Release();
        }
    }

    /// <summary>Called by a watched file whose content changed; replaces the file's points.</summary>
    private static void ReplaceFromFile(WatchedFile file, IReadOnlyList<Entry> entries)
    {
        var points = ToPoints(entries);
        lock (_lock)
        {
            // A file that Configure replaced meanwhile no longer speaks for the process.
            if (!ReferenceEquals(file, _file)) return;

            // An entry the rewrite left as it was keeps its arming: its hang goes on and its count is not reset.
            foreach (var (name, point) in points)
            {
                if (_fromFile.TryGetValue(name, out var old) && old.Actions == point.Actions) points[name] = old;
            }

            _fromFile = points;
            Publish();
        }
    }

    private static Dictionary<string, Point> ToPoints(IReadOnlyList<Entry> entries)
    {
        // Repeated names chain their actions in the order written.
        var points = new Dictionary<string, Point>(StringComparer.Ordinal);
        foreach (var group in entries.GroupBy(e => e.Name, StringComparer.Ordinal))
        {
            points[group.Key] = new Point(group.Key, group.SelectMany(e => e.Steps).ToArray(), string.Join("->", group.Select(e => e.Actions)));
        }

        return points;
    }

    private sealed record Snapshot(IReadOnlyDictionary<string, Point> Points, WatchedFile? File);

    /// <summary>One arming of one name. Replaced, never changed, so a hang can tell that its arming ended.</summary>
    internal sealed class Point(string name, Step[] steps, string actions)
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _hit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name { get; } = name;

        public Step[] Steps { get; } = steps;

        /// <summary>The chain as written, to tell an unchanged entry from a re-armed one.</summary>
        public string Actions { get; } = actions;

        /// <summary>Completes when this arming is disarmed or replaced.</summary>
        public Task Released => _released.Task;

        public void Release() => _released.TrySetResult();

        /// <summary>Completes at this arming's first hit, before its action runs.</summary>
        public Task Hit => _hit.Task;

        public void MarkHit() => _hit.TrySetResult();
    }

    /// <summary>The specification file: re-read when its modification time or length changes.</summary>
    private sealed class WatchedFile(string path)
    {
        private readonly Lock _readLock = new();
        private long _nextCheck;
        private (bool Exists, long WriteTicks, long Length) _stamp = (false, 0, 0);

        public string Path { get; } = path;

        /// <summary>Reads the file if its stamp changed since the last read; null when unchanged.</summary>
        public IReadOnlyList<Entry>? ReadIfChanged()
        {
            lock (_readLock)
            {
                var info = new FileInfo(Path);
                var stamp = info.Exists ? (true, info.LastWriteTimeUtc.Ticks, info.Length) : (false, 0L, 0L);
                if (stamp == _stamp) return null;

                // Recorded before parsing, so a malformed file is reported once rather than on every hit.
                _stamp = stamp;
                if (!stamp.Item1) return [];
                string text;
                try
                {
                    text = File.ReadAllText(Path);
                }
                catch (FileNotFoundException)
                {
                    // Removed between the look and the read: as good as empty.
                    return [];
                }
                catch (IOException e)
                {
                    throw new FerryException(ErrorCodes.ConfigInvalidFailpoints, $"{FileVariable} {Path} could not be read: {e.Message}", innerException: e);
                }

                return Parse(text, $"{FileVariable} {Path}");
            }
        }

        /// <summary>Looks at the file if the check interval passed since the last look; cheap otherwise.</summary>
        public void RefreshIfDue()
        {
            var now = Environment.TickCount64;
            var next = Volatile.Read(ref _nextCheck);
            if (now < next) return;
            if (Interlocked.CompareExchange(ref _nextCheck, now + (long)FileCheckInterval.TotalMilliseconds, next) != next) return;
            var entries = ReadIfChanged();
            if (entries is not null) ReplaceFromFile(this, entries);
        }
    }
}

/// <summary>Disarms the point it armed on dispose (unless the name was armed again since).</summary>
internal sealed class FailpointScope : IDisposable
{
    internal FailpointScope(Failpoints.Point point) => Point = point;

    internal Failpoints.Point Point { get; }

    /// <summary>The failpoint's name.</summary>
    public string Name => Point.Name;

    /// <summary>Completes when code first reaches the point (before its action runs): a test waits for a hang to begin.</summary>
    public Task Reached => Point.Hit;

    public void Dispose() => Failpoints.Disarm(this);
}
