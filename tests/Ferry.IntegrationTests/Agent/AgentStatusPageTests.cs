using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using Ferry.Errors;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Browser;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Agent;

/// <summary>
/// The agent's status page (<c>/</c>) as a person sees it in a real browser (headless chromium), while a real agent
/// on a real etcd has one task paused by a real fault (its storage made immutable with <c>chattr +i</c>) and another
/// shipping. With <c>FERRY_STATUS_SCREENSHOT=PATH</c> (relative to the repository) it also writes a PNG of the page,
/// which is how docs/status-page.png is made. Needs root (chattr) and chromium.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed partial class AgentStatusPageTests(EtcdServer etcd, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan PauseDeadline = TimeSpan.FromSeconds(10);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private readonly TempDirectory _dir = new("status-page");
    private readonly string _paused = $"orders-{Guid.NewGuid():N}"[..13];
    private readonly string _running = $"metrics-{Guid.NewGuid():N}"[..14];
    private readonly long _storeId = Random.Shared.NextInt64(1000, 1_000_000);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Harness.RemoveTasksAsync(_paused, _running);
        _dir.Dispose();
    }

    private AgentHarness Harness => new(etcd.MetaUrl, _dir.Path, _storeId);

    [Fact]
    public async Task StatusPage_TaskPausedByImmutableStorage_ShowsStateErrorHintAgeAndChart_SelfContained_AgreesWithStatus()
    {
        var h = Harness;
        var watch = Stopwatch.StartNew();
        var screenshot = Environment.GetEnvironmentVariable("FERRY_STATUS_SCREENSHOT");
        Directory.CreateDirectory(_dir.File("orders"));
        Directory.CreateDirectory(_dir.File("metrics"));
        Directory.CreateDirectory(_dir.File("backup-orders"));
        Directory.CreateDirectory(_dir.File("backup-metrics"));
        using var immutable = new ImmutableTree(_dir.File("backup-orders"));
        // Two writers and two tasks, each pair at once: process starts are what this test spends its time on.
        var starting = new[] { PythonWriter.StartAsync(_dir.File("orders/orders.db")), PythonWriter.StartAsync(_dir.File("metrics/metrics.db")) };
        try
        {
            await Task.WhenAll(starting);
        }
        catch (Exception)
        {
            // One failed to start: the other's process must not outlive the test.
            foreach (var started in starting.Where(t => t.IsCompletedSuccessfully)) (await started).Dispose();
            throw;
        }

        using var orders = await starting[0];
        using var metrics = await starting[1];
        await Task.WhenAll(orders.InsertAsync(20), metrics.InsertAsync(20));
        await Task.WhenAll(
            h.StartTaskAsync(_paused, _dir.File("orders/*.db"), immutable.Path),
            h.StartTaskAsync(_running, _dir.File("metrics/*.db"), _dir.File("backup-metrics")));
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, _storeId, _dir.Path);
        // Waits read the agent's own /status: what the page shows, without a CLI process per poll.
        var first = DateTimeOffset.UtcNow;
        await AgentHarness.WaitForAsync(
            async () => await TaskAsync(agent, _paused) is { } t && t.GetProperty("checkpoint_at").ValueKind == JsonValueKind.String && t.GetProperty("checkpoint_at").GetDateTimeOffset() >= first,
            "the orders task to ship", agent);

        await immutable.SetAsync();
        await orders.InsertAsync(10, 1000);
        await AgentHarness.WaitForAsync(
            async () => await TaskAsync(agent, _paused) is { } t && t.GetProperty("operator_state").GetString() == "PAUSED_DUE_TO_ERROR",
            "the orders task to pause on its immutable storage", agent, PauseDeadline);

        // The agent samples every 5 s: wait for two samples (a screenshot waits for a longer line).
        var samples = screenshot is null ? 2 : 8;
        await AgentHarness.WaitForAsync(
            async () => await LagSamplesAsync(agent, _paused) >= samples, $"{samples} lag samples of {_paused} in /status", agent, TimeSpan.FromSeconds((samples * 5) + 20));

        // Over HTTP: HTML under a policy that lets it fetch nothing.
        using (var response = await Http.GetAsync(agent.BaseAddress))
        {
            Assert.True(response.IsSuccessStatusCode, response.ToString());
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'none'", string.Join(' ', response.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
            AssertSelfContained(await response.Content.ReadAsStringAsync(), "the page as served");
        }

        var dom = await HeadlessChromium.DumpDomAsync(agent.BaseAddress);
        using var status = await agent.StatusAsync();
        AssertSelfContained(dom, "the DOM chromium built");
        var page = new HtmlParser().ParseDocument(dom);

        var paused = TaskSection(page, _paused, dom);
        Assert.Equal(_paused, paused.QuerySelector("h2")?.TextContent);
        Assert.Equal("PAUSED_DUE_TO_ERROR", paused.QuerySelector(".badge")?.TextContent);
        Assert.Equal(ErrorCodes.StoragePermissionDenied.Code, paused.QuerySelector(".error .code")?.TextContent);
        Assert.Contains(ErrorCodes.StoragePermissionDenied.Hint, paused.QuerySelector(".error .hint")?.TextContent, StringComparison.Ordinal);
        Assert.Matches(AgoPattern(), paused.QuerySelector(".error .ago")?.TextContent ?? "(no age)");
        Assert.Contains($"ferry task resume {_paused} --clear-error", paused.QuerySelector(".pause")?.TextContent, StringComparison.Ordinal);
        Assert.Contains(_dir.File("orders/orders.db"), paused.QuerySelector("table.databases")?.TextContent, StringComparison.Ordinal);
        var points = paused.QuerySelector("svg.spark polyline")?.GetAttribute("points")?.Split(' ') ?? [];
        Assert.True(points.Length >= samples + 1, $"the chart has {points.Length} points, expected the {samples} samples and the gap now:\n{paused.OuterHtml}");
        Assert.Matches(GapPattern(), paused.QuerySelector(".value.gap")?.TextContent ?? "(no gap)");
        Assert.Equal("RUNNING", TaskSection(page, _running, dom).QuerySelector(".badge")?.TextContent);

        // What /status says is what the page shows: the agent, and each task's state and error.
        var root = status.RootElement;
        var facts = page.QuerySelectorAll("dl.agent > div").ToDictionary(d => d.QuerySelector("dt")!.TextContent, d => d.QuerySelector("dd")!.TextContent);
        Assert.Contains($"store {root.GetProperty("store_id").GetInt64()}", page.QuerySelector("h1")?.TextContent, StringComparison.Ordinal);
        Assert.Equal(root.GetProperty("generation").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture), facts["Deploy generation"]);
        Assert.Equal(root.GetProperty("version").GetString(), facts["Version"]);
        Assert.Equal(root.GetProperty("state").GetString(), page.QuerySelector("h1 .agent-state")?.TextContent);
        var tasks = root.GetProperty("tasks").EnumerateArray().ToList();
        Assert.Equal(
            tasks.Select(t => t.GetProperty("task").GetString()).Order(StringComparer.Ordinal),
            page.QuerySelectorAll("section.task").Select(s => s.GetAttribute("data-task")).Order(StringComparer.Ordinal));
        // Worst first: the paused task leads the page.
        Assert.Equal(_paused, page.QuerySelector("section.task")?.GetAttribute("data-task"));
        foreach (var task in tasks)
        {
            var section = TaskSection(page, task.GetProperty("task").GetString()!, dom);
            Assert.Equal(task.GetProperty("operator_state").GetString(), section.GetAttribute("data-state"));
            var error = task.GetProperty("last_error");
            Assert.Equal(error.ValueKind == JsonValueKind.Object ? error.GetProperty("code").GetString() : null, section.QuerySelector(".error .code")?.TextContent);
            if (error.ValueKind == JsonValueKind.Object) Assert.Equal(error.GetProperty("message").GetString(), section.QuerySelector(".error .message")?.TextContent);
        }

        if (screenshot is not null)
        {
            var path = Path.Combine(RepoRoot.Path, screenshot);
            await HeadlessChromium.ScreenshotAsync(agent.BaseAddress, path, 1200, 1000);
            output.WriteLine($"wrote {path}");
        }

        Assert.Equal(0, await agent.StopAsync());
        output.WriteLine($"status page during a pause: {watch.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>No reference that would make a browser fetch anything: no script, link, image or frame, no absolute URL.</summary>
    private static void AssertSelfContained(string html, string what)
    {
        var page = new HtmlParser().ParseDocument(html);
        Assert.True(page.QuerySelectorAll("script, link, img, iframe, object, embed, [src]").Length == 0, $"{what} loads something:\n{html}");
        foreach (var href in page.QuerySelectorAll("[href]").Select(e => e.GetAttribute("href")!))
        {
            Assert.False(href.Contains(':', StringComparison.Ordinal) || href.StartsWith("//", StringComparison.Ordinal), $"{what} links to {href}");
        }

        Assert.DoesNotMatch(ExternalUrlPattern(), html);
    }

    private static IElement TaskSection(IDocument page, string task, string dom) =>
        page.QuerySelectorAll("section.task").SingleOrDefault(s => s.GetAttribute("data-task") == task)
        ?? throw new Xunit.Sdk.XunitException($"the page has no section for task {task}:\n{dom}");

    /// <summary>The task's entry in the agent's /status, or null while the agent does not run it.</summary>
    private static async Task<JsonElement?> TaskAsync(AgentProcess agent, string task)
    {
        using var status = await agent.StatusAsync();
        foreach (var entry in status.RootElement.GetProperty("tasks").EnumerateArray())
        {
            if (entry.GetProperty("task").GetString() == task) return entry.Clone();
        }

        return null;
    }

    private static async Task<int> LagSamplesAsync(AgentProcess agent, string task)
    {
        using var status = await agent.StatusAsync();
        return status.RootElement.GetProperty("lag").EnumerateArray()
            .Where(l => l.GetProperty("task").GetString() == task)
            .Select(l => l.GetProperty("samples").EnumerateArray().Count(s => s.GetProperty("lag_seconds").ValueKind == JsonValueKind.Number))
            .FirstOrDefault();
    }

    [GeneratedRegex(@"^\d+(\.\d)? s ago$|^\d+ min( \d+ s)? ago$")]
    private static partial Regex AgoPattern();

    [GeneratedRegex(@"^\d+(\.\d)? s$|^\d+ min( \d+ s)?$")]
    private static partial Regex GapPattern();

    [GeneratedRegex(@"(src|href)\s*=\s*[""']?\s*(https?:)?//|url\(|@import", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalUrlPattern();
}
