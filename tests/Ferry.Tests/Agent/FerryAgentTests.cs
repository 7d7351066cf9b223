using Ferry.Agent;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Tasks;
using Ferry.TestKit;
using Ferry.TestKit.Logging;
using Ferry.TestKit.Meta;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tests.Agent;

/// <summary>The agent's own supervision, on a real embedded store: nothing a runner or the watch ends with is lost.</summary>
public sealed class FerryAgentTests() : EmbeddedStoreTest("agent")
{
    private const long StoreId = 11;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly CapturingLogger<ErrorReporter> _log = new();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Directory.CreateDirectory(Dir.File("backup"));
    }

    private FerryAgent Agent(IMetaStore store) => new(
        store,
        Keys,
        new FerryAgentOptions { Store = new StoreSessionOptions { StoreId = StoreId, Address = "test-host:1" }, ControlInterval = TimeSpan.FromMilliseconds(50) },
        Metrics,
        Reporter(_log),
        NullLogger<FerryAgent>.Instance,
        TimeProvider.System);

    private Task StartTaskAsync(params string[] databases) => new TaskControl(Store, Keys, TimeProvider.System)
        .StartAsync(new TaskDefinition("t", databases, new Uri(Dir.File("backup")).AbsoluteUri, 100, 1));

    [Fact]
    public async Task RunAsync_RunnerDiesOfABug_ReportedRecordedPausedAndStartedAgain()
    {
        // Regression: a runner that died of anything but a fence or a lost session stayed dead, unreported and not
        // restarted until the agent stopped. An empty database pattern makes planning throw an ArgumentException.
        await StartTaskAsync("");
        var agent = Agent(Store);
        using var stop = new CancellationTokenSource();

        var run = agent.RunAsync(stop.Token);
        var error = await EventuallyAsync(async () => await Store.GetAsync(Keys.LastError("t", StoreId)), run);
        var pause = await Store.GetAsync(Keys.Pause("t"));
        await EventuallyAsync(() => Task.FromResult(agent.Report().Tasks.SingleOrDefault(t => t.State == RunnerState.Paused)), run);
        await stop.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(Deadline));
        Assert.Equal(ErrorCodes.Internal.Code, MetaJson.Deserialize<LastError>(error).ErrorCode);
        Assert.Equal(PauseSeverity.Error, MetaJson.Deserialize<PauseValue>(pause!).Severity);
        Assert.Contains(_log.Entries, e => e.Message.Contains(ErrorCodes.Internal.Code, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_WatchFailsWithABug_ReportedAndEveryRunnerStillStops()
    {
        // Regression: the watcher was awaited before the runners were stopped, so a faulted watch left every runner
        // running and the agent's run threw its exception.
        await StartTaskAsync(Dir.File("dbs/*.db"));
        var agent = Agent(new BrokenWatch(Store));
        using var stop = new CancellationTokenSource();

        var run = agent.RunAsync(stop.Token);
        await EventuallyAsync(() => Task.FromResult(agent.Report().Tasks.SingleOrDefault()), run);
        await EventuallyAsync(() => Task.FromResult((string?)_log.Entries.FirstOrDefault(e => e.Message.Contains("watch the task list", StringComparison.Ordinal)).Message), run);
        await stop.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(Deadline));
        Assert.Empty(agent.Report().Tasks);
        Assert.Contains(_log.Entries, e => e.Message.Contains(ErrorCodes.Internal.Code, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_OneTaskFailsToStart_TheOthersStillStartAndTheirMetricsStayCurrent()
    {
        // Regression: a task whose start failed with a Ferry error (storage that can't be opened, then a pause value
        // that doesn't parse) failed the whole round, every round: the tasks after it never started and no task's
        // metrics were updated again.
        await Store.PutAsync(Keys.Task("a"), MetaJson.Serialize(new TaskDefinition("a", [Dir.File("a/*.db")], "ftp://nowhere/x", 100, 1)));
        await Store.PutAsync(Keys.Pause("a"), "not json"u8.ToArray());
        await Store.PutAsync(Keys.Task("b"), MetaJson.Serialize(new TaskDefinition("b", [Dir.File("dbs/*.db")], new Uri(Dir.File("backup")).AbsoluteUri, 100, 1)));
        var agent = Agent(Store);
        using var stop = new CancellationTokenSource();

        var run = agent.RunAsync(stop.Token);
        await EventuallyAsync(() => Task.FromResult(agent.Report().Tasks.SingleOrDefault(t => t.Task == "b")), run);
        await EventuallyAsync(() => Task.FromResult((string?)_log.Entries.FirstOrDefault(e => e.Message.Contains(ErrorCodes.MetaCorruptValue.Code, StringComparison.Ordinal)).Message), run);
        await stop.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(Deadline));
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> read, Task<int> run)
        where T : class
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (true)
        {
            if (await read() is { } value) return value;
            Assert.False(run.IsCompleted, $"the agent ended: {run.Exception}");
            await Task.Delay(20, deadline.Token);
        }
    }

    /// <summary>The real store, with a watch that fails as a bug in it would.</summary>
    private sealed class BrokenWatch(IMetaStore inner) : DelegatingMetaStore(inner)
    {
public override async IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long fromRevision, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            if (fromRevision >= 0) throw new InvalidOperationException("a bug in the watch");
            yield break;
        }
    }
}
