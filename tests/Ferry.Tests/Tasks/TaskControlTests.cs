using System.Text;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.Tasks;
using Ferry.TestKit;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Tasks;

/// <summary>Task control over a real embedded store: the key layout, the one-transaction rules and status derivation.</summary>
public sealed class TaskControlTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("taskcontrol");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly MetaKeys _keys = new();
    private IMetaStore _store = null!;
    private TaskControl _control = null!;

    public async Task InitializeAsync()
    {
        _store = await SqliteMetaStore.OpenAsync(_dir.File("meta.db"), _time);
        _control = new TaskControl(_store, _keys, _time);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private static TaskDefinition Definition(string name) => new(name, ["/data/app.db"], "file:///backup", 1000, 1);

    private Task PutJsonAsync(string key, string json) => _store.PutAsync(key, Encoding.UTF8.GetBytes(json));

    private Task PutAsync<T>(string key, T value) => _store.PutAsync(key, MetaJson.Serialize(value));

    private async Task PauseByErrorAsync(string task, long storeId)
    {
        await PutAsync(_keys.LastError(task, storeId), new LastError(1, "FERRY:Storage:QuotaExceeded", "disk full", storeId, 1, 1, null, 1));
        await PutAsync(_keys.Pause(task), new PauseValue(PauseSeverity.Error, 1, "h:1", "disk full", "FERRY:Storage:QuotaExceeded"));
    }

    [Fact]
    public async Task Start_Twice_SecondIsTaskExists()
    {
        await _control.StartAsync(Definition("a"));

        var error = await Assert.ThrowsAsync<FerryException>(() => _control.StartAsync(Definition("a")));

        Assert.Same(ErrorCodes.TaskExists, error.Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-a")]
    [InlineData("a/b")]
    [InlineData("a b")]
    public void ValidateName_Invalid_IsInvalidArgument(string name)
    {
        var error = Assert.Throws<FerryException>(() => TaskControl.ValidateName(name));

        Assert.Same(ErrorCodes.ConfigInvalidArgument, error.Code);
    }

    [Fact]
    public async Task Pause_Missing_IsTaskNotFound()
    {
        var error = await Assert.ThrowsAsync<FerryException>(() => _control.PauseAsync("nope", "m", "h:1"));

        Assert.Same(ErrorCodes.TaskNotFound, error.Code);
    }

    [Fact]
    public async Task Pause_WritesManualPauseWithTimeOperatorAndMessage_StatusPaused()
    {
        await _control.StartAsync(Definition("a"));

        var (pause, changed) = await _control.PauseAsync("a", "disk swap", "host:42");
        var status = (await _control.StatusAsync("a")).Single();

        Assert.True(changed);
        Assert.Equal(PauseSeverity.Manual, pause.Severity);
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds(), pause.At);
        Assert.Equal(TaskState.PAUSED, status.Status);
        Assert.Equal("host:42", status.Pause!.Operator);
        Assert.Equal("disk swap", status.Pause.Message);
    }

    [Fact]
    public async Task Pause_PausedByErrorAlready_KeepsTheErrorPause()
    {
        await _control.StartAsync(Definition("a"));
        await PauseByErrorAsync("a", 3);

        var (pause, changed) = await _control.PauseAsync("a", "manual", "host:42");

        Assert.False(changed);
        Assert.Equal(PauseSeverity.Error, pause.Severity);
        Assert.Equal(TaskState.PAUSED_DUE_TO_ERROR, (await _control.StatusAsync("a")).Single().Status);
    }

    [Fact]
    public async Task Resume_Manual_RemovesPause()
    {
        await _control.StartAsync(Definition("a"));
        await _control.PauseAsync("a", "m", "h:1");

        var result = await _control.ResumeAsync("a", clearError: false);

        Assert.Equal(ResumeOutcome.Resumed, result.Outcome);
        Assert.Null(await _store.GetAsync(_keys.Pause("a")));
    }

    [Fact]
    public async Task Resume_NotPaused_SaysSo()
    {
        await _control.StartAsync(Definition("a"));

        Assert.Equal(ResumeOutcome.NotPaused, (await _control.ResumeAsync("a", clearError: false)).Outcome);
    }

    [Fact]
    public async Task Resume_PausedByErrorWithoutClear_RefusesWithTheErrorsAndChangesNothing()
    {
        await _control.StartAsync(Definition("a"));
        await PauseByErrorAsync("a", 3);
        await PauseByErrorAsync("a", 5);
        var revision = (await _store.RangeAsync(_keys.Prefix + "/")).Revision;

        var result = await _control.ResumeAsync("a", clearError: false);

        Assert.Equal(ResumeOutcome.RefusedPausedByError, result.Outcome);
        Assert.Equal([3L, 5L], result.Errors.Select(e => e.StoreId));
        Assert.Equal(revision, (await _store.RangeAsync(_keys.Prefix + "/")).Revision);
    }

    [Fact]
    public async Task Resume_ClearError_DeletesPauseAndEveryLastErrorInOneRevision()
    {
        await _control.StartAsync(Definition("a"));
        await _control.StartAsync(Definition("b"));
        await PauseByErrorAsync("a", 3);
        await PauseByErrorAsync("a", 5);
        await PauseByErrorAsync("b", 3);
        var before = (await _store.RangeAsync(_keys.Prefix + "/")).Revision;
        var events = new List<WatchEvent>();
        using var watching = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var result = await _control.ResumeAsync("a", clearError: true);
        await foreach (var change in _store.WatchAsync(_keys.Prefix + "/", before + 1, watching.Token))
        {
            events.Add(change);
            if (events.Count == 3) break;
        }

        Assert.Equal(ResumeOutcome.Resumed, result.Outcome);
        Assert.All(events, e => Assert.Equal(events[0].Kv.ModRevision, e.Kv.ModRevision));
        Assert.All(events, e => Assert.Equal(WatchEventType.Delete, e.Type));
        Assert.Empty(await _control.LastErrorsAsync("a"));
        Assert.Single(await _control.LastErrorsAsync("b"));
        Assert.NotNull(await _store.GetAsync(_keys.Pause("b")));
    }

    [Fact]
    public async Task Stop_RemovesTaskPauseErrorsAndCheckpointsButNotOtherTasks()
    {
        await _control.StartAsync(Definition("a"));
        await _control.StartAsync(Definition("ab"));
        await PauseByErrorAsync("a", 3);
        await PutAsync(_keys.Checkpoint("a", 3), new Checkpoint(10));
        await PutAsync(_keys.Checkpoint("ab", 3), new Checkpoint(10));

        await _control.StopAsync("a");

        Assert.Null(await _store.GetAsync(_keys.Task("a")));
        Assert.NotNull(await _store.GetAsync(_keys.Task("ab")));
        Assert.Null(await _store.GetAsync(_keys.Pause("a")));
        Assert.Empty((await _store.RangeAsync(_keys.CheckpointPrefix("a"))).Kvs);
        Assert.NotNull(await _store.GetAsync(_keys.Checkpoint("ab", 3)));
        await Assert.ThrowsAsync<FerryException>(() => _control.StopAsync("a"));
    }

    [Fact]
    public async Task Status_StoreStates_DerivedFromRegistrationCheckpointAndPause()
    {
        await _control.StartAsync(Definition("a"));
        var lease = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(10));
        await _store.PutAsync(_keys.Store(1), MetaJson.Serialize(new StoreRecord("127.0.0.1:1", "1", 1, 1, 1)), lease);
        await _store.PutAsync(_keys.Store(2), MetaJson.Serialize(new StoreRecord("127.0.0.1:2", "1", 1, 1, 1)), lease);
        await PutAsync(_keys.Checkpoint("a", 1), new Checkpoint(5_000));
        await PutAsync(_keys.Checkpoint("a", 2), new Checkpoint(3_000, State: "RETRYING", Attempt: 4, NextAttemptAt: 9_000, Detail: "FERRY:Storage:Unavailable"));
        await PutAsync(_keys.Checkpoint("a", 9), new Checkpoint(7_000));

        var running = (await _control.StatusAsync("a")).Single();
        _time.Advance(TimeSpan.FromSeconds(11));
        var afterLeaseExpiry = (await _control.StatusAsync("a")).Single();

        Assert.Equal(TaskState.RUNNING, running.Status);
        Assert.Equal(3_000, running.GlobalCheckpoint);
        Assert.Equal(
            [(1L, TaskState.RUNNING), (2L, TaskState.RETRYING), (9L, TaskState.OFFLINE)],
            running.Stores.Select(s => (s.StoreId, s.State)));
        Assert.Equal(4, running.Stores[1].CheckpointRecord!.Attempt);
        Assert.All(afterLeaseExpiry.Stores, s => Assert.Equal(TaskState.OFFLINE, s.State));
    }

    [Fact]
    public async Task Status_LastErrorWrittenByHandWithoutStoreId_TakesItFromTheKey()
    {
        await _control.StartAsync(Definition("a"));
        await PutJsonAsync(_keys.LastError("a", 7), """{"happen_at":5,"error_code":"FERRY:Storage:QuotaExceeded","error_message":"full"}""");

        var store = (await _control.StatusAsync("a")).Single().Stores.Single();

        Assert.Equal(7, store.StoreId);
        Assert.Equal(7, store.LastError!.StoreId);
        Assert.Equal("full", store.LastError.ErrorMessage);
    }

    [Fact]
    public async Task Status_CorruptTaskValue_IsCorruptValueNamingTheKey()
    {
        await PutJsonAsync(_keys.Task("a"), "{not json");

        var error = await Assert.ThrowsAsync<FerryException>(() => _control.StatusAsync());

        Assert.Same(ErrorCodes.MetaCorruptValue, error.Code);
        Assert.Contains(_keys.Task("a"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_MissingTask_IsTaskNotFound()
    {
        var error = await Assert.ThrowsAsync<FerryException>(() => _control.StatusAsync("nope"));

        Assert.Same(ErrorCodes.TaskNotFound, error.Code);
    }
}
