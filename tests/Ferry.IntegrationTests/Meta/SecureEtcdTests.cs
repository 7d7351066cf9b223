using System.Text;
using Ferry.Errors;
using Ferry.Etcd;
using Ferry.IntegrationTests.Agent;
using Ferry.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Sqlite;

namespace Ferry.IntegrationTests.Meta;

/// <summary>
/// Ferry against an etcd that requires TLS, a client certificate and a login (<see cref="SecureEtcd"/>): the agent and
/// the CLI work through it, the login survives etcd forgetting its tokens, and every refusal (password, CA, role,
/// missing certificate) is its own code and exit code, with the password shown nowhere.
/// </summary>
public sealed class SecureEtcdTests(SecureEtcd etcd) : IClassFixture<SecureEtcd>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("secure-etcd");

    public void Dispose() => _dir.Dispose();

    private string[] FerryLogin => [.. etcd.TlsFlags, "--etcd-user", "ferry", "--etcd-password-file", etcd.FerryPasswordFile];

    private Task<CliResult> FerryAsync(string[] args, IReadOnlyDictionary<string, string>? environment = null) =>
        FerryCli.RunAsync([.. args, "--meta", etcd.MetaUrl], _dir.Path, environment);

    [Fact]
    public async Task AgentAndCli_TlsClientCertificateAndLogin_ShipTheTaskAcrossAnEtcdRestartAndRestoreIsExact()
    {
        var task = $"s{Guid.NewGuid():N}"[..12];
        var storeId = Random.Shared.NextInt64(1000, 1_000_000);
        Directory.CreateDirectory(_dir.File("dbs"));
        Directory.CreateDirectory(_dir.File("backup"));
        using var writer = await PythonWriter.StartAsync(_dir.File("dbs/app.db"));
        await writer.InsertAsync(20);
        var started = await FerryAsync(["task", "start", task, "--db", _dir.File("dbs/*.db"), "--to", _dir.File("backup"), "--flush-interval", "200ms", .. FerryLogin]);
        Assert.True(started.ExitCode == 0, started.ToString());

        // The agent takes everything from the environment, the CLI from flags.
        await using var agent = await AgentProcess.StartAsync(etcd.MetaUrl, storeId, _dir.Path, etcd.FerryEnvironment);
        await writer.TransactionsAsync(20);
        await WaitShippedAsync(task, storeId, agent);

        // A restarted etcd has forgotten every token: the agent's calls and watch must log in again by themselves.
        await etcd.Server.RestartAsync();
        await writer.TransactionsAsync(20);
        await WaitShippedAsync(task, storeId, agent);
        var exit = await agent.StopAsync();

        Assert.Equal(0, exit);
        Assert.DoesNotContain(ErrorCodes.MetaAuthFailed.Code, agent.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(ErrorCodes.MetaPermissionDenied.Code, agent.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(etcd.FerryPassword, agent.Log, StringComparison.Ordinal);
        await StorageChecks.AssertRestoreMatchesAsync(_dir.File("backup"), _dir.File("dbs/app.db"), _dir.File("restored.db"), _dir.Path);
        await FerryAsync(["task", "stop", task, .. FerryLogin]);
    }

    [Fact]
    public async Task Store_EtcdRestartForgetsTheToken_CallsAndAWatchLogInAgainAndGoOn()
    {
        var options = new EtcdMetaStoreOptions
        {
            Connection = new EtcdConnectionOptions
            {
                CaFile = etcd.Certificates.CaFile,
                CertFile = etcd.Certificates.ClientCertFile,
                KeyFile = etcd.Certificates.ClientKeyFile,
                User = "ferry",
                Password = etcd.FerryPassword,
            },
        };
        var prefix = $"/ferry/test/{Guid.NewGuid():N}/";
        await using var store = await EtcdMetaStore.ConnectAsync([etcd.Server.Endpoint], options);
        var first = await store.PutAsync(prefix + "a", Encoding.UTF8.GetBytes("1"));
        using var stop = new CancellationTokenSource(Deadline);
        var watched = ReadTwoAsync(store.WatchAsync(prefix, first, stop.Token));

        await etcd.Server.RestartAsync();
        await store.PutAsync(prefix + "b", Encoding.UTF8.GetBytes("2"));
        var read = await store.GetAsync(prefix + "b");

        Assert.Equal("2", Encoding.UTF8.GetString(read!.Value.Span));
        Assert.Equal([prefix + "a", prefix + "b"], await watched);
    }

    [Fact]
    public async Task Cli_WrongPassword_AuthFailedExitOneAndThePasswordNowhere()
    {
        var wrong = $"wrong-{Guid.NewGuid():N}";
        var environment = new Dictionary<string, string>(etcd.FerryEnvironment) { ["FERRY_ETCD_PASSWORD"] = wrong };

        var status = await FerryAsync(["task", "status"], environment);
        // The agent must give up at once rather than retry a password that will never work.
        var agent = await FerryAsync(["agent", "--store-id", "77", "--http", $"127.0.0.1:{Tools.FreePort()}"], environment);

        foreach (var result in new[] { status, agent })
        {
            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains(ErrorCodes.MetaAuthFailed.Code, result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(wrong, result.Stdout + result.Stderr, StringComparison.Ordinal);
        }

        Assert.Single(status.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Cli_CaThatDidNotSignTheServer_TlsUntrusted()
    {
        var result = await FerryAsync(["task", "status", "--etcd-ca", etcd.Certificates.OtherCaFile], etcd.FerryEnvironment);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(ErrorCodes.MetaTlsUntrusted.Code, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_UserWhoseRoleCoversAnotherPrefix_PermissionDenied()
    {
        var environment = new Dictionary<string, string>(etcd.FerryEnvironment)
        {
            ["FERRY_ETCD_USER"] = "outsider",
            ["FERRY_ETCD_PASSWORD"] = etcd.OutsiderPassword,
        };

        var result = await FerryAsync(["task", "status"], environment);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(ErrorCodes.MetaPermissionDenied.Code, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_NoClientCertificate_TlsClientCertificate()
    {
        var environment = new Dictionary<string, string>(etcd.FerryEnvironment);
        environment.Remove("FERRY_ETCD_CERT");
        environment.Remove("FERRY_ETCD_KEY");

        var result = await FerryAsync(["task", "status"], environment);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(ErrorCodes.MetaTlsClientCertificate.Code, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_PlainEndpointsToATlsEtcd_TlsHandshake()
    {
        var plain = etcd.MetaUrl.Replace("https://", "etcd://", StringComparison.Ordinal);
        var environment = new Dictionary<string, string>(etcd.FerryEnvironment);
        foreach (var tls in new[] { "FERRY_ETCD_CA", "FERRY_ETCD_CERT", "FERRY_ETCD_KEY" }) environment.Remove(tls);

        var result = await FerryCli.RunAsync(["task", "status", "--meta", plain], _dir.Path, environment);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(ErrorCodes.MetaTlsHandshake.Code, result.Stderr, StringComparison.Ordinal);
    }

    private async Task WaitShippedAsync(string task, long storeId, AgentProcess agent)
    {
        var committed = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await AgentHarness.WaitForAsync(async () =>
        {
            var status = await FerryAsync(["task", "status", task, "--json", .. FerryLogin]);
            Assert.True(status.ExitCode == 0, status.ToString());
            return TaskViewOf(status.Stdout, storeId).CoversCommit(committed);
        }, "the store to ship past the last commit", agent, Deadline);
    }

    private static TaskView TaskViewOf(string json, long storeId) => TaskView.Parse(json, storeId);

    private static async Task<string[]> ReadTwoAsync(IAsyncEnumerable<WatchEvent> watch)
    {
        var keys = new List<string>();
        await foreach (var change in watch)
        {
            keys.Add(change.Kv.Key);
            if (keys.Count == 2) break;
        }

        return [.. keys];
    }
}
