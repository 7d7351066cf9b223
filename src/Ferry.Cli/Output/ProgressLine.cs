using Ferry.Coordination;
using Ferry.Tasks;

namespace Ferry.Cli;

/// <summary>
/// A one-line progress display for long-running commands, rewritten in place on a terminal; nothing when output
/// is redirected (logs and the start/stop lines say what happened there).
/// </summary>
internal static class ProgressLine
{
    /// <summary>Shows <paramref name="report"/> (null while the task is not running yet) every second until <paramref name="until"/> ends.</summary>
    public static async Task FollowAsync(Func<RunnerReport?> report, TextWriter output, Task until)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(until);
        if (!ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected) return;
        while (!until.IsCompleted)
        {
            await Task.WhenAny(until, Task.Delay(TimeSpan.FromSeconds(1)));
            if (report() is not { } now) continue;
            var oldest = now.Streams.Where(s => s.CheckpointAt is not null).Select(s => s.CheckpointAt!.Value).DefaultIfEmpty().Min();
            var lag = oldest == default ? "-" : Durations.Humanize(DateTimeOffset.UtcNow - oldest);
            var bytes = now.Streams.Sum(s => s.ReplicatedBytes);
            var trouble = now.Streams.Count(s => s.State is not (StreamState.Shipping or StreamState.Starting));
            await output.WriteAsync($"\r{now.OperatorState,-12} {now.Streams.Count} db  {bytes / 1024.0 / 1024.0:0.0} MiB shipped  lag {lag}  {(trouble > 0 ? $"{trouble} in trouble" : "")}   ");
        }

        await output.WriteLineAsync();
    }
}
