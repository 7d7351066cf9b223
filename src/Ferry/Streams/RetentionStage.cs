using System.Threading.Channels;
using Ferry.Errors;
using Ferry.Replica;
using Ferry.Retention;
using Ferry.Tasks;

namespace Ferry.Streams;

/// <summary>What shipping wrote: a segment with its header (known without reading it back), or (both null) a new generation.</summary>
internal sealed record ShippedSegment(string? Name, SegmentHeader? Header);

/// <summary>
/// The third stage of a stream (DESIGN §10): the storage lifecycle of its database, run by the process that owns the
/// store, under its fence and guard, as passes of <see cref="ReplicaLifecycle"/> with their own watchdog. It hears
/// from shipping what was written, so an idle database makes no request: a pass runs every
/// <see cref="RetentionPolicy.PassInterval"/> while something was written since the last one, when a planned
/// deletion falls due or a span with objects to pack closes, and once after the stream starts (planning: what an earlier process left). A failed pass is
/// reported and retried at the next interval; it never fails the stream, so shipping goes on. The stage ends when
/// shipping does, abandoning a pass in flight.
/// </summary>
internal sealed class RetentionStage(DatabaseStreamSettings settings, ReplicaWriter writer, ChannelReader<ShippedSegment> shipped, IStreamProgress progress) : IPipelineStage
{
    private readonly RetentionPolicy _policy = settings.Retention ?? throw new ArgumentException("the retention stage needs a policy", nameof(settings));
    private RetentionStatus _status = RetentionStatus.None;

    public string Name => "retention";

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var time = settings.Time;
        var headers = new HeaderCache();
        var lifecycle = new ReplicaLifecycle(settings.Storage, writer.Database, _policy, time, writer, settings.Guard, Published, headers);
        // The first pass comes one interval after the start: planning, to find what an earlier process left.
        DateTimeOffset? scheduled = time.GetUtcNow() + _policy.PassInterval;
        DateTimeOffset? nextDue = null;
        var written = false;
        var lastPass = time.GetUtcNow();

        // A pass in flight is abandoned when shipping ends (a graceful stop must not wait for it). No timer inside,
        // so it needs no disposal: the continuation may still run after this stage returns.
        var ended = new CancellationTokenSource();
        _ = shipped.Completion.ContinueWith(_ => ended.Cancel(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        while (true)
        {
            var passAt = Earliest(scheduled, written ? lastPass + _policy.PassInterval : null, nextDue);
            if (!await WaitAsync(passAt, cancellationToken).ConfigureAwait(false)) return;
            while (shipped.TryRead(out var item))
            {
                written = true;
                if (item is { Name: { } name, Header: { } header }) headers.Add(name, header);
            }

            if (time.GetUtcNow() < passAt) continue;
            written = false;
            lastPass = time.GetUtcNow();
            var (plan, packed) = await PassAsync(lifecycle, ended.Token, cancellationToken).ConfigureAwait(false);
            if (ended.IsCancellationRequested) return;

            // Nothing written and nothing due: no further pass, and no request, until something is. A failed pass
            // is tried again an interval later. Due too: a span that closes with objects to pack, and the segments
            // this pass packed away (they go once the grace period after their pack has passed).
            scheduled = plan is null ? lastPass + _policy.PassInterval : null;
            nextDue = Earliest(plan?.NextDueAt, plan?.NextPackAt, packed ? time.GetUtcNow() + _policy.Grace : null);
        }
    }

    /// <summary>One pass under its own watchdog; the plan it acted on (null when it failed, reported) and whether it packed.</summary>
    private async Task<(RetentionPlan? Plan, bool Packed)> PassAsync(ReplicaLifecycle lifecycle, CancellationToken ended, CancellationToken cancellationToken)
    {
        var context = new ErrorContext(Task: settings.Task, StoreId: settings.StoreId, Database: writer.Database.Path, Operation: "retention pass");
        var startedAt = settings.Time.GetUtcNow();
        using var watchdog = new Watchdog(settings.StallTimeout, settings.Time);
        using var step = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token, ended);
        FerryException failure;
        try
        {
            var result = await lifecycle.RunPassAsync(watchdog.Progress, step.Token).ConfigureAwait(false);
            var plan = result.Plan;
            _status = _status with
            {
                OldestRestorable = plan.OldestRestorable,
                NewestRestorable = plan.NewestRestorable,
                Objects = plan.ObjectCount + result.Packed,
                Bytes = plan.Bytes,
                LastPassAt = startedAt,
                LastSuccessAt = startedAt,
                FailedPasses = 0,
                LastError = null,
                DeletedObjects = _status.DeletedObjects + result.Deleted,
                PackedSegments = _status.PackedSegments + result.PackedSegments,
            };
            progress.Retention(_status, null);
            return (plan, result.Packed > 0);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled })
        {
            throw;
        }
        catch (Exception e) when (ended.IsCancellationRequested && e is OperationCanceledException or FerryException { Class: ErrorClass.Cancelled })
        {
            // Shipping ended (a graceful stop): the pass is abandoned, to be done again by whoever runs next.
            return (null, false);
        }
        catch (FerryException e) when (e.Class is ErrorClass.Fenced or ErrorClass.SessionLost)
        {
            // The guard stopped writing: the stream is being aborted with this error, which it reports.
            throw;
        }
        catch (Exception e) when (watchdog.HasStalled)
        {
            failure = new FerryException(ErrorCodes.RetentionStalled,
                $"the retention pass of {writer.Database.Path} made no progress for {settings.StallTimeout.TotalSeconds:0.#} s and was cancelled; shipping goes on", context, e);
        }
        catch (FerryException e) when (e.Code.Area == "Retention")
        {
            failure = e;
        }
        catch (Exception e)
        {
            var cause = e as FerryException ?? ErrorClassifier.Classify(e, ErrorArea.Storage, context, cancellationToken);
            failure = new FerryException(ErrorCodes.RetentionPassFailed,
                $"the retention pass of {writer.Database.Path} failed ({cause.ToOneLine()}); shipping goes on, and storage grows until a pass succeeds", context, cause);
        }

        _status = _status with { LastPassAt = startedAt, FailedPasses = _status.FailedPasses + 1, LastError = failure };
        progress.Retention(_status, failure);
        return (null, false);
    }

    private PublishedPosition? Published()
    {
        var position = StreamPosition.Parse(progress.PublishedPosition, out _);
        return position is not null && GenerationId.TryParse(position.Generation, out var generation) ? new PublishedPosition(generation, position.NextIndex) : null;
    }

    /// <summary>Waits until <paramref name="until"/> or news from shipping; false once shipping has ended and everything it said was read.</summary>
    private async Task<bool> WaitAsync(DateTimeOffset until, CancellationToken cancellationToken)
    {
        var wait = until - settings.Time.GetUtcNow();
        if (wait <= TimeSpan.Zero) return !shipped.Completion.IsCompleted || shipped.TryPeek(out _);
        using var timer = wait >= TimeSpan.FromDays(30) ? new CancellationTokenSource() : new CancellationTokenSource(wait, settings.Time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            return await shipped.WaitToReadAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return true;
        }
    }

    private static DateTimeOffset Earliest(params DateTimeOffset?[] times) => times.OfType<DateTimeOffset>().DefaultIfEmpty(DateTimeOffset.MaxValue).Min();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
