using System.Text.Json;
using Ferry.Coordination;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Configuration;

/// <summary>
/// <c>--config FILE</c> end to end with real processes: three databases written by separate writers, replicated to two
/// storages by one process and each restored exactly; the agent defining its tasks from a file; the FERRY__
/// environment overriding the file; and a broken file refused with its one line and exit 64.
/// </summary>
public sealed class ConfigFileTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private readonly TempDirectory _dir = new("config");

    public void Dispose() => _dir.Dispose();

    private string Home => _dir.File("home");

    private string Write(string name, string json)
    {
        var path = _dir.File(name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task ReplicateConfig_ThreeDatabasesOnTwoStorages_EachRestoresExactly()
    {
        // The third database's storage comes from the environment: FERRY__ overrides the file, ${NAME} expands in it.
        var config = Write("ferry.json", """
            {
              "Ferry": {
                "Defaults": { "FlushInterval": "200ms", "To": "first" },
                "Databases": [
                  { "Path": "a.db" },
                  { "Path": "b.db", "Task": "bee", "Retention": "1d" },
                  { "Path": "c.db", "To": "file:///nowhere/at/all" }
                ]
              }
            }
            """);
        var second = _dir.File("second");
        var environment = new Dictionary<string, string> { ["FERRY__Databases__2__To"] = "${SECOND_STORAGE}", ["SECOND_STORAGE"] = second };
        string[] names = ["a.db", "b.db", "c.db"];
        var writers = new List<PythonWriter>();
        try
        {
            foreach (var name in names)
            {
                var writer = await PythonWriter.StartAsync(_dir.File(name));
                writers.Add(writer);
                await writer.InsertAsync(20);
            }

            using var replicate = FerryCli.Start(["replicate", "--config", config], Home, environment);
            try
            {
                foreach (var writer in writers) await writer.TransactionsAsync(15);
                await ReplicateCheckpoint.WaitAllDurableAsync(Home, replicate, tasks: 3, Deadline);
                var dumps = new List<string>();
                foreach (var name in names) dumps.Add(await Sqlite3.DumpAsync(_dir.File(name)));

                replicate.Kill(Signal.Term);
                await replicate.WaitForExitAsync();
                var stdout = await replicate.StandardOutput.ReadToEndAsync();
                Assert.True(replicate.ExitCode == 0, $"exit {replicate.ExitCode}: {stdout}{await replicate.StandardError.ReadToEndAsync()}");
                Assert.Contains($"replicating {_dir.File("c.db")} -> ${{SECOND_STORAGE}} every 200ms (task 'c', store 1)", stdout, StringComparison.Ordinal);
                Assert.Contains("(task 'bee', store 1)", stdout, StringComparison.Ordinal);

                var storages = new[] { _dir.File("first"), _dir.File("first"), second };
                for (var i = 0; i < names.Length; i++)
                {
                    var output = _dir.File($"restored-{names[i]}");
                    var restore = await FerryCli.RunAsync(["restore", "--from", storages[i], "--db", names[i], "--out", output], Home);
                    Assert.True(restore.ExitCode == 0, restore.ToString());
                    Assert.Equal(dumps[i], await Sqlite3.DumpAsync(output));
                }

                // Each database is its own task, with its own settings.
                await using var meta = await SqliteMetaStore.OpenAsync(Path.Combine(Home, "meta.db"));
                var tasks = await new TaskControl(meta, new MetaKeys(), TimeProvider.System).StatusAsync();
                Assert.Equal(["a", "bee", "c"], tasks.Select(t => t.Name).Order(StringComparer.Ordinal));
                Assert.Equal(TimeSpan.FromDays(1), tasks.Single(t => t.Name == "bee").Definition.Options.Retention);
                Assert.Equal($"file://{second}", tasks.Single(t => t.Name == "c").Definition.Storage);
            }
            finally
            {
                if (!replicate.HasExited) replicate.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            foreach (var writer in writers) writer.Dispose();
        }
    }

    [Fact]
    public async Task AgentConfig_DefinesItsTasksAndRunsThem_FlagsOverrideTheFile()
    {
        var backup = _dir.File("backup");
        Directory.CreateDirectory(backup);
        using (var writer = await PythonWriter.StartAsync(_dir.File("app.db")))
        {
            await writer.InsertAsync(10);
        }

        // StoreId 9 in the file; AgentProcess passes --store-id 4, which wins (the command line is the top layer).
        var config = Write("agent.json", $$"""
            { "Ferry": { "StoreId": 9, "Databases": [ { "Path": "app.db", "To": "{{backup}}", "FlushInterval": "200ms", "MaxLag": "10m" } ] } }
            """);
        Directory.CreateDirectory(Home);
        var metaUrl = $"file:{Path.Combine(Home, "meta.db")}";
        await using var agent = await AgentProcess.StartAsync(metaUrl, storeId: 4, Home, arguments: ["--config", config]);

        await ReplicateCheckpoint.WaitAllDurableAsync(Home, agent.Process, tasks: 1, Deadline, () => agent.Log);
        var status = await FerryCli.RunAsync(["task", "status", "--json", "--meta", metaUrl], Home);
        using (var json = JsonDocument.Parse(status.Stdout))
        {
            var task = Assert.Single(json.RootElement.GetProperty("tasks").EnumerateArray());
            Assert.Equal("app", task.GetProperty("name").GetString());
            Assert.Equal(4, Assert.Single(task.GetProperty("stores").EnumerateArray()).GetProperty("store_id").GetInt64());
        }

        Assert.Equal(0, await agent.StopAsync());
        var restore = await FerryCli.RunAsync(["restore", "--from", backup, "--db", "app.db", "--out", _dir.File("restored.db"), "--store", "4"], Home);
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal(await Sqlite3.DumpAsync(_dir.File("app.db")), await Sqlite3.DumpAsync(_dir.File("restored.db")));
    }

    [Fact]
    public async Task Config_BrokenFiles_OneLineAndExit64()
    {
        var tooShort = Write("short.json", """{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b" }, { "Path": "/t/*.db", "To": "/b", "Retention": "5s" } ] } }""");
        var badJson = Write("bad.json", "{\n  \"Ferry\": {\n    \"StoreId\": 1\n    \"Http\": \":0\"\n  }\n}");

        var replicate = await FerryCli.RunAsync(["replicate", "--config", tooShort], Home);
        var agent = await FerryCli.RunAsync(["agent", "--config", badJson], Home);
        var unknown = await FerryCli.RunAsync(["agent", "--config", tooShort], Home, new Dictionary<string, string> { ["FERRY__Databases__0__Retentoin"] = "1d" });
        var missing = await FerryCli.RunAsync(["config", "check", _dir.File("missing.json")], Home);

        Assert.Equal(64, replicate.ExitCode);
        Assert.Equal(
            "ferry: FERRY:Config:Invalid: Ferry:Databases:1:Retention: '5s' must be at least 1m: a shorter window can't hold a restorable state",
            replicate.Stderr.TrimEnd());
        Assert.Equal(64, agent.ExitCode);
        Assert.Matches(@"^ferry: FERRY:Config:Invalid: \S*bad.json: invalid JSON at line 4: [^\n]+\n$", agent.Stderr);
        Assert.Equal(64, unknown.ExitCode);
        Assert.StartsWith("ferry: FERRY:Config:Invalid: Ferry:Databases:0:Retentoin (from FERRY__Databases__0__Retentoin): unknown key", unknown.Stderr, StringComparison.Ordinal);
        Assert.Equal(64, missing.ExitCode);
        Assert.Contains("missing.json: no such configuration file", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_ExampleFile_ValidAndSecretsNeverPrinted()
    {
        var example = Path.Combine(RepoRoot.Path, "docs", "ferry.example.json");

        var check = await FerryCli.RunAsync(["config", "check", example], Home, new Dictionary<string, string> { ["FERRY_BUCKET"] = "very-secret-bucket" });
        var unset = await FerryCli.RunAsync(["config", "check", example], Home);

        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("3 databases; store 1, metadata file:/var/lib/ferry/meta.db, http 127.0.0.1:9479", check.Stdout, StringComparison.Ordinal);
        Assert.Contains("/data/app.db -> s3://${FERRY_BUCKET}/app?region=eu-west-3 (task 'app'; flush 1s", check.Stdout, StringComparison.Ordinal);
        Assert.Contains("/data/tenants/*.db -> file:///backup/tenants (task 'tenants'; flush 1s, retention 24h, grace 5m", check.Stdout, StringComparison.Ordinal);
        Assert.Contains("/data/audit.db -> file:///backup/audit (task 'audit'; flush 5s, retention 30d", check.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret-bucket", check.Stdout + check.Stderr, StringComparison.Ordinal);
        Assert.Equal(64, unset.ExitCode);
        Assert.Contains("Ferry:Databases:0:To: the environment variable FERRY_BUCKET is not set", unset.Stderr, StringComparison.Ordinal);
    }
}
