using System.Diagnostics;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Xunit;

namespace Ferry.TestKit.Cli;

/// <summary>The checkpoint a running <c>ferry replicate</c> publishes in the embedded store of its home directory.</summary>
public static class ReplicateCheckpoint
{
    /// <summary>
    /// Waits until the checkpoint says every transaction committed up to now is durable in storage, and returns it.
    /// Fails when <paramref name="replicate"/> exits (with its standard error and <paramref name="context"/>) or after
    /// <paramref name="deadline"/> (default 60 s).
    /// </summary>
    public static async Task<DateTimeOffset> WaitDurableAsync(string home, Process replicate, TimeSpan? deadline = null, Func<string>? context = null)
    {
        ArgumentNullException.ThrowIfNull(replicate);
        var target = DateTimeOffset.UtcNow;
        await using var meta = await SqliteMetaStore.OpenAsync(Path.Combine(home, "meta.db"));
        var control = new TaskControl(meta, new MetaKeys(), TimeProvider.System);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (replicate.HasExited) Assert.Fail($"ferry replicate exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}{context?.Invoke()}");
            var status = (await control.StatusAsync()).SingleOrDefault();
            if (status?.GlobalCheckpoint is { } checkpoint && checkpoint >= target.ToUnixTimeMilliseconds()) return DateTimeOffset.FromUnixTimeMilliseconds(checkpoint);
            if (watch.Elapsed > (deadline ?? TimeSpan.FromSeconds(60))) Assert.Fail($"checkpoint never reached {target:O}{context?.Invoke()}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Like <see cref="WaitDurableAsync"/> for a process that runs <paramref name="tasks"/> tasks (<c>--config</c>):
    /// waits until every one of them has a checkpoint saying all committed up to now is durable.
    /// </summary>
    public static async Task WaitAllDurableAsync(string home, Process replicate, int tasks, TimeSpan? deadline = null, Func<string>? context = null)
    {
        ArgumentNullException.ThrowIfNull(replicate);
        var target = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var meta = await SqliteMetaStore.OpenAsync(Path.Combine(home, "meta.db"));
        var control = new TaskControl(meta, new MetaKeys(), TimeProvider.System);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (replicate.HasExited) Assert.Fail($"ferry exited {replicate.ExitCode}: {await replicate.StandardError.ReadToEndAsync()}{context?.Invoke()}");
            var status = await control.StatusAsync();
            if (status.Count == tasks && status.All(s => s.GlobalCheckpoint >= target)) return;
            if (watch.Elapsed > (deadline ?? TimeSpan.FromSeconds(60)))
            {
                Assert.Fail($"not every one of {tasks} tasks reached {target}: {string.Join(", ", status.Select(s => $"{s.Name}={s.GlobalCheckpoint}"))}{context?.Invoke()}");
            }

            await Task.Delay(50);
        }
    }
}
