using Ferry.Coordination;
using Ferry.Tasks;

namespace Ferry.Cli;

/// <summary>
/// A one-line progress display for long-running commands, rewritten in place on a terminal; nothing when output
/// is redirected (logs and the start/stop lines say what happened there).
/// </summary>
internal static class ProgressLine
{
    /// <summary>Shows the tasks' <paramref name="reports"/> (none while they are not running yet) every second until <paramref name="until"/> ends.</summary>
    public static async Task FollowAsync(Func<IReadOnlyList<RunnerReport>> reports, TextWriter output, Task until)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(until);
        if (!ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected) return;
        while (!until.IsCompleted)
        {
            await Task.WhenAny(until, Task.Delay(TimeSpan.FromSeconds(1)));
            var now = reports();
            if (now.Count == 0) continue;
            var streams = now.SelectMany(r => r.Streams).ToList();
            var oldest = streams.Where(s => s.CheckpointAt is not null).Select(s => s.CheckpointAt!.Value).DefaultIfEmpty().Min();
            var lag = oldest == default ? "-" : Durations.Humanize(DateTimeOffset.UtcNow - oldest);
            var bytes = streams.Sum(s => s.ReplicatedBytes);
            var trouble = streams.Count(s => s.State is not (StreamState.Shipping or StreamState.Starting));
            // One task shows its state; several show the first that is not running, so trouble is not averaged away.
            var state = now.Select(r => r.OperatorState).FirstOrDefault(s => s != TaskState.RUNNING, TaskState.RUNNING);
            await output.WriteAsync($"\r{state,-12} {streams.Count} db  {bytes / 1024.0 / 1024.0:0.0} MiB shipped  lag {lag}  {(trouble > 0 ? $"{trouble} in trouble" : "")}   ");
        }

        await output.WriteLineAsync();
    }
}
