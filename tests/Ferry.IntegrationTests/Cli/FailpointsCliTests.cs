using Ferry.TestKit;
using Ferry.TestKit.Cli;

namespace Ferry.IntegrationTests.Cli;

/// <summary>Failpoints armed in a real ferry process: from FERRY_FAILPOINTS, and a hang released through FERRY_FAILPOINTS_FILE.</summary>
public sealed class FailpointsCliTests : IDisposable
{
    private readonly TempDirectory _home = new("failpoints-cli");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task FerryFailpoints_ErrorAtMetaOpen_CommandFailsWithThatCode()
    {
        var result = await FerryCli.RunAsync(
            ["task", "status", "--meta", $"file:{_home.File("meta.db")}"],
            _home.Path,
            new Dictionary<string, string> { ["FERRY_FAILPOINTS"] = "meta.open=error(FERRY:Meta:Unavailable)" });

        Assert.True(result.ExitCode == 69, result.ToString());
        Assert.Contains("FERRY:Meta:Unavailable", result.Stderr);
        Assert.Contains("failpoint meta.open", result.Stderr);
    }

    [Fact]
    public async Task FerryFailpoints_Malformed_StartUpFailsWithUsageExitAndTheReason()
    {
        var result = await FerryCli.RunAsync(
            ["errors"],
            _home.Path,
            new Dictionary<string, string> { ["FERRY_FAILPOINTS"] = "meta.open=explode" });

        Assert.True(result.ExitCode == 64, result.ToString());
        Assert.Contains("FERRY:Config:InvalidFailpoints", result.Stderr);
        Assert.Contains("'explode' is not an action", result.Stderr);
    }

    [Fact]
    public async Task FailpointsFile_HangInChildProcess_IsReleasedByRewritingTheFile()
    {
        var file = _home.File("failpoints");
        File.WriteAllText(file, "meta.open=hang\n");
        using var process = FerryCli.Start(
            ["task", "status", "--meta", $"file:{_home.File("meta.db")}"],
            _home.Path,
            new Dictionary<string, string> { ["FERRY_FAILPOINTS_FILE"] = file });
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // Unhung, this command takes well under a second; still running after 2 s means it is hanging.
            using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => process.WaitForExitAsync(grace.Token));
            }

            var temp = file + ".tmp";
            File.WriteAllText(temp, "# released by the test\n");
            File.Move(temp, file, overwrite: true);

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await process.WaitForExitAsync(deadline.Token);
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
            Assert.Contains("no tasks", await stdout);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
