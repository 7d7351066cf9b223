using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// One task's records as this store reads and writes them (DESIGN §3), the agent's side of the task's keys: its
/// pause, this store's checkpoint and LastError, an auto-resume; every write through the fence. (The operator's
/// side is <see cref="TaskControl"/>.) Runners never name a key themselves.
/// <para>
/// Errors (DESIGN §4): <see cref="ReportAndPauseAsync"/> writes the store's LastError and the ERROR pause in one
/// transaction, so a pause never appears without its reason nor a reason without its pause. The error itself was
/// reported (logged and counted) by whoever caught it; recording does not report it again, so one error is one log
/// line and one count. A failure to record is itself reported and counted, and never hides the original.
/// </para>
/// </summary>
internal sealed class TaskStateStore(FencedWriter store, string task, ErrorReporter reporter, TimeProvider time)
{
    private readonly string _pauseKey = store.Keys.Pause(task);
    private readonly string _lastErrorKey = store.Keys.LastError(task, store.StoreId);

    /// <summary>This store's checkpoint key of the task, where the streams' saved positions are.</summary>
    public string CheckpointKey { get; } = store.Keys.Checkpoint(task, store.StoreId);

    /// <summary>The task's pause, or null when it runs.</summary>
    public async Task<PauseValue?> ReadPauseAsync(CancellationToken cancellationToken) =>
        await store.GetAsync(_pauseKey, cancellationToken).ConfigureAwait(false) is { } kv ? MetaJson.Deserialize<PauseValue>(kv) : null;

    /// <summary>Where this store's streams stood when it last ran (a zero checkpoint for none).</summary>
    public async Task<Checkpoint> ReadCheckpointAsync(CancellationToken cancellationToken) =>
        await store.GetAsync(CheckpointKey, cancellationToken).ConfigureAwait(false) is { } kv ? MetaJson.Deserialize<Checkpoint>(kv) : new Checkpoint(0);

    public async Task PublishCheckpointAsync(Checkpoint checkpoint, CancellationToken cancellationToken) =>
        await store.PutAsync(CheckpointKey, MetaJson.Serialize(checkpoint), cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>Whether this store's LastError is there (<c>resume --clear-error</c> deletes it).</summary>
    public async Task<bool> HasLastErrorAsync(CancellationToken cancellationToken) =>
        await store.GetAsync(_lastErrorKey, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Removes the pause and this store's LastError in one transaction, if that LastError is still one of
    /// <paramref name="code"/> and neither changed meanwhile. True when the task is no longer paused.
    /// </summary>
    public async Task<bool> TryAutoResumeAsync(string code, CancellationToken cancellationToken)
    {
        var errorKv = await store.GetAsync(_lastErrorKey, cancellationToken).ConfigureAwait(false);
        if (errorKv is null || MetaJson.Deserialize<LastError>(errorKv).ErrorCode != code) return false;
        var pauseKv = await store.GetAsync(_pauseKey, cancellationToken).ConfigureAwait(false);
        if (pauseKv is null) return true;
        var result = await store.TxnAsync(
            new TxnRequest(
                [Compare.ModRevisionIs(pauseKv.Key, pauseKv.ModRevision), Compare.ModRevisionIs(errorKv.Key, errorKv.ModRevision)],
                [TxnOp.Delete(pauseKv.Key), TxnOp.Delete(errorKv.Key)]),
            cancellationToken).ConfigureAwait(false);
        return result.Succeeded;
    }

    /// <summary>Records <paramref name="error"/> (already reported) and pauses the task. Returns false when recording failed.</summary>
    public Task<bool> ReportAndPauseAsync(FerryException error, CancellationToken cancellationToken = default) =>
        RecordAsync(error, pause: true, cancellationToken);

    /// <summary>Records the LastError of one quarantined stream; the task keeps running.</summary>
    public Task<bool> RecordStreamErrorAsync(FerryException error, CancellationToken cancellationToken = default) =>
        RecordAsync(error, pause: false, cancellationToken);

    private async Task<bool> RecordAsync(FerryException error, bool pause, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var storeId = store.StoreId;
            var lastErrorKey = _lastErrorKey;
            var previous = await store.GetAsync(lastErrorKey, cancellationToken).ConfigureAwait(false);
            var count = 1L;
            if (previous is not null)
            {
                try
                {
                    var old = MetaJson.Deserialize<LastError>(previous);
                    if (old.ErrorCode == error.Code.Code) count = old.Count + 1;
                }
                catch (FerryException corrupt)
                {
                    // A damaged record is replaced by ours; say so rather than failing the report.
                    reporter.Report(corrupt);
                }
            }

            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            // The writer's deploy generation and epoch (DESIGN §3).
            var record = new LastError(
                now, error.Code.Code, error.Message, storeId, store.Token.DeployGeneration, store.Token.Epoch,
                error.Context.ToString() is { Length: > 0 } c ? c : null, count, error.ErrorId);
            var put = TxnOp.Put(lastErrorKey, MetaJson.Serialize(record));
            if (!pause)
            {
                await store.TxnAsync(new TxnRequest([], [put]), cancellationToken).ConfigureAwait(false);
                return true;
            }

            var pauseKey = _pauseKey;
            var pauseValue = new PauseValue(PauseSeverity.Error, now, $"{Environment.MachineName}:{Environment.ProcessId}", error.Message, error.Code.Code);
            // An existing pause (manual, or another store's error) is kept: only the reason is added. Both branches are
            // one transaction with the fence, so an operator's clear-error lands wholly before or after it.
            await store.TxnAsync(
                new TxnRequest([Compare.Absent(pauseKey)], [put, TxnOp.Put(pauseKey, MetaJson.Serialize(pauseValue))], [put]),
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (FerryException failure)
        {
            reporter.ReportRecordingFailed(error, failure);
            return false;
        }
        catch (OperationCanceledException failure) when (!cancellationToken.IsCancellationRequested)
        {
            reporter.ReportRecordingFailed(error, failure);
            return false;
        }
    }
}
