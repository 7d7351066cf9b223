using Ferry.Coordination;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;
using Ferry.Streams;
using Ferry.Tasks;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Wiring;

/// <summary>
/// An agent and one task in this process, as `ferry replicate` and `ferry demo` run them: the task is recorded,
/// the store registered under a lease, and the same <see cref="TaskRunner"/> the agent uses ships the databases.
/// </summary>
internal sealed class LocalReplication : IAsyncDisposable
{
    private readonly StoreRegistration _registration;
    private readonly WriteGuard _guard;
    private readonly CancellationTokenSource _running;
    private readonly RunnerMetrics _metrics;

    private LocalReplication(StoreRegistration registration, WriteGuard guard, CancellationTokenSource running, TaskRunner runner, RunnerMetrics metrics, Task run)
    {
        _registration = registration;
        _guard = guard;
        _running = running;
        Runner = runner;
        _metrics = metrics;
        Run = run;
    }

    public TaskRunner Runner { get; }

    /// <summary>Ends when the runner stops: on <see cref="StopAsync"/>, on the caller's token, or when the session is lost.</summary>
    public Task Run { get; }

    public bool SessionLost => _registration.Lost.IsCancellationRequested;

    public static async Task<LocalReplication> StartAsync(
        IMetaStore meta,
        TaskDefinition definition,
        long storeId,
        IObjectStorage storage,
        ErrorReporter reporter,
        FerryMetrics metrics,
        TextWriter output,
        CancellationToken cancellationToken,
        ILogger? logger = null)
    {
        var keys = new MetaKeys();
        var address = CommandRunner.OperatorId();
        void Standby(StoreRecord holder) => output.WriteLine(
            $"standby: store {storeId} is held by {holder.Address}; waiting for it to stop (Ctrl-C to give up). "
            + "To replicate other databases beside it, give this one its own --store-id and --task.");

        // The fence first, as an agent takes it (DESIGN §5): the runner writes only through the guard, and the
        // generations it starts carry the token.
        var fenced = await Fence.AcquireAsync(
            meta, keys, storeId, 0, new FenceOptions { Address = address, Reporter = reporter, Waiting = (holder, _) => Standby(holder) }, cancellationToken);
        var token = fenced.Token;
        // Re-running the same command continues the same task: its definition is refreshed, its pause and
        // checkpoint are kept.
        await fenced.PutAsync(keys.Task(definition.Name), MetaJson.Serialize(definition), cancellationToken: cancellationToken);
        var record = new StoreRecord(address, ThisAssembly.Version, 0, token.Epoch, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var registration = await StoreRegistration.RegisterAsync(
            fenced, record, reporter, TimeProvider.System, standby: true, waiting: Standby, cancellationToken: cancellationToken);
        var running = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, registration.Lost);
        var guard = new WriteGuard(fenced, registration, reporter, TimeProvider.System);
        var settings = new DatabaseStreamSettings
        {
            Storage = storage,
            StoreId = storeId,
            Fence = token,
            Guard = guard,
            FlushInterval = TimeSpan.FromMilliseconds(definition.FlushIntervalMs),
            Task = definition.Name,
        };
        var runner = new TaskRunner(definition, fenced, DatabaseStream.Body(settings), TaskRunnerOptions.For(definition), reporter, TimeProvider.System, logger);
        var runnerMetrics = new RunnerMetrics(runner, metrics);
        var run = runner.RunAsync(running.Token);
        return new LocalReplication(registration, guard, running, runner, runnerMetrics, run);
    }

    /// <summary>Stops the runner (every stream ships what it captured) and waits for it.</summary>
    public async Task StopAsync()
    {
        await _running.CancelAsync();
        await Run;
    }

    /// <summary>Throws when the run ended because the store's registration was lost rather than by request.</summary>
    public void ThrowIfSessionLost(long storeId, string where)
    {
        if (SessionLost)
        {
            throw new FerryException(ErrorCodes.MetaSessionExpired, $"store {storeId} lost its registration in {where}; start again");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            // Released even when the run ended in an error the caller is about to report.
            _metrics.Dispose();
            _guard.Dispose();
            await _registration.DisposeAsync();
            _running.Dispose();
        }
    }
}
