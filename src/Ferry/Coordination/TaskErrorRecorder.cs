using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;

namespace Ferry.Coordination;

/// <summary>
/// Records a task's errors in the metadata store (DESIGN §3, §4). <see cref="ReportAndPauseAsync"/> writes the
/// store's LastError and the ERROR pause in one transaction, so a pause never appears without its reason nor a
/// reason without its pause. The error itself was reported (logged and counted) by whoever caught it, the stream
/// supervisor; recording does not report it again, so one error is one log line and one count. A failure to record
/// is itself reported and counted, and never hides the original.
/// </summary>
internal sealed class TaskErrorRecorder(FencedWriter store, ErrorReporter reporter, TimeProvider time)
{
    /// <summary>Records <paramref name="error"/> (already reported) and pauses the task. Returns false when recording failed.</summary>
    public Task<bool> ReportAndPauseAsync(string task, FerryException error, CancellationToken cancellationToken = default) =>
        RecordAsync(task, error, pause: true, cancellationToken);

    /// <summary>Records the LastError of one quarantined stream; the task keeps running.</summary>
    public Task<bool> RecordStreamErrorAsync(string task, FerryException error, CancellationToken cancellationToken = default) =>
        RecordAsync(task, error, pause: false, cancellationToken);

    private async Task<bool> RecordAsync(string task, FerryException error, bool pause, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var keys = store.Keys;
            var storeId = store.StoreId;
            var lastErrorKey = keys.LastError(task, storeId);
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

            var pauseKey = keys.Pause(task);
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
