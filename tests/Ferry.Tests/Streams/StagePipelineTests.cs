using System.Threading.Channels;
using Ferry.Errors;
using Ferry.Streams;

namespace Ferry.Tests.Streams;

/// <summary>The failure discipline of a pipeline, with scripted stages: first error wins, all cancelled, all closed.</summary>
public sealed class StagePipelineTests
{
    private sealed class Source(Channel<int> output, Exception? failAfterFirst = null) : IPipelineStage
    {
        public List<string> Events { get; } = [];

        public string Name => "source";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            try
            {
                for (var i = 0; ; i++)
                {
                    await output.Writer.WriteAsync(i, cancellationToken);
                    if (failAfterFirst is not null) throw failAfterFirst;
                    await Task.Delay(5, cancellationToken);
                }
            }
            finally
            {
                output.Writer.TryComplete();
            }
        }

        public ValueTask DisposeAsync()
        {
            Events.Add("source closed");
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Sink(Channel<int> input, Exception? failOnItem = null, Exception? failOnClose = null, List<string>? order = null) : IPipelineStage
    {
        public List<int> Received { get; } = [];

        public bool Closed { get; private set; }

        public string Name => "sink";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            await foreach (var item in input.Reader.ReadAllAsync(cancellationToken))
            {
                if (failOnItem is not null) throw failOnItem;
                Received.Add(item);
            }
        }

        public ValueTask DisposeAsync()
        {
            Closed = true;
            order?.Add("sink closed");
            if (failOnClose is not null) throw failOnClose;
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task RunAsync_Stop_SourceEndsAndSinkDrainsEverything()
    {
        var channel = Channel.CreateBounded<int>(4);
        var source = new Source(channel);
        var sink = new Sink(channel);
        using var stop = new CancellationTokenSource();

        var run = StagePipeline.RunAsync([source, sink], stop.Token);
        while (sink.Received.Count < 3) await Task.Yield();
        await stop.CancelAsync();
        await run;

        Assert.Equal(Enumerable.Range(0, sink.Received.Count), sink.Received);
        Assert.True(sink.Closed);
        Assert.Equal(["source closed"], source.Events);
    }

    [Fact]
    public async Task RunAsync_AbortNowWhileStopping_NothingMoreDrainedNoErrorAllClosed()
    {
        // The sink takes its time over each item: a drain would hand it everything still in the channel.
        var channel = Channel.CreateBounded<int>(64);
        var source = new Source(channel);
        var sink = new SlowSink(channel);
        using var stop = new CancellationTokenSource();
        using var abortNow = new CancellationTokenSource();

        var run = StagePipeline.RunAsync([source, sink], stop.Token, abortNow: abortNow.Token);
        while (channel.Reader.Count < 10) await Task.Yield();
        await stop.CancelAsync();
        await abortNow.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(channel.Reader.Count > 0, $"the sink drained the channel after the abort ({sink.Received} items)");
        Assert.True(sink.Closed);
        Assert.Equal(["source closed"], source.Events);
    }

    private sealed class SlowSink(Channel<int> input) : IPipelineStage
    {
        public int Received { get; private set; }

        public bool Closed { get; private set; }

        public string Name => "slow sink";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            await foreach (var item in input.Reader.ReadAllAsync(cancellationToken))
            {
                Received++;
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        public ValueTask DisposeAsync()
        {
            Closed = true;
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task RunAsync_DownstreamFails_FirstErrorWinsSourceCancelledAllClosedTopDown()
    {
        var channel = Channel.CreateBounded<int>(1);
        var order = new List<string>();
        var full = new FerryException(ErrorCodes.StorageQuotaExceeded, "disk full");
        var closeFailure = new IOException("close failed");
        var source = new Source(channel);
        var sink = new Sink(channel, failOnItem: full, failOnClose: closeFailure, order: order);

        var error = await Assert.ThrowsAsync<FerryException>(() => StagePipeline.RunAsync([source, sink], CancellationToken.None));

        Assert.Same(full, error);
        Assert.Equal(["source closed"], source.Events);
        Assert.True(sink.Closed);
        var suppressed = Assert.Single(error.Suppressed);
        Assert.Same(ErrorCodes.Internal, ((FerryException)suppressed).Code);
        Assert.Same(closeFailure, suppressed.InnerException);
    }

    [Fact]
    public async Task RunAsync_SourceFails_SinkEndsAndErrorIsTheSourcesOwn()
    {
        var channel = Channel.CreateBounded<int>(4);
        var broken = new FerryException(ErrorCodes.DatabaseNotFound, "gone");
        var sink = new Sink(channel);

        var error = await Assert.ThrowsAsync<FerryException>(() => StagePipeline.RunAsync([new Source(channel, broken), sink], CancellationToken.None));

        Assert.Same(broken, error);
        Assert.True(sink.Closed);
        Assert.Empty(error.Suppressed);
    }

    [Fact]
    public async Task RunAsync_UnclassifiedException_BecomesInternalNamingTheStage()
    {
        var channel = Channel.CreateBounded<int>(4);

        var error = await Assert.ThrowsAsync<FerryException>(() => StagePipeline.RunAsync(
            [new Source(channel), new Sink(channel, failOnItem: new InvalidOperationException("bug"))], CancellationToken.None));

        Assert.Same(ErrorCodes.Internal, error.Code);
        Assert.Contains("sink", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A downstream stage stuck in a call that only its token can end (a hung storage put).</summary>
    private sealed class StuckSink : IPipelineStage
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Closed { get; private set; }

        public string Name => "stuck";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        public ValueTask DisposeAsync()
        {
            Closed = true;
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task RunAsync_StopWhileDownstreamIsStuck_AbortsAfterTheDrainTimeout()
    {
        var channel = Channel.CreateBounded<int>(4);
        var sink = new StuckSink();
        using var stop = new CancellationTokenSource();

        var run = StagePipeline.RunAsync([new Source(channel), sink], stop.Token, TimeSpan.FromMilliseconds(200));
        await sink.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(sink.Closed);
    }

    /// <summary>A source whose callee turns the stop into a classified error, as FileStorage does with a cancelled put.</summary>
    private sealed class ClassifyingSource(Channel<int> output) : IPipelineStage
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "classifying";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            try
            {
                Entered.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException e)
            {
                throw new FerryException(ErrorCodes.Cancelled, "the operation was cancelled", null, e);
            }
            finally
            {
                output.Writer.TryComplete();
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task RunAsync_StopClassifiedAsCancelledBySomeStage_IsAGracefulStop()
    {
        var channel = Channel.CreateBounded<int>(4);
        var source = new ClassifyingSource(channel);
        var sink = new Sink(channel);
        using var stop = new CancellationTokenSource();

        var run = StagePipeline.RunAsync([source, sink], stop.Token);
        await source.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(sink.Closed);
    }
}
