using Ferry.Agent;
using Ferry.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Agent;

public sealed class LagHistoryTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 14, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);

    private static RunnerReport Task(string name, DateTimeOffset? checkpoint) =>
        new(name, 7, RunnerState.Working, Start, [], null, CheckpointAt: checkpoint);

    [Fact]
    public void Sample_StampsTheClockAndTheGapToTheCheckpoint()
    {
        var history = new LagHistory(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(10), _time);
        _time.Advance(TimeSpan.FromSeconds(3));

        history.Sample([Task("t", Start)]);

        var lag = Assert.Single(history.Snapshot());
        Assert.Equal("t", lag.Task);
        var sample = Assert.Single(lag.Samples);
        Assert.Equal(Start.AddSeconds(3), sample.At);
        Assert.Equal(3, sample.LagSeconds);
    }

    [Fact]
    public void Sample_MoreThanTheWindowHolds_KeepsOnlyTheNewestOldestFirst()
    {
        var history = new LagHistory(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(20), _time);
        Assert.Equal(4, history.Capacity);

        for (var i = 0; i < 6; i++)
        {
            history.Sample([Task("t", Start)]);
            _time.Advance(TimeSpan.FromSeconds(5));
        }

        var samples = Assert.Single(history.Snapshot()).Samples;
        Assert.Equal([10.0, 15, 20, 25], samples.Select(s => s.LagSeconds!.Value));
    }

    [Fact]
    public void Sample_TaskNoLongerReported_ForgetsItsHistory()
    {
        var history = LagHistory.Default(_time);
        history.Sample([Task("a", Start), Task("b", Start)]);
        _time.Advance(TimeSpan.FromSeconds(5));

        history.Sample([Task("b", Start)]);

        var only = Assert.Single(history.Snapshot());
        Assert.Equal("b", only.Task);
        Assert.Equal(2, only.Samples.Count);
    }

    [Fact]
    public void Snapshot_SamplesOlderThanTheWindow_AreLeftOut()
    {
        // A sampler that stopped (a standby) leaves old samples behind: they are not the last minutes.
        var history = LagHistory.Default(_time);
        history.Sample([Task("t", Start)]);
        _time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        history.Sample([Task("t", Start)]);

        var sample = Assert.Single(Assert.Single(history.Snapshot()).Samples);
        Assert.Equal(_time.GetUtcNow(), sample.At);
        Assert.Equal(120, history.Capacity);
    }

    [Fact]
    public void GapSeconds_NoCheckpointYet_IsNull_AndAClockBehindTheCheckpointIsNoLag()
    {
        Assert.Null(LagHistory.GapSeconds(Task("t", null), Start));
        Assert.Equal(0, LagHistory.GapSeconds(Task("t", Start.AddSeconds(2)), Start));
        Assert.Equal(90, LagHistory.GapSeconds(Task("t", Start), Start.AddSeconds(90)));
    }

    [Fact]
    public void Sample_TaskWithoutCheckpoint_RecordsAnEmptySample()
    {
        var history = LagHistory.Default(_time);

        history.Sample([Task("t", null)]);

        Assert.Null(Assert.Single(Assert.Single(history.Snapshot()).Samples).LagSeconds);
    }
}
