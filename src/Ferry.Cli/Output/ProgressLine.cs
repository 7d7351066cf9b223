using Ferry.Coordination;
using Ferry.Tasks;

namespace Ferry.Cli;

/// <summary>
/// A one-line progress display for long-running commands, rewritten in place on a terminal; nothing when output
/// is redirected (logs and the start/stop lines say what happened there).
/// </summary>
public static class ProgressLine
{
    public static async Task FollowAsync(TaskRunner runner, TextWriter output, Task until)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(until);
        if (!ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected) return;
        while (!until.IsCompleted)
        {
            await Task.WhenAny(until, Task.Delay(TimeSpan.FromSeconds(1)));
            var report = runner.Report();
            var oldest = report.Streams.Where(s => s.CheckpointAt is not null).Select(s => s.CheckpointAt!.Value).DefaultIfEmpty().Min();
            var lag = oldest == default ? "-" : Durations.Humanize(DateTimeOffset.UtcNow - oldest);
            var bytes = report.Streams.Sum(s => s.ReplicatedBytes);
            var trouble = report.Streams.Count(s => s.State is not (StreamState.Shipping or StreamState.Starting));
            await output.WriteAsync($"\r{report.State,-12} {report.Streams.Count} db  {bytes / 1024.0 / 1024.0:0.0} MiB shipped  lag {lag}  {(trouble > 0 ? $"{trouble} in trouble" : "")}   ");
        }

        await output.WriteLineAsync();
    }
}
