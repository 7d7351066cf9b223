using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using Ferry.Agent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Retention;
using Ferry.Tasks;

namespace Ferry.Tests.Agent;

/// <summary>The status page's rendering, read back as a browser's DOM would be.</summary>
public sealed class StatusPageTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 14, 30, 0, TimeSpan.Zero);

    private static AgentReport Agent(IReadOnlyList<RunnerReport> tasks, IReadOnlyList<TaskLag>? lag = null) =>
        new(42, 3, 5, "running", tasks, Now.AddSeconds(-1).ToUnixTimeMilliseconds(), "1.2.3", Now.AddMinutes(-3), lag);

    private static IDocument Parse(string html) => new HtmlParser().ParseDocument(html);

    private static IElement TaskSection(IDocument page, string task) =>
        page.QuerySelectorAll("section.task").Single(s => s.GetAttribute("data-task") == task);

    [Fact]
    public void Render_ErrorMessageWithMarkup_IsShownAsTextNeverAsMarkup()
    {
        const string message = "cannot write /srv/backup/<script>alert('x')</script> & \"more\" <img src=x onerror=alert(1)>";
        var error = new FerryException(ErrorCodes.StoragePermissionDenied, message, new ErrorContext(Task: "t<b>", Database: "/db/<i>a</i>.db"));
        var task = new RunnerReport("t<b>", 42, RunnerState.PermanentError, Now.AddSeconds(-30), [], error, null, Now.AddSeconds(-12));

        var html = StatusPage.Render(Agent([task]), Now);
        var page = Parse(html);

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(page.QuerySelectorAll("script, img, b, i"));
        var section = TaskSection(page, "t<b>");
        Assert.Equal("t<b>", section.QuerySelector("h2")!.TextContent);
        Assert.Equal(message, section.QuerySelector(".error .message")!.TextContent);
        Assert.Contains("/db/<i>a</i>.db", section.QuerySelector(".error .meta")!.TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_EmptyAgent_SaysSoAndShowsTheAgentItself()
    {
        var page = Parse(StatusPage.Render(Agent([]), Now));

        Assert.Empty(page.QuerySelectorAll("section.task"));
        Assert.Contains("No task runs on this agent", page.QuerySelector(".empty")!.TextContent, StringComparison.Ordinal);
        var facts = page.QuerySelectorAll("dl.agent > div").ToDictionary(d => d.QuerySelector("dt")!.TextContent, d => d.QuerySelector("dd")!.TextContent);
        Assert.Equal("3", facts["Deploy generation"]);
        Assert.Equal("1.2.3", facts["Version"]);
        Assert.Equal("3 min", facts["Uptime"]);
        Assert.Equal("reached 1.0 s ago", facts["Metadata store"]);
        Assert.Contains("store 42", page.QuerySelector("h1")!.TextContent, StringComparison.Ordinal);
        Assert.Equal("5", page.QuerySelector("meta[http-equiv=refresh]")!.GetAttribute("content"));
    }

    [Fact]
    public void Render_SeveralTasks_EachWithItsStateGapErrorAndChart()
    {
        var full = new FerryException(ErrorCodes.StorageQuotaExceeded, "no space left on /mnt/backup", new ErrorContext(Task: "paused"));
        var paused = new RunnerReport(
            "paused", 42, RunnerState.Paused, Now.AddMinutes(-2), [], full,
            new PauseValue(PauseSeverity.Error, Now.AddSeconds(-75).ToUnixTimeMilliseconds(), "host:12", "storage full", full.Code.Code),
            LastErrorAt: Now.AddSeconds(-75),
            CheckpointAt: Now.AddSeconds(-80),
            Published: new Checkpoint(
                Now.AddSeconds(-80).ToUnixTimeMilliseconds(),
                new Dictionary<string, string> { ["/data/p.db"] = "pos" },
                Retention: new Dictionary<string, RetentionRecord>
                {
                    ["/data/p.db"] = new(Now.AddHours(-1).ToUnixTimeMilliseconds(), Now.AddSeconds(-80).ToUnixTimeMilliseconds(), 12, 3 * 1024 * 1024, Now.AddSeconds(-90).ToUnixTimeMilliseconds()),
                }));
        var shipping = new StreamReport("/data/r.db", StreamState.Shipping, 0, null, null, Now.AddSeconds(-1.5), "pos", 100);
        var running = new RunnerReport("running", 42, RunnerState.Working, Now.AddMinutes(-3), [shipping], null, CheckpointAt: Now.AddSeconds(-1.5));
        var gone = new FerryException(ErrorCodes.DatabaseNotFound, "/data/gone.db is gone", new ErrorContext(Database: "/data/gone.db"));
        var quarantined = new StreamReport("/data/gone.db", StreamState.Quarantined, 0, null, gone, null, null, 0, LastErrorAt: Now.AddSeconds(-20));
        var degraded = new RunnerReport("degraded", 42, RunnerState.Working, Now.AddMinutes(-3), [quarantined, shipping with { Database = "/data/d.db" }], null, CheckpointAt: Now.AddSeconds(-1.5));
        var samples = Enumerable.Range(1, 10).Select(i => new LagSample(Now.AddSeconds(-5 * (11 - i)), 30 + (5 * i))).ToList();

        var page = Parse(StatusPage.Render(Agent([degraded, paused, running], [new TaskLag("paused", samples)]), Now));

        var p = TaskSection(page, "paused");
        Assert.Equal("PAUSED_DUE_TO_ERROR", p.QuerySelector(".badge")!.TextContent);
        Assert.Equal("1 min 20 s", p.QuerySelector(".value.gap")!.TextContent);
        Assert.Equal(full.Code.Code, p.QuerySelector(".error .code")!.TextContent);
        Assert.Equal("1 min 15 s ago", p.QuerySelector(".error .ago")!.TextContent);
        Assert.Contains(ErrorCodes.StorageQuotaExceeded.Hint, p.QuerySelector(".error .hint")!.TextContent, StringComparison.Ordinal);
        Assert.Contains("ferry task resume paused --clear-error", p.QuerySelector(".pause")!.TextContent, StringComparison.Ordinal);
        // Its database shows while no stream runs, with the retention the store last published.
        var row = Assert.Single(p.QuerySelectorAll("table.databases tbody tr"));
        Assert.Equal("/data/p.db", row.QuerySelector("td.path")!.TextContent);
        Assert.Contains("12 objects", row.TextContent, StringComparison.Ordinal);
        Assert.Contains("3 MiB", row.TextContent, StringComparison.Ordinal);
        // Ten samples and the gap now, over the time they span.
        Assert.Equal("Checkpoint gap, last 50 s", p.QuerySelector(".chart .label")!.TextContent);
        Assert.Equal(11, p.QuerySelector("svg.spark polyline")!.GetAttribute("points")!.Split(' ').Length);

        var r = TaskSection(page, "running");
        Assert.Equal("RUNNING", r.QuerySelector(".badge")!.TextContent);
        Assert.Equal("1.5 s", r.QuerySelector(".value.gap")!.TextContent);
        Assert.Null(r.QuerySelector(".error"));
        Assert.Equal("Shipping", r.QuerySelector("table.databases tbody td:nth-child(2)")!.TextContent);
        // No history yet: the chart holds the gap now alone, over the shortest span.
        Assert.Equal("Checkpoint gap, last 30 s", r.QuerySelector(".chart .label")!.TextContent);
        Assert.Single(r.QuerySelector("svg.spark polyline")!.GetAttribute("points")!.Split(' '));

        var d = TaskSection(page, "degraded");
        Assert.Equal("DEGRADED", d.QuerySelector(".badge")!.TextContent);
        Assert.Equal(ErrorCodes.DatabaseNotFound.Code, d.QuerySelector(".error .code")!.TextContent);
        Assert.Equal("20 s ago", d.QuerySelector(".error .ago")!.TextContent);
        Assert.Equal(2, d.QuerySelectorAll("table.databases tbody tr").Length);

        // Tasks and the summary worst first.
        Assert.Equal(["paused", "degraded", "running"], page.QuerySelectorAll("section.task").Select(s => s.GetAttribute("data-task")));
        Assert.Equal(["PAUSED_DUE_TO_ERROR", "DEGRADED", "RUNNING"], page.QuerySelectorAll(".summary .badge").Select(b => b.TextContent));
        Assert.Contains("2 of 3 tasks not running", page.Title, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ReferencesNothingOutsideThePage()
    {
        var task = new RunnerReport("t", 42, RunnerState.Working, Now, [], null, CheckpointAt: Now);
        var html = StatusPage.Render(Agent([task], [new TaskLag("t", [new LagSample(Now.AddSeconds(-5), 1)])]), Now);
        var page = Parse(html);

        Assert.Empty(page.QuerySelectorAll("script, link, img, iframe, object, embed, [src]"));
        Assert.All(page.QuerySelectorAll("[href]"), a => Assert.DoesNotContain(":", a.GetAttribute("href"), StringComparison.Ordinal));
        Assert.DoesNotContain("http://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("url(", html, StringComparison.Ordinal);
        Assert.DoesNotContain("@import", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Sparkline_TimeRunsLeftToRight_AndThePeakTouchesTheTop()
    {
        var samples = new[] { new LagSample(Now.AddMinutes(-10), 0), new LagSample(Now.AddMinutes(-5), 20) };

        var svg = Parse($"<body>{StatusPage.Sparkline(samples, 10, Now, TimeSpan.FromMinutes(10))}</body>");

        var points = svg.QuerySelector("polyline")!.GetAttribute("points")!.Split(' ').Select(p => p.Split(',').Select(double.Parse).ToArray()).ToList();
        Assert.Equal([4.0, 160, 316], points.Select(p => p[0]));
        Assert.Equal([60.0, 4, 32], points.Select(p => p[1]));
        Assert.Contains("peak 20 s", svg.QuerySelector("title")!.TextContent, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.42, "0.4 s")]
    [InlineData(12.7, "12 s")]
    [InlineData(192, "3 min 12 s")]
    [InlineData(7500, "2 h 5 min")]
    [InlineData(273600, "3 d 4 h")]
    [InlineData(-5, "0.0 s")]
    public void Duration_ReadsAsAPersonWouldSayIt(double seconds, string expected) =>
        Assert.Equal(expected, StatusPage.Duration(TimeSpan.FromSeconds(seconds)));
}
