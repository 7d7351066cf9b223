using System.Diagnostics;
using Ferry.IntegrationTests.Agent;
using Ferry.TestKit.Azure;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// The Azure blob service goes down under a running agent (Azurite stopped, then restarted on the same port and data
/// directory) while the application keeps writing, for less than the task's retry budget: the store reports the
/// coded transient error and retries, never pauses, and ships on with no gap once Azurite is back.
/// </summary>
[Collection(OutagesCollection.Name)]
public sealed class AzureOutageTests(ITestOutputHelper output) : OutageTestBase("az-outage", output)
{
    /// <summary>What a refused connection to Azure is (AzureErrorClassifier: a transport failure after the SDK's few retries).</summary>
    private const string Unavailable = "FERRY:Storage:Unavailable";

    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task AzuriteDownWithinTheRetryBudget_StoreRetriesWithUnavailableNeverPauses_ShipsOnAfterRestartAndRestoresExactly()
    {
        var azurite = new AzuriteServer();
        try
        {
            await azurite.InitializeAsync();
            var url = azurite.Url($"outage-{Guid.NewGuid():N}");
            var environment = AzuriteServer.KeyEnvironment();
            using var writer = await StartWriterAsync();
            await StartTaskAsync(url, "--retry-budget", "120s");
            await using var agent = await StartAgentAsync(environment: environment);
            await ShipsPastANewCommitAsync(writer, agent, "the agent to ship to Azurite");
            await using var loop = WriterLoop.Start(writer);

            azurite.Stop();
            var down = Stopwatch.StartNew();
            var seen = new List<string>();
            var retrying = false;
            // The outage lasts its 5 s, and until the store has been seen retrying (the writer keeps it trying).
            while (down.Elapsed < Outage || !retrying)
            {
                var view = await StatusAsync();
                seen.Add($"{down.Elapsed.TotalSeconds:0.0}s {view.Status}/{view.StoreState}/{view.ErrorCode}");
                Assert.True(view.Status == "RUNNING" && view.StoreState?.StartsWith("PAUSED", StringComparison.Ordinal) != true, $"the task paused during a storage outage shorter than its retry budget:\n{view.Json}\n{agent.Log}");
                retrying |= view.StoreState == "RETRYING";
                if (down.Elapsed > Deadline) Assert.Fail($"the store never showed RETRYING while Azurite was down; seen: {string.Join(", ", seen)}\n{agent.Log}");
                await Task.Delay(200);
            }

            await azurite.RestartAsync();
            Output.WriteLine($"azurite down for {down.Elapsed.TotalSeconds:0.0} s; task status seen: {string.Join(", ", seen)}");
            var committed = await CommitAfterAsync(loop, Now());
            await Harness.WaitForStatusAsync(TaskName, v =>
            {
                Assert.True(v.Status == "RUNNING" && v.StoreState?.StartsWith("PAUSED", StringComparison.Ordinal) != true, $"the task paused after Azurite came back:\n{v.Json}");
                return v.CoversCommit(committed);
            }, "the store to be RUNNING again, past a commit made after Azurite restarted", agent, Deadline);

            await loop.StopAsync();
            await ShipsPastANewCommitAsync(writer, agent, "the store to ship the last commit");
            Assert.Equal(0, await agent.StopAsync());
            // The retries were reported with their code (the status shows RETRYING; the log line names the error).
            Assert.Contains($"{Unavailable} [Transient] Azure request failed", agent.Log, StringComparison.Ordinal);
            await AssertVerifiesAsync(url, environment);
            await AssertRestoresExactlyAsync(url, environment);
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }
}
