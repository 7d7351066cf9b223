using System.Diagnostics;
using Ferry.IntegrationTests.Agent;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// The S3 server dies under a running agent (s3rver killed with SIGKILL, restarted on the same port and data
/// directory) while the application keeps writing: shorter than the task's retry budget, the store only retries and
/// then ships on with no gap; longer, the task pauses with the storage's code until the operator resumes it.
/// </summary>
[Collection(OutagesCollection.Name)]
public sealed class S3OutageTests(ITestOutputHelper output) : OutageTestBase("s3-outage", output)
{
    /// <summary>What a refused connection to S3 is (S3ErrorClassifier: a transport failure, via ErrorClassifier's socket case).</summary>
    private const string Unavailable = "FERRY:Storage:Unavailable";

    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task S3KilledForTenSecondsWithinTheRetryBudget_StoreRetriesNeverPauses_ShipsOnWithNoGapAndRestoresExactly()
    {
        var s3 = await StartS3rverAsync();
        var url = $"s3://{s3.Bucket}/outage-{Guid.NewGuid():N}";
        using var writer = await StartWriterAsync();
        await StartTaskAsync(url, "--retry-budget", "60s");
        await using var agent = await StartAgentAsync(environment: s3.Environment);
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship to S3");
        await using var loop = WriterLoop.Start(writer);

        s3.Stop();
        var down = Stopwatch.StartNew();
        var seen = new List<string>();
        var retrying = false;
        // The outage lasts its 10 s, and until the store has been seen retrying (the writer keeps it trying).
        while (down.Elapsed < Outage || !retrying)
        {
            var view = await StatusAsync();
            seen.Add($"{down.Elapsed.TotalSeconds:0.0}s {view.Status}/{view.StoreState}/{view.ErrorCode}");
            Assert.True(view.Status == "RUNNING" && view.StoreState?.StartsWith("PAUSED", StringComparison.Ordinal) != true, $"the task paused during a storage outage shorter than its retry budget:\n{view.Json}\n{agent.Log}");
            retrying |= view.StoreState == "RETRYING";
            if (down.Elapsed > Deadline) Assert.Fail($"the store never showed RETRYING while S3 was down; seen: {string.Join(", ", seen)}\n{agent.Log}");
            await Task.Delay(200);
        }

        await s3.RestartAsync();
        Output.WriteLine($"s3rver down for {down.Elapsed.TotalSeconds:0.0} s; task status seen: {string.Join(", ", seen)}");
        var committed = await CommitAfterAsync(loop, Now());
        await Harness.WaitForStatusAsync(TaskName, v =>
        {
            Assert.True(v.Status == "RUNNING" && v.StoreState?.StartsWith("PAUSED", StringComparison.Ordinal) != true, $"the task paused after S3 came back:\n{v.Json}");
            return v.CoversCommit(committed);
        }, "the store to be RUNNING again, past a commit made after s3rver restarted", agent, Deadline);

        await loop.StopAsync();
        await ShipsPastANewCommitAsync(writer, agent, "the store to ship the last commit");
        Assert.Equal(0, await agent.StopAsync());
        Assert.Contains(Unavailable, agent.Log, StringComparison.Ordinal);
        await AssertVerifiesAsync(url, s3.Environment);
        await AssertRestoresExactlyAsync(url, s3.Environment);
    }

    [Fact]
    public async Task S3KilledLongerThanTheRetryBudget_TaskPausesWithStorageUnavailable_ResumeClearErrorShipsAgainAndRestoresExactly()
    {
        var s3 = await StartS3rverAsync();
        var url = $"s3://{s3.Bucket}/outage-{Guid.NewGuid():N}";
        using var writer = await StartWriterAsync();
        await StartTaskAsync(url, "--retry-budget", "3s");
        await using var agent = await StartAgentAsync(environment: s3.Environment);
        await ShipsPastANewCommitAsync(writer, agent, "the agent to ship to S3");
        var loop = WriterLoop.Start(writer);
        TaskView paused;
        try
        {
            s3.Stop();
            paused = await Harness.WaitForStatusAsync(TaskName, v => v.Status == "PAUSED_DUE_TO_ERROR", "the task to pause once the retry budget is spent", agent, Deadline);
        }
        finally
        {
            await loop.DisposeAsync();
        }

        Assert.True(paused.PauseCode == Unavailable, paused.Json);
        Assert.True(paused.ErrorCode == Unavailable, paused.Json);
        Assert.Contains("retry budget", paused.Json, StringComparison.Ordinal);

        await s3.RestartAsync();
        var resumed = await Harness.FerryAsync("task", "resume", TaskName, "--clear-error");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var shipped = await ShipsPastANewCommitAsync(writer, agent, "the store to ship again after s3rver restarted and resume --clear-error");
        Assert.Null(shipped.ErrorCode);

        Assert.Equal(0, await agent.StopAsync());
        await AssertVerifiesAsync(url, s3.Environment);
        await AssertRestoresExactlyAsync(url, s3.Environment);
    }
}
