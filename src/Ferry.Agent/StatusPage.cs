using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Retention;
using Ferry.Tasks;

namespace Ferry.Agent;

/// <summary>
/// The agent's status page (<c>/</c>): the <see cref="AgentReport"/> that <c>/status</c> serves as JSON, for a
/// person. One self-contained HTML document: inline style, the lag chart as inline SVG drawn here, no script, and
/// nothing fetched from anywhere, so it works on an air-gapped host and behind any proxy. It reloads itself every
/// <see cref="RefreshSeconds"/> s. Every value from the report is HTML-encoded: error messages carry paths and
/// arbitrary text.
/// </summary>
public static class StatusPage
{
    /// <summary>How often the page reloads itself.</summary>
    public const int RefreshSeconds = 5;

    private const int ChartWidth = 320;
    private const int ChartHeight = 64;
    private const int ChartPad = 4;
    private static readonly TimeSpan MinChartSpan = TimeSpan.FromSeconds(30);

    private static readonly HtmlEncoder Html = HtmlEncoder.Default;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The page for <paramref name="report"/>, with ages and gaps measured at <paramref name="now"/>.</summary>
    public static string Render(AgentReport report, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(report);
        var lag = (report.Lag ?? []).ToDictionary(l => l.Task, l => l.Samples, StringComparer.Ordinal);
        var page = new StringBuilder(8192);
        var problems = report.Tasks.Count(t => t.OperatorState != TaskState.RUNNING);
        var title = report.Tasks.Count == 0 ? "no tasks"
            : problems == 0 ? $"{Count(report.Tasks.Count, "task")} running"
            : $"{problems} of {Count(report.Tasks.Count, "task")} not running";

        page.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append(CultureInfo.InvariantCulture, $"<meta http-equiv=\"refresh\" content=\"{RefreshSeconds}\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>Ferry · store ").Append(E(report.StoreId)).Append(" · ").Append(E(title)).Append("</title>\n")
            .Append("<style>").Append(Style).Append("</style>\n</head>\n<body>\n");

        AppendHeader(page, report, now);
        page.Append("<main>\n");
        AppendSummary(page, report.Tasks);
        if (report.Tasks.Count == 0)
        {
            page.Append("<p class=\"empty\">No task runs on this agent. Tasks are defined with <code>ferry task start</code>; ")
                .Append("the agent picks them up within a second.</p>\n");
        }

        // Worst first, so what needs a person is at the top; by name within a state.
        foreach (var task in report.Tasks.OrderByDescending(t => Severity(t.OperatorState)).ThenBy(t => t.Task, StringComparer.Ordinal))
        {
            AppendTask(page, task, lag.GetValueOrDefault(task.Task) ?? [], now);
        }
        page.Append("</main>\n<footer>Rendered ").Append(E(Time(now))).Append(" · reloads every ")
            .Append(E(RefreshSeconds)).Append(" s · the same report as JSON: <a href=\"status\">/status</a> · ")
            .Append("metrics: <a href=\"metrics\">/metrics</a></footer>\n</body>\n</html>\n");
        return page.ToString();
    }

    private static void AppendHeader(StringBuilder page, AgentReport report, DateTimeOffset now)
    {
        page.Append("<header>\n<h1>Ferry agent <span class=\"store\">store ").Append(E(report.StoreId)).Append("</span>")
            .Append(" <span class=\"agent-state\">").Append(E(report.State)).Append("</span></h1>\n<dl class=\"agent\">\n");
        Term(page, "Deploy generation", E(report.Generation));
        Term(page, "Epoch", E(report.Epoch));
        Term(page, "Version", E(report.Version ?? "unknown"));
        Term(page, "Uptime", report.StartedAt is { } started ? $"<span title=\"since {E(Time(started))}\">{E(Duration(now - started))}</span>" : "unknown");
        Term(page, "Metadata store", report.MetaLastReachedAt is { } reached
            ? $"reached {Ago(DateTimeOffset.FromUnixTimeMilliseconds(reached), now)}"
            : "not reached yet");
        page.Append("</dl>\n</header>\n");
    }

    private static void AppendSummary(StringBuilder page, IReadOnlyList<RunnerReport> tasks)
    {
        if (tasks.Count == 0) return;
        page.Append("<p class=\"summary\">");
        foreach (var group in tasks.GroupBy(t => t.OperatorState).OrderByDescending(g => Severity(g.Key)))
        {
            page.Append(Badge(group.Key)).Append(" <span class=\"count\">× ").Append(E(group.Count())).Append("</span> ");
        }

        page.Append("</p>\n");
    }

    private static void AppendTask(StringBuilder page, RunnerReport task, IReadOnlyList<LagSample> samples, DateTimeOffset now)
    {
        var span = ChartSpan(samples, now);
        var state = task.OperatorState;
        var gap = LagHistory.GapSeconds(task, now);
        page.Append("<section class=\"task ").Append(StateClass(state)).Append("\" data-task=\"").Append(E(task.Task))
            .Append("\" data-state=\"").Append(E(state.ToString())).Append("\">\n<div class=\"task-head\"><h2>")
            .Append(E(task.Task)).Append("</h2>").Append(Badge(state)).Append("</div>\n<div class=\"figures\">\n");

        page.Append("<div class=\"figure\"><div class=\"label\">Checkpoint gap</div><div class=\"value gap\">")
            .Append(gap is { } g ? E(Duration(TimeSpan.FromSeconds(g))) : "none yet").Append("</div><div class=\"sub\">")
            .Append(task.CheckpointAt is { } checkpoint ? $"everything committed before {E(Time(checkpoint))} is in storage" : "nothing shipped yet")
            .Append("</div></div>\n");
        page.Append("<div class=\"figure\"><div class=\"label\">Runner</div><div class=\"value runner\">").Append(E(task.State.ToString()))
            .Append("</div><div class=\"sub\">for ").Append(E(Duration(now - task.Since))).Append(" · store ").Append(E(task.StoreId))
            .Append("</div></div>\n");
        page.Append("<div class=\"figure chart\"><div class=\"label\">Checkpoint gap, last ").Append(E(Duration(span))).Append("</div>")
            .Append(Sparkline(samples, gap, now, span)).Append("</div>\n</div>\n");

        if (task.Pause is { } pause) AppendPause(page, task.Task, pause, now);
        AppendLastError(page, task, now);
        AppendDatabases(page, task, now);
        page.Append("</section>\n");
    }

    private static void AppendPause(StringBuilder page, string task, PauseValue pause, DateTimeOffset now)
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(pause.At);
        var byError = pause.Severity == PauseSeverity.Error;
        page.Append("<div class=\"pause\"><strong>").Append(byError ? "Paused by an error" : "Paused by an operator").Append("</strong> ")
            .Append(Ago(at, now)).Append(" by <code>").Append(E(pause.Operator)).Append("</code>");
        if (pause.ErrorCode is { } code) page.Append(" · <code class=\"code\">").Append(E(code)).Append("</code>");
        if (pause.Message.Length > 0) page.Append("<div class=\"message\">").Append(E(pause.Message)).Append("</div>");
        page.Append("<div class=\"action\">To resume: <code>ferry task resume ").Append(E(task)).Append(byError ? " --clear-error" : "")
            .Append("</code>").Append(byError ? " once the cause is fixed" : "").Append("</div></div>\n");
    }

    private static void AppendLastError(StringBuilder page, RunnerReport task, DateTimeOffset now)
    {
        // The runner's own error first (it paused the task); otherwise the latest of its streams'.
        var (error, at) = task.LastError is { } own
            ? (own, task.LastErrorAt)
            : task.Streams.Where(s => s.LastError is not null).OrderByDescending(s => s.LastErrorAt).Select(s => (s.LastError!, s.LastErrorAt)).FirstOrDefault();
        if (error is null) return;
        page.Append("<div class=\"error ").Append(ClassClass(error.Class)).Append("\"><div class=\"error-head\"><span class=\"label\">Last error</span> <code class=\"code\">")
            .Append(E(error.Code.Code)).Append("</code> <span class=\"class\">").Append(E(error.Class.ToString())).Append("</span> <span class=\"ago\">")
            .Append(at is { } when ? Ago(when, now) : "").Append("</span></div>\n<div class=\"message\">").Append(E(error.Message)).Append("</div>\n");
        var context = error.Context.ToString();
        page.Append("<div class=\"meta\">error id <code>").Append(E(error.ErrorId)).Append("</code>");
        if (context.Length > 0) page.Append(" · ").Append(E(context));
        page.Append("</div>\n<div class=\"hint\"><span class=\"label\">What to do</span> ").Append(E(error.Code.Hint)).Append("</div>\n");
        foreach (var suppressed in error.Suppressed)
        {
            page.Append("<div class=\"meta\">then: ").Append(E(suppressed is FerryException f ? f.ToOneLine() : suppressed.Message)).Append("</div>\n");
        }

        page.Append("</div>\n");
    }

    private static void AppendDatabases(StringBuilder page, RunnerReport task, DateTimeOffset now)
    {
        var streams = task.Streams.ToDictionary(s => s.Database, StringComparer.Ordinal);
        var published = task.Published?.Retention ?? new Dictionary<string, RetentionRecord>();
        // While paused no stream runs: the databases are the ones the store last published.
        var names = streams.Keys.Concat(task.Published?.Streams?.Keys ?? []).Concat(published.Keys)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            page.Append("<p class=\"none\">No database matches this task's patterns yet.</p>\n");
            return;
        }

        page.Append("<table class=\"databases\">\n<thead><tr><th>Database</th><th>Stream</th><th>Checkpoint gap</th>")
            .Append("<th>Restorable</th><th>Stored</th><th>Retention</th></tr></thead>\n<tbody>\n");
        foreach (var name in names)
        {
            var stream = streams.GetValueOrDefault(name);
            var retention = stream?.Retention is { LastPassAt: not null } live ? Retained.Of(live) : published.TryGetValue(name, out var record) ? Retained.Of(record) : null;
            page.Append("<tr><td class=\"path\">").Append(E(name)).Append("</td><td>");
            if (stream is null) page.Append("<span class=\"dim\">not running</span>");
            else
            {
                page.Append(E(stream.State.ToString()));
                if (stream.Attempt > 0 && stream.State is StreamState.Retrying or StreamState.Stalled) page.Append(" · attempt ").Append(E(stream.Attempt));
                if (stream.LastError is { } e) page.Append("<div class=\"cell-error\"><code>").Append(E(e.Code.Code)).Append("</code></div>");
            }

            page.Append("</td><td>").Append(stream?.CheckpointAt is { } at ? E(Duration(now - at)) : "<span class=\"dim\">–</span>").Append("</td>");
            if (retention is null)
            {
                page.Append("<td colspan=\"3\"><span class=\"dim\">no retention pass yet</span></td>");
            }
            else
            {
                page.Append("<td>").Append(retention.Oldest is { } oldest && retention.Newest is { } newest
                        ? $"{E(Time(oldest))} →<br>{E(Time(newest))}"
                        : "<span class=\"dim\">nothing yet</span>")
                    .Append("</td><td>").Append(E(Count(retention.Objects, "object"))).Append("<br>").Append(E(Bytes(retention.Bytes))).Append("</td><td>");
                page.Append(retention.LastPassAt is { } pass ? $"last pass {Ago(pass, now)}" : "no pass yet");
                if (retention.FailedPasses > 0)
                {
                    page.Append("<div class=\"cell-error\">").Append(E(Count(retention.FailedPasses, "failed pass", "failed passes"))).Append(" in a row");
                    if (retention.ErrorCode is { } code) page.Append(": <code>").Append(E(code)).Append("</code>");
                    if (retention.ErrorMessage is { } message) page.Append("<div class=\"message\">").Append(E(message)).Append("</div>");
                    page.Append("</div>");
                }

                page.Append("</td>");
            }

            page.Append("</tr>\n");
        }

        page.Append("</tbody>\n</table>\n");
    }

    /// <summary>
    /// The gap over the last <paramref name="window"/> as an inline SVG: a line (and the area under it) from the samples, ending at the gap
    /// now, on a time axis that ends now; scaled to its peak (at least 1 s, so an idle task draws a flat line).
    /// </summary>
    internal static string Sparkline(IReadOnlyList<LagSample> samples, double? current, DateTimeOffset now, TimeSpan window)
    {
        var since = now - window;
        var points = samples.Where(s => s.LagSeconds is not null && s.At >= since && s.At <= now).Select(s => (s.At, Lag: s.LagSeconds!.Value)).ToList();
        if (current is { } c) points.Add((now, c));
        var peak = points.Count == 0 ? 0 : points.Max(p => p.Lag);
        var scale = Math.Max(peak, 1);
        string X(DateTimeOffset at) => F(ChartPad + ((ChartWidth - (2 * ChartPad)) * (1 - ((now - at) / window))));
        string Y(double lag) => F(ChartHeight - ChartPad - ((ChartHeight - (2 * ChartPad)) * (lag / scale)));
        var label = points.Count == 0 ? "no samples yet" : $"peak {Duration(TimeSpan.FromSeconds(peak))}, now {(current is { } gap ? Duration(TimeSpan.FromSeconds(gap)) : "unknown")}";
        var svg = new StringBuilder(256 + (points.Count * 16));
        svg.Append(CultureInfo.InvariantCulture, $"<svg class=\"spark\" viewBox=\"0 0 {ChartWidth} {ChartHeight}\" width=\"{ChartWidth}\" height=\"{ChartHeight}\" role=\"img\" aria-label=\"{E(label)}\">")
            .Append("<title>").Append(E(label)).Append("</title>")
            .Append(CultureInfo.InvariantCulture, $"<line class=\"axis\" x1=\"{ChartPad}\" y1=\"{ChartHeight - ChartPad}\" x2=\"{ChartWidth - ChartPad}\" y2=\"{ChartHeight - ChartPad}\"/>");
        if (points.Count > 0)
        {
            var line = string.Join(' ', points.Select(p => $"{X(p.At)},{Y(p.Lag)}"));
            svg.Append("<polygon class=\"area\" points=\"").Append(X(points[0].At)).Append(',').Append(F(ChartHeight - ChartPad)).Append(' ').Append(line)
                .Append(' ').Append(X(points[^1].At)).Append(',').Append(F(ChartHeight - ChartPad)).Append("\"/>")
                .Append("<polyline class=\"line\" points=\"").Append(line).Append("\"/>")
                .Append("<circle class=\"now\" cx=\"").Append(X(points[^1].At)).Append("\" cy=\"").Append(Y(points[^1].Lag)).Append("\" r=\"3\"/>");
        }

        svg.Append("</svg><div class=\"sub\">").Append(E(label)).Append("</div>");
        return svg.ToString();
    }

    /// <summary>
    /// What the chart spans: back to the oldest sample (the history keeps the last minutes only), at least
    /// <see cref="MinChartSpan"/>, so a young agent's few samples fill the chart rather than a sliver of it.
    /// </summary>
    internal static TimeSpan ChartSpan(IReadOnlyList<LagSample> samples, DateTimeOffset now)
    {
        var oldest = samples.Where(s => s.LagSeconds is not null && s.At <= now).Select(s => (DateTimeOffset?)s.At).Min();
        return oldest is { } at && now - at > MinChartSpan ? now - at : MinChartSpan;
    }

    private static void Term(StringBuilder page, string term, string html) =>
        page.Append("<div><dt>").Append(E(term)).Append("</dt><dd>").Append(html).Append("</dd></div>\n");

    private static string Badge(TaskState state) => $"<span class=\"badge {StateClass(state)}\">{E(state.ToString())}</span>";

    private static string StateClass(TaskState state) => state switch
    {
        TaskState.RUNNING => "ok",
        TaskState.RETRYING or TaskState.STALLED or TaskState.DEGRADED => "warn",
        TaskState.PAUSED => "paused",
        TaskState.OFFLINE => "offline",
        _ => "bad",
    };

    private static int Severity(TaskState state) => state switch
    {
        TaskState.PAUSED_DUE_TO_ERROR => 5,
        TaskState.OFFLINE => 4,
        TaskState.STALLED or TaskState.RETRYING or TaskState.DEGRADED => 3,
        TaskState.PAUSED => 2,
        _ => 1,
    };

    private static string ClassClass(ErrorClass errorClass) => errorClass == ErrorClass.Transient ? "transient" : "lasting";

    private static string Ago(DateTimeOffset at, DateTimeOffset now) =>
        $"<span class=\"ago\" title=\"{E(Time(at))}\">{E(at >= now ? "just now" : Duration(now - at) + " ago")}</span>";

    /// <summary>A span for people: "0.4 s", "12 s", "3 min 12 s", "2 h 5 min", "3 d 4 h".</summary>
    internal static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero) span = TimeSpan.Zero;
        if (span < TimeSpan.FromSeconds(10)) return string.Create(Invariant, $"{span.TotalSeconds:0.0} s");
        if (span < TimeSpan.FromMinutes(1)) return string.Create(Invariant, $"{(int)span.TotalSeconds} s");
        if (span < TimeSpan.FromHours(1)) return span.Seconds == 0 ? string.Create(Invariant, $"{(int)span.TotalMinutes} min") : string.Create(Invariant, $"{(int)span.TotalMinutes} min {span.Seconds} s");
        if (span < TimeSpan.FromDays(1)) return string.Create(Invariant, $"{(int)span.TotalHours} h {span.Minutes} min");
        return string.Create(Invariant, $"{(int)span.TotalDays} d {span.Hours} h");
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", Invariant);

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => string.Create(Invariant, $"{bytes} B"),
        < 1024 * 1024 => string.Create(Invariant, $"{bytes / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(Invariant, $"{bytes / (1024.0 * 1024):0.#} MiB"),
        _ => string.Create(Invariant, $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB"),
    };

    private static string Count(int n, string one, string? many = null) => string.Create(Invariant, $"{n} {(n == 1 ? one : many ?? one + "s")}");

    private static string F(double value) => value.ToString("0.#", Invariant);

    private static string E(string value) => Html.Encode(value);

    private static string E(long value) => value.ToString(Invariant);

    /// <summary>A database's retention, from the live stream or from what the store last published.</summary>
    private sealed record Retained(DateTimeOffset? Oldest, DateTimeOffset? Newest, int Objects, long Bytes, DateTimeOffset? LastPassAt, int FailedPasses, string? ErrorCode, string? ErrorMessage)
    {
        public static Retained Of(RetentionStatus s) =>
            new(s.OldestRestorable, s.NewestRestorable, s.Objects, s.Bytes, s.LastPassAt, s.FailedPasses, s.LastError?.Code.Code, s.LastError?.Message);

        public static Retained Of(RetentionRecord r) => new(
            Ms(r.OldestRestorable), Ms(r.NewestRestorable), r.Objects, r.Bytes, Ms(r.LastPassAt), r.FailedPasses, r.ErrorCode, r.ErrorMessage);

        private static DateTimeOffset? Ms(long? unixMs) => unixMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    private const string Style = """
        :root{--fg:#1f2328;--dim:#656d76;--line:#d0d7de;--bg:#f6f8fa;--card:#fff;--ok:#1a7f37;--ok-bg:#dafbe1;--warn:#9a6700;--warn-bg:#fff8c5;--bad:#cf222e;--bad-bg:#ffebe9;--paused:#57606a;--paused-bg:#eaeef2}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
        header{background:#24292f;color:#fff;padding:14px 24px}
        h1{margin:0 0 8px;font-size:20px;font-weight:600}
        h1 .store{color:#8c959f;font-weight:400}
        h1 .agent-state{font-size:12px;font-weight:500;padding:2px 8px;border-radius:10px;background:#3d444d;vertical-align:middle}
        dl.agent{display:flex;flex-wrap:wrap;gap:4px 28px;margin:0}
        dl.agent dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#8c959f}
        dl.agent dd{margin:0;font-variant-numeric:tabular-nums}
        main{padding:16px 24px;max-width:1200px}
        .summary{margin:0 0 12px}.summary .count{color:var(--dim);margin-right:10px}
        .empty,.none{color:var(--dim)}
        .task{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--ok);border-radius:6px;padding:14px 18px;margin:0 0 16px}
        .task.warn{border-left-color:var(--warn)}.task.bad{border-left-color:var(--bad)}.task.paused,.task.offline{border-left-color:var(--paused)}
        .task-head{display:flex;align-items:center;gap:12px;margin-bottom:10px}
        h2{margin:0;font-size:17px;font-weight:600}
        .badge{display:inline-block;font-size:12px;font-weight:600;padding:2px 9px;border-radius:10px;letter-spacing:.02em}
        .badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.warn{color:var(--warn);background:var(--warn-bg)}
        .badge.bad{color:var(--bad);background:var(--bad-bg)}.badge.paused,.badge.offline{color:var(--paused);background:var(--paused-bg)}
        .figures{display:flex;flex-wrap:wrap;gap:12px 36px;align-items:flex-start}
        .label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
        .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
        .sub{font-size:12px;color:var(--dim)}
        svg.spark{display:block;background:var(--bg);border:1px solid var(--line);border-radius:4px;margin:2px 0}
        svg.spark .axis{stroke:var(--line);stroke-width:1}
        svg.spark .area{fill:#0969da;fill-opacity:.12;stroke:none}
        svg.spark .line{fill:none;stroke:#0969da;stroke-width:1.6;stroke-linejoin:round}
        svg.spark .now{fill:#0969da}
        .task.bad svg.spark .area{fill:var(--bad)}.task.bad svg.spark .line{stroke:var(--bad)}.task.bad svg.spark .now{fill:var(--bad)}
        .pause{margin-top:12px;padding:8px 12px;background:var(--paused-bg);border-radius:4px}
        .error{margin-top:10px;padding:8px 12px;border-radius:4px;background:var(--bad-bg);border:1px solid #ffcecb}
        .error.transient{background:var(--warn-bg);border-color:#eac54f}
        .error .class{font-size:12px;color:var(--dim)}
        .message{margin:4px 0;white-space:pre-wrap;word-break:break-word}
        .meta{font-size:12px;color:var(--dim);word-break:break-word}
        .hint{margin-top:6px;padding-top:6px;border-top:1px dashed #ffcecb}
        .action{margin-top:4px;font-size:13px}
        .ago{color:var(--dim)}
        code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
        code.code{font-weight:600;color:var(--bad)}
        table.databases{border-collapse:collapse;width:100%;margin-top:12px;font-size:13px}
        table.databases th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim);font-weight:500;border-bottom:1px solid var(--line);padding:4px 8px}
        table.databases td{border-bottom:1px solid #eaeef2;padding:6px 8px;vertical-align:top;font-variant-numeric:tabular-nums}
        td.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all;max-width:360px}
        .cell-error{color:var(--bad);font-size:12px}
        .dim{color:var(--dim)}
        footer{padding:8px 24px 24px;color:var(--dim);font-size:12px}
        footer a{color:#0969da}
        """;
}
