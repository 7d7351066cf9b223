using System.Diagnostics;
using Ferry.IntegrationTests.Agent;
using Ferry.TestKit;
using Ferry.TestKit.Cli;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.S3;
using Ferry.TestKit.Sqlite;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Outages;

/// <summary>
/// The outage tests kill, hang and restart their peers for seconds at a time and measure how long things take: they
/// run alone, one after the other, never beside other tests that would load the machine or share their servers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OutagesCollection
{
    public const string Name = "outages";
}

/// <summary>
/// One outage test: its own etcd (killed or hung by the test, so never the shared one), its own s3rver when it asks
/// for one, one task of the database <c>dbs/app.db</c> written by a separate Python writer, and real agent processes.
/// Waits poll the operator's view (<c>ferry task status --json</c>) under generous deadlines; only the outage itself
/// is waited out. Every server is killed and every file removed on every path.
/// </summary>
public abstract class OutageTestBase(string name, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>For anything that should happen within seconds on an idle machine: this one is shared and loaded.</summary>
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly List<S3rverServer> _s3rvers = [];

    protected EtcdServer Etcd { get; } = new();

    protected TempDirectory Dir { get; } = new(name);

    protected ITestOutputHelper Output { get; } = output;

    protected string TaskName { get; } = $"{name[0]}{Guid.NewGuid():N}"[..12];

    protected long StoreId { get; } = Random.Shared.NextInt64(1000, 1_000_000);

    /// <summary>The file:// storage of tests that do not use S3.</summary>
    protected string Backup => Dir.File("backup");

    /// <summary>The one database of the task.</summary>
    protected string Database => Dir.File("dbs/app.db");

    protected string StoreKey => $"/ferry/v1/stores/{StoreId}";

    protected string FenceKey => $"/ferry/v1/fence/{StoreId}";

    private protected AgentHarness Harness => new(Etcd.MetaUrl, Dir.Path, StoreId);

    public Task InitializeAsync() => Etcd.InitializeAsync();

    /// <summary>The servers are this test's alone: killing them (and their data) is the whole cleanup, whatever state they are in.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            foreach (var s3rver in _s3rvers) await s3rver.DisposeAsync();
        }
        finally
        {
            await Etcd.DisposeAsync();
            Dir.Dispose();
        }
    }

    protected static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>An s3rver of this test's own, disposed with the test.</summary>
    protected async Task<S3rverServer> StartS3rverAsync()
    {
        var server = new S3rverServer();
        await server.InitializeAsync();
        _s3rvers.Add(server);
        return server;
    }

    /// <summary>The writer of <see cref="Database"/>, with 20 rows committed; the storage directory exists.</summary>
    protected async Task<PythonWriter> StartWriterAsync()
    {
        Directory.CreateDirectory(Dir.File("dbs"));
        Directory.CreateDirectory(Backup);
        var writer = await PythonWriter.StartAsync(Database);
        await writer.InsertAsync(20);
        return writer;
    }

    /// <summary>Starts the task on <paramref name="storage"/> (default <see cref="Backup"/>), flushing every 200 ms unless <paramref name="options"/> say otherwise.</summary>
    protected async Task StartTaskAsync(string? storage = null, params string[] options)
    {
        string[] flush = options.Contains("--flush-interval") ? [] : ["--flush-interval", "200ms"];
        var started = await Harness.FerryAsync(["task", "start", TaskName, "--db", Dir.File("dbs/*.db"), "--to", storage ?? Backup, .. flush, .. options]);
        Assert.True(started.ExitCode == 0, started.ToString());
    }

    protected Task<AgentProcess> StartAgentAsync(long generation = 0, IReadOnlyList<string>? arguments = null, IReadOnlyDictionary<string, string>? environment = null) =>
        AgentProcess.StartAsync(Etcd.MetaUrl, StoreId, Dir.Path, environment, generation, arguments);

    private protected Task<TaskView> StatusAsync() => Harness.StatusAsync(TaskName);

    /// <summary>Polls until this store is RUNNING with every commit up to <paramref name="committedAt"/> durable in storage.</summary>
    private protected Task<TaskView> CoversAsync(long committedAt, string what, AgentProcess agent) =>
        Harness.WaitForStatusAsync(TaskName, v => v.CoversCommit(committedAt), what, agent, Deadline);

    /// <summary>Commits a few transactions and waits until the store has shipped them.</summary>
    private protected async Task<TaskView> ShipsPastANewCommitAsync(PythonWriter writer, AgentProcess agent, string what)
    {
        await writer.TransactionsAsync(5);
        return await CoversAsync(Now(), what, agent);
    }

    /// <summary>Waits (while <paramref name="loop"/> keeps writing) for a commit after this call, then for the store to ship it.</summary>
    private protected async Task<TaskView> ShipsPastALaterCommitAsync(WriterLoop loop, AgentProcess agent, string what) =>
        await CoversAsync(await CommitAfterAsync(loop, Now()), what, agent);

    /// <summary>
    /// Waits for <paramref name="loop"/> to commit after <paramref name="after"/> (unix ms); returns a time by which
    /// those commits were made, for <see cref="CoversAsync"/>.
    /// </summary>
    protected static async Task<long> CommitAfterAsync(WriterLoop loop, long after)
    {
        ArgumentNullException.ThrowIfNull(loop);
        var watch = Stopwatch.StartNew();
        while (loop.LastCommand.StartedAt <= after)
        {
            if (watch.Elapsed > Deadline) Assert.Fail($"the writer committed nothing within {Deadline}");
            await Task.Delay(20);
        }

        return loop.LastCommand.AckedAt;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with the agent's log after <see cref="Deadline"/> (or <paramref name="deadline"/>).</summary>
    protected static Task EventuallyAsync(Func<Task<bool>> condition, string what, AgentProcess agent, TimeSpan? deadline = null) =>
        AgentHarness.WaitForAsync(condition, what, agent, deadline ?? Deadline);

    /// <summary>Waits for <paramref name="agent"/> to exit by itself within <paramref name="deadline"/>; fails with its log otherwise.</summary>
    protected static async Task<int> ExitCodeWithinAsync(AgentProcess agent, TimeSpan deadline, string what)
    {
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await agent.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"{what}: the agent was still running after {deadline.TotalSeconds:0} s; its log:\n{agent.Log}");
        }

        return agent.Process.ExitCode;
    }

    /// <summary>The agent's registration lease in etcd (0 when the store key is absent).</summary>
    protected async Task<long> StoreLeaseAsync() => (await Etcdctl.GetKeyAsync(Etcd, StoreKey))?.Lease ?? 0;

    /// <summary>The restore of <see cref="Database"/> from <paramref name="storage"/> equals the source (the agents stopped: all is shipped).</summary>
    protected Task AssertRestoresExactlyAsync(string? storage = null, IReadOnlyDictionary<string, string>? environment = null) =>
        StorageChecks.AssertRestoreMatchesAsync(storage ?? Backup, Database, Dir.File($"restored-{Guid.NewGuid():N}.db"), Dir.Path, environment);

    /// <summary><c>ferry storage verify</c> exits 0: every object reads back and no chain has a gap.</summary>
    protected Task AssertVerifiesAsync(string? storage = null, IReadOnlyDictionary<string, string>? environment = null) =>
        StorageChecks.AssertVerifiesAsync(storage ?? Backup, Dir.Path, environment);
}
