using Ferry.Coordination;

namespace Ferry.Tests.Coordination;

public sealed class TaskStatesTests
{
    private static readonly PauseValue Manual = new(PauseSeverity.Manual, 1, "op:1", "maintenance");
    private static readonly PauseValue ByError = new(PauseSeverity.Error, 1, "agent:1", "disk full", "FERRY:Storage:QuotaExceeded");

    [Theory]
    [InlineData(false, null, TaskState.STALLED, TaskState.OFFLINE)]
    [InlineData(false, "error", TaskState.RUNNING, TaskState.OFFLINE)]
    [InlineData(true, "manual", TaskState.RETRYING, TaskState.PAUSED)]
    [InlineData(true, "error", TaskState.DEGRADED, TaskState.PAUSED_DUE_TO_ERROR)]
    [InlineData(true, null, TaskState.STALLED, TaskState.STALLED)]
    [InlineData(true, null, TaskState.RETRYING, TaskState.RETRYING)]
    [InlineData(true, null, TaskState.DEGRADED, TaskState.DEGRADED)]
    [InlineData(true, null, TaskState.RUNNING, TaskState.RUNNING)]
    public void Of_OnlinePauseAndStreams_PresenceThenPauseThenStreams(bool online, string? pause, TaskState streams, TaskState expected)
    {
        var value = pause switch { "manual" => Manual, "error" => ByError, _ => null };

        Assert.Equal(expected, TaskStates.Of(value, online, streams));
    }

    [Theory]
    [InlineData(true, true, true, TaskState.STALLED)]
    [InlineData(false, true, true, TaskState.RETRYING)]
    [InlineData(false, false, true, TaskState.DEGRADED)]
    [InlineData(false, false, false, TaskState.RUNNING)]
    public void OfStreams_WorstFirst(bool stalled, bool retrying, bool quarantined, TaskState expected) =>
        Assert.Equal(expected, TaskStates.OfStreams(stalled, retrying, quarantined));

    [Fact]
    public void Of_PublishedCheckpoint_ReadsBackWhatTheStorePublished()
    {
        var registration = new StoreRecord("h:1", "1", 0, 1, 1);
        foreach (var state in new[] { TaskState.RUNNING, TaskState.RETRYING, TaskState.STALLED, TaskState.DEGRADED })
        {
            var published = new Checkpoint(1, State: TaskStates.Publish(state));

            Assert.Equal(state, TaskStates.Of(null, registration, published));
        }

        Assert.Equal(TaskState.RUNNING, TaskStates.Of(null, registration, new Checkpoint(1, State: "PAUSED")));
        Assert.True(new Checkpoint(1, State: TaskStates.Publish(TaskState.PAUSED_DUE_TO_ERROR)).Paused);
    }
}
