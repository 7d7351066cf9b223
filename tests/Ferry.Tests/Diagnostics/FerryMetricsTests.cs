using System.Diagnostics.Metrics;
using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Diagnostics;

public sealed class FerryMetricsTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
    private readonly FerryMetrics _metrics;
    private readonly MeterListener _listener = new();
    private readonly List<(string Name, double Value, Dictionary<string, string> Tags)> _measurements = [];

    public FerryMetricsTests()
    {
        _metrics = new FerryMetrics(timeProvider: _time);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this test's instance: other tests create their own meters named Ferry.
            if (ReferenceEquals(instrument.Meter, _metrics.Meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
    }

    [Fact]
    public void TaskState_SetState_IsOneForTheCurrentStateAndZeroForEveryOther()
    {
        _metrics.SetTaskState("t1", TaskState.RETRYING);
        _metrics.SetTaskState("t1", TaskState.PAUSED_DUE_TO_ERROR);
        _metrics.SetTaskState("t2", TaskState.RUNNING);

        var states = Observe("ferry_task_state");

        Assert.Equal(12, states.Count);
        Assert.Equal(
            ["PAUSED_DUE_TO_ERROR"],
            states.Where(m => m.Tags["task"] == "t1" && m.Value == 1).Select(m => m.Tags["state"]));
        Assert.Equal(
            ["RUNNING", "RETRYING", "STALLED", "DEGRADED", "PAUSED", "PAUSED_DUE_TO_ERROR"],
            states.Where(m => m.Tags["task"] == "t1").Select(m => m.Tags["state"]));
        Assert.Equal(1, states.Single(m => m.Tags["task"] == "t2" && m.Tags["state"] == "RUNNING").Value);
        Assert.Equal(5, states.Count(m => m.Tags["task"] == "t2" && m.Value == 0));
    }

    [Fact]
    public void CheckpointLag_TimePasses_GrowsAtEachObservation()
    {
        _metrics.SetCheckpoint("t1", _time.GetUtcNow() - TimeSpan.FromSeconds(5));
        Assert.Equal(5, Observe("ferry_checkpoint_lag_seconds").Single().Value, precision: 6);

        _time.Advance(TimeSpan.FromMinutes(2));

        var lag = Observe("ferry_checkpoint_lag_seconds").Single();
        Assert.Equal(125, lag.Value, precision: 6);
        Assert.Equal("t1", lag.Tags["task"]);
    }

    [Fact]
    public void CheckpointLag_CheckpointAheadOfTheClock_IsZero()
    {
        _metrics.SetCheckpoint("t1", _time.GetUtcNow() + TimeSpan.FromSeconds(3));

        Assert.Equal(0, Observe("ferry_checkpoint_lag_seconds").Single().Value);
    }

    [Fact]
    public void LastSuccess_Recorded_IsUnixSecondsOfThatMoment()
    {
        _metrics.RecordSuccess("t1");
        _metrics.RecordSuccess("t2", DateTimeOffset.FromUnixTimeMilliseconds(1_600_000_000_500));

        var values = Observe("ferry_last_success_timestamp_seconds").ToDictionary(m => m.Tags["task"], m => m.Value);

        Assert.Equal(1_700_000_000, values["t1"], precision: 3);
        Assert.Equal(1_600_000_000.5, values["t2"], precision: 3);
    }

    [Fact]
    public void RemoveTask_DropsItsGaugesOnly()
    {
        _metrics.SetTaskState("gone", TaskState.RUNNING);
        _metrics.SetCheckpoint("gone", _time.GetUtcNow());
        _metrics.RecordSuccess("gone");
        _metrics.SetTaskState("kept", TaskState.PAUSED);

        _metrics.RemoveTask("gone");

        Assert.All(Observe("ferry_task_state"), m => Assert.Equal("kept", m.Tags["task"]));
        Assert.Empty(Observe("ferry_checkpoint_lag_seconds"));
        Assert.Empty(Observe("ferry_last_success_timestamp_seconds"));
    }

    [Fact]
    public void Counters_AndHistogram_RecordWithTheirTags()
    {
        _metrics.AddReplicatedBytes("t1", 4096);
        _metrics.RecordRetry("t1", ErrorCodes.StorageUnavailable);
        _metrics.RecordStateDuration("WorkingWait", TimeSpan.FromMilliseconds(1500));
        _metrics.RecordStorageRequest("t1", "list", "ok");

        var bytes = Assert.Single(_measurements, m => m.Name == "ferry_replicated_bytes_total");
        Assert.Equal(4096, bytes.Value);
        Assert.Equal("t1", bytes.Tags["task"]);
        var retry = Assert.Single(_measurements, m => m.Name == "ferry_retries_total");
        Assert.Equal("FERRY:Storage:Unavailable", retry.Tags["code"]);
        var state = Assert.Single(_measurements, m => m.Name == "ferry_state_seconds");
        Assert.Equal(1.5, state.Value);
        Assert.Equal("WorkingWait", state.Tags["state"]);
        Assert.Equal(FerryMetrics.StateSecondsBuckets, _metrics.StateSeconds.Advice?.HistogramBucketBoundaries);
        var request = Assert.Single(_measurements, m => m.Name == "ferry_storage_requests_total");
        Assert.Equal((1.0, "list", "ok", "t1"), (request.Value, request.Tags["op"], request.Tags["outcome"], request.Tags["task"]));
    }

    [Fact]
    public void AddReplicatedBytes_Negative_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _metrics.AddReplicatedBytes("t1", -1));
    }

    private List<(string Name, double Value, Dictionary<string, string> Tags)> Observe(string name)
    {
        lock (_measurements)
        {
            _measurements.Clear();
        }

        _listener.RecordObservableInstruments();
        lock (_measurements)
        {
            return _measurements.Where(m => m.Name == name).ToList();
        }
    }

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var entry = (instrument.Name, Convert.ToDouble(value), tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString() ?? ""));
        lock (_measurements)
        {
            _measurements.Add(entry);
        }
    }
}
