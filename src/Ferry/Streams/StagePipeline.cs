using Ferry.Errors;

namespace Ferry.Streams;

/// <summary>
/// One stage of a stream pipeline (capture, ship, …). Stages run concurrently and hand work downstream through
/// bounded channels. The first stage is the source: it is the only one that sees the graceful stop, and on stop
/// it completes its output so every later stage drains what it was given and returns. Every stage sees abort
/// (a failure elsewhere, a drain past its deadline, or an abort asked for).
/// </summary>
internal interface IPipelineStage : IAsyncDisposable
{
    string Name { get; }

    /// <summary>
    /// Runs the stage to its end. Must complete its output (if any) on every path, so the next stage ends too.
    /// A failure is thrown as a <see cref="FerryException"/>.
    /// </summary>
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Runs a pipeline with Drill's failure discipline (DESIGN §7): the first error wins, the other stages are
/// cancelled, then every stage is closed from the top down whatever state it is in, with close-time failures
/// attached to the first error as suppressed. Nothing a stage holds survives <see cref="RunAsync"/>.
/// </summary>
internal static class StagePipeline
{
    /// <summary>
    /// Runs <paramref name="stages"/> (source first) until the source ends (on <paramref name="stop"/>, a graceful
    /// stop: everything already captured is shipped) or a stage fails. Throws the first failure.
    /// A graceful stop drains for at most <paramref name="drainTimeout"/> (unbounded when null); then every stage is
    /// aborted, so a stage stuck in a call that never returns (a hung storage put) can't keep the stream alive.
    /// <paramref name="abortNow"/> aborts every stage at once, without draining (the writer was fenced out): the
    /// stages end as they are, which is not a failure.
    /// </summary>
    public static async Task RunAsync(IReadOnlyList<IPipelineStage> stages, CancellationToken stop, TimeSpan? drainTimeout = null, CancellationToken abortNow = default)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Count == 0) throw new ArgumentException("a pipeline needs at least one stage", nameof(stages));

        using var abort = CancellationTokenSource.CreateLinkedTokenSource(abortNow);
        using var sourceToken = CancellationTokenSource.CreateLinkedTokenSource(stop, abort.Token);
        using var drainDeadline = drainTimeout is { } timeout ? stop.Register(() => abort.CancelAfter(timeout)) : default;
        var failure = new FirstFailure();

        var running = new Task[stages.Count];
        for (var i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            var token = i == 0 ? sourceToken.Token : abort.Token;
            running[i] = Task.Run(() => RunStageAsync(stage, token, stop, abort, failure), CancellationToken.None);
        }

        await Task.WhenAll(running).ConfigureAwait(false);

        foreach (var stage in stages)
        {
            try
            {
                await stage.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failure.Record(AsFerry(e, stage, "close"));
            }
        }

        if (failure.First is { } first) throw first;
    }

    private static async Task RunStageAsync(
        IPipelineStage stage,
        CancellationToken token,
        CancellationToken stop,
        CancellationTokenSource abort,
        FirstFailure failure)
    {
        try
        {
            await stage.RunAsync(token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled }
                                  && (abort.IsCancellationRequested || stop.IsCancellationRequested))
        {
            // Cancelled because another stage failed, or the source was asked to stop: a consequence, not an error.
            // Also when a callee classified the cancellation (a storage put stopped mid-way is FERRY:Op:Cancelled).
        }
        catch (Exception e)
        {
            failure.Record(AsFerry(e, stage, "run"));
            await abort.CancelAsync().ConfigureAwait(false);
        }
    }

    private static FerryException AsFerry(Exception e, IPipelineStage stage, string phase) => e as FerryException
        ?? new FerryException(
            ErrorCodes.Internal,
            $"stage {stage.Name} failed to {phase} with an unclassified {e.GetType().Name}: {e.Message}",
            new ErrorContext(Operation: $"{stage.Name}.{phase}"),
            e);

    /// <summary>Keeps the first failure (Npgsql's Break()); later ones become its suppressed errors.</summary>
    private sealed class FirstFailure
    {
        private FerryException? _first;

        public FerryException? First => Volatile.Read(ref _first);

        public void Record(FerryException error)
        {
            var previous = Interlocked.CompareExchange(ref _first, error, null);
            previous?.AddSuppressed(error);
        }
    }
}
