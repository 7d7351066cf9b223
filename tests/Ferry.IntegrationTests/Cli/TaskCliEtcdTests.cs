using System.Text.Json;
using Ferry.IntegrationTests.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;

namespace Ferry.IntegrationTests.Cli;

/// <summary>
/// The operator's view through the real <c>ferry</c> process against a real etcd, with the error records written by
/// <c>etcdctl</c> rather than by Ferry: status must read what any agent (or a human) wrote in the documented layout.
/// </summary>
[Collection(EtcdCollection.Name)]
public sealed class TaskCliEtcdTests(EtcdServer etcd) : IDisposable
{
    private readonly TempDirectory _home = new("cli-home");
    private readonly string _task = $"t{Guid.NewGuid():N}"[..12];

    public void Dispose() => _home.Dispose();

    private Task<CliResult> Ferry(params string[] args) => FerryCli.RunAsync([.. args, "--meta", etcd.MetaUrl], _home.Path);

    private async Task StartTaskAsync()
    {
        var started = await Ferry("task", "start", _task, "--db", "/data/app.db", "--to", _home.File("backup"));
        Assert.True(started.ExitCode == 0, started.ToString());
    }

    private async Task WriteErrorPauseWithEtcdctlAsync()
    {
        var happenAt = DateTimeOffset.UtcNow.AddMinutes(-3).ToUnixTimeMilliseconds();
        await Etcdctl.PutAsync(etcd, $"/ferry/v1/last_error/{_task}/7",
            $$"""{"happen_at":{{happenAt}},"error_code":"FERRY:Storage:QuotaExceeded","error_message":"no space left on /backup writing segment 42","store_id":7,"generation":1,"epoch":1,"context":null,"count":3}""");
        await Etcdctl.PutAsync(etcd, $"/ferry/v1/pause/{_task}",
            $$"""{"severity":"ERROR","at":{{happenAt}},"operator":"host7:4242","message":"storage full","error_code":"FERRY:Storage:QuotaExceeded"}""");
    }

    [Fact]
    public async Task Status_ErrorAndPauseWrittenByEtcdctl_ShowsPausedDueToErrorWithCodeAndMessage()
    {
        await StartTaskAsync();
        await WriteErrorPauseWithEtcdctlAsync();

        var human = await Ferry("task", "status", _task);
        var json = await Ferry("task", "status", _task, "--json");

        Assert.True(human.ExitCode == 0, human.ToString());
        Assert.Contains("PAUSED_DUE_TO_ERROR", human.Stdout, StringComparison.Ordinal);
        Assert.Contains("FERRY:Storage:QuotaExceeded", human.Stdout, StringComparison.Ordinal);
        Assert.Contains("no space left on /backup writing segment 42", human.Stdout, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json.Stdout);
        var task = doc.RootElement.GetProperty("tasks")[0];
        Assert.Equal(_task, task.GetProperty("name").GetString());
        Assert.Equal("PAUSED_DUE_TO_ERROR", task.GetProperty("status").GetString());
        var store = task.GetProperty("stores").EnumerateArray().Single(s => s.GetProperty("store_id").GetInt64() == 7);
        var lastError = store.GetProperty("last_error");
        Assert.Equal("FERRY:Storage:QuotaExceeded", lastError.GetProperty("error_code").GetString());
        Assert.Equal("no space left on /backup writing segment 42", lastError.GetProperty("error_message").GetString());
        Assert.True(lastError.GetProperty("happen_at").GetInt64() > 0);
    }

    [Fact]
    public async Task Resume_PausedByErrorWithoutClearError_RefusesAndKeepsBothKeys()
    {
        await StartTaskAsync();
        await WriteErrorPauseWithEtcdctlAsync();

        var resume = await Ferry("task", "resume", _task);

        Assert.Equal(1, resume.ExitCode);
        Assert.Contains("--clear-error", resume.Stderr, StringComparison.Ordinal);
        Assert.Contains("FERRY:Storage:QuotaExceeded", resume.Stderr, StringComparison.Ordinal);
        Assert.NotNull(await Etcdctl.GetAsync(etcd, $"/ferry/v1/pause/{_task}"));
        Assert.NotNull(await Etcdctl.GetAsync(etcd, $"/ferry/v1/last_error/{_task}/7"));
    }

    [Fact]
    public async Task Resume_ClearError_RemovesPauseAndLastErrorAndTaskRuns()
    {
        await StartTaskAsync();
        await WriteErrorPauseWithEtcdctlAsync();

        var resume = await Ferry("task", "resume", _task, "--clear-error");
        var status = await Ferry("task", "status", _task, "--json");

        Assert.True(resume.ExitCode == 0, resume.ToString());
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/pause/{_task}"));
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/last_error/{_task}/7"));
        using var doc = JsonDocument.Parse(status.Stdout);
        Assert.Equal("RUNNING", doc.RootElement.GetProperty("tasks")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task PauseThenResume_Manual_WritesManualPauseWithOperatorAndRemovesIt()
    {
        await StartTaskAsync();

        var pause = await Ferry("task", "pause", _task, "--message", "disk swap");
        var pauseValue = await Etcdctl.GetAsync(etcd, $"/ferry/v1/pause/{_task}");
        var resume = await Ferry("task", "resume", _task);

        Assert.True(pause.ExitCode == 0, pause.ToString());
        using (var doc = JsonDocument.Parse(pauseValue!))
        {
            Assert.Equal("MANUAL", doc.RootElement.GetProperty("severity").GetString());
            Assert.Equal("disk swap", doc.RootElement.GetProperty("message").GetString());
            Assert.Contains(':', doc.RootElement.GetProperty("operator").GetString()!);
        }

        Assert.True(resume.ExitCode == 0, resume.ToString());
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/pause/{_task}"));
    }

    [Fact]
    public async Task Status_CorruptValueWrittenByEtcdctl_OneLineCorruptValueNamingTheKey()
    {
        await StartTaskAsync();
        await Etcdctl.PutAsync(etcd, $"/ferry/v1/pause/{_task}", "this is not json");

        var status = await Ferry("task", "status", _task);

        Assert.NotEqual(0, status.ExitCode);
        Assert.Contains("FERRY:Meta:CorruptValue", status.Stderr, StringComparison.Ordinal);
        Assert.Contains($"/ferry/v1/pause/{_task}", status.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", status.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAndStop_TaskExistsTwiceAndStop_RemovesEverythingUnderIt()
    {
        await StartTaskAsync();
        await WriteErrorPauseWithEtcdctlAsync();

        var again = await Ferry("task", "start", _task, "--db", "/data/app.db", "--to", _home.File("backup"));
        var stop = await Ferry("task", "stop", _task);
        var pauseMissing = await Ferry("task", "pause", _task);

        Assert.Equal(1, again.ExitCode);
        Assert.Contains("FERRY:Task:Exists", again.Stderr, StringComparison.Ordinal);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/tasks/{_task}"));
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/pause/{_task}"));
        Assert.Null(await Etcdctl.GetAsync(etcd, $"/ferry/v1/last_error/{_task}/7"));
        Assert.Contains("FERRY:Task:NotFound", pauseMissing.Stderr, StringComparison.Ordinal);
    }
}
