using Ferry.Coordination;
using Ferry.Tasks;
using Spectre.Console;

namespace Ferry.Cli;

/// <summary>The human form of <c>ferry task status</c> and of a refused resume.</summary>
internal static class TaskStatusView
{
    public static void Write(IAnsiConsole console, IReadOnlyList<TaskStatusReport> reports, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(reports);
        if (reports.Count == 0)
        {
            console.WriteLine("no tasks; create one with `ferry task start NAME --db PATH --to STORAGE`");
            return;
        }

        foreach (var report in reports)
        {
            console.MarkupLine($"[bold]{Markup.Escape(report.Name)}[/]  {StatusMarkup(report.Status)}  global checkpoint: {Markup.Escape(When(report.GlobalCheckpoint, now))}");
            console.WriteLine($"  {string.Join(", ", report.Definition.Databases)} -> {report.Definition.Storage}");
            if (report.Pause is { } pause)
            {
                var what = pause.Severity == PauseSeverity.Manual ? "paused" : "paused due to error";
                var code = pause.ErrorCode is null ? "" : $" [{pause.ErrorCode}]";
                console.WriteLine($"  {what} by {pause.Operator} at {When(pause.At, now)}: {pause.Message}{code}");
            }

            if (report.Stores.Count == 0)
            {
                console.WriteLine("  no store has reported for this task yet");
            }
            else
            {
                var table = new Table().AddColumns("store", "state", "checkpoint", "last error");
                foreach (var store in report.Stores)
                {
                    table.AddRow(
                        store.StoreId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        Markup.Escape(StateText(store)),
                        Markup.Escape(When(store.Checkpoint, now)),
                        Markup.Escape(store.LastError is { } e ? ErrorText(e, now) : "-"));
                }

                console.Write(table);
                foreach (var store in report.Stores)
                {
                    foreach (var (database, retention) in store.CheckpointRecord?.Retention ?? new Dictionary<string, RetentionRecord>())
                    {
                        console.WriteLine($"  store {store.StoreId}: {database}: {RetentionText(retention, report.Definition.Options, now)}");
                    }
                }
            }

            if (report.Status == TaskState.PAUSED_DUE_TO_ERROR)
            {
                console.WriteLine($"  fix the cause, then: ferry task resume {report.Name} --clear-error");
            }

            console.WriteLine();
        }
    }

    public static async Task WriteRefusalAsync(TextWriter error, string task, ResumeResult result, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(result);
        await error.WriteLineAsync($"ferry: FERRY:Task:PausedDueToError: task '{task}' was paused by an error; resume refused");
        if (result.Pause is { } pause)
        {
            await error.WriteLineAsync($"  paused at {When(pause.At, now)} by {pause.Operator}: {pause.Message}");
        }

        foreach (var e in result.Errors)
        {
            await error.WriteLineAsync($"  store {e.StoreId}: {ErrorText(e, now)}");
        }

        await error.WriteLineAsync($"Fix the cause, then run: ferry task resume {task} --clear-error");
    }

    private static string ErrorText(LastError e, DateTimeOffset now)
    {
        var count = e.Count > 1 ? $" (x{e.Count})" : "";
        var id = e.ErrorId is null ? "" : $" error id {e.ErrorId}";
        var hint = TaskControl.HintFor(e.ErrorCode) is { } h ? $"\n  hint: {h}" : "";
        return $"{e.ErrorCode}: {e.ErrorMessage}{count} at {When(e.HappenAt, now)}{id}{hint}";
    }

    private static string RetentionText(RetentionRecord record, TaskOptions options, DateTimeOffset now)
    {
        var window = record.OldestRestorable is { } oldest
            ? $"restorable from {When(oldest, now)} to {When(record.NewestRestorable, now)}"
            : "nothing restorable yet";
        var text = $"{window}; {record.Objects} objects, {record.Bytes / 1048576.0:0.#} MiB (retention {Durations.Humanize(options.Retention)}, last pass {When(record.LastPassAt, now)})";
        if (record.FailedPasses > 0) text += $"\n    retention failing: {record.FailedPasses} passes in a row, last {record.ErrorCode}: {record.ErrorMessage}";
        return text;
    }

    private static string StateText(StoreStatusReport store)
    {
        var record = store.CheckpointRecord;
        return store.State switch
        {
            TaskState.RETRYING when record?.Attempt is { } attempt =>
                $"RETRYING (attempt {attempt}{(record.NextAttemptAt is { } next ? $", next at {DateTimeOffset.FromUnixTimeMilliseconds(next):HH:mm:ss}" : "")})",
            _ when record?.Detail is { } detail && store.State != TaskState.RUNNING => $"{store.State} ({detail})",
            _ => store.State.ToString(),
        };
    }

    private static string StatusMarkup(TaskState state) => state switch
    {
        TaskState.RUNNING => "[green]RUNNING[/]",
        TaskState.PAUSED => "[yellow]PAUSED[/]",
        _ => "[red]PAUSED_DUE_TO_ERROR[/]",
    };

    /// <summary>"2026-11-23 14:02:03Z (3m ago)" for a unix-ms time; "-" when there is none.</summary>
    private static string When(long? unixMs, DateTimeOffset now)
    {
        if (unixMs is not { } ms) return "-";
        var at = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        var gap = now - at;
        var relative = gap >= TimeSpan.Zero ? $"{Durations.Humanize(gap)} ago" : $"in {Durations.Humanize(-gap)}";
        return $"{at:yyyy-MM-dd HH:mm:ss}Z ({relative})";
    }
}
