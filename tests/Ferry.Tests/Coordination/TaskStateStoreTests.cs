using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Meta;

namespace Ferry.Tests.Coordination;

/// <summary>Recording a task's error under the fence, on a real embedded store: a pause and its reason are one write.</summary>
public sealed class TaskStateStoreTests() : EmbeddedStoreTest("recorder")
{
    private const long StoreId = 3;

    [Fact]
    public async Task ReportAndPause_ClearErrorLandsRightAfterTheRecord_NeverLeavesAnErrorWithoutItsPause()
    {
        // Regression: the guard ran a transaction's failure branch as a second transaction. Another store's error had
        // paused the task, so our compare (no pause yet) failed; in the gap before the second write, the operator's
        // resume --clear-error removed the pause and the errors, and our LastError then landed with no pause.
        var control = new TaskControl(Store, Keys, TimeProvider.System);
        await control.StartAsync(new TaskDefinition("t", ["/db/*.db"], "file:///b", 1000, 1));
        await Store.PutAsync(Keys.Pause("t"), MetaJson.Serialize(new PauseValue(PauseSeverity.Error, 1, "other:1", "disk full", "FERRY:Storage:QuotaExceeded")));
        var racing = new ClearErrorAfterFirstRecord(Store, Keys, control);
        var writer = await Fence.AcquireAsync(racing, Keys, StoreId, 0);
        var recorder = new TaskStateStore(writer, "t", Reporter(), TimeProvider.System);

        var recorded = await recorder.ReportAndPauseAsync(new FerryException(ErrorCodes.StorageQuotaExceeded, "disk full here too"));

        Assert.True(recorded);
        Assert.True(racing.Cleared);
        var pause = await Store.GetAsync(Keys.Pause("t"));
        var error = await Store.GetAsync(Keys.LastError("t", StoreId));
        Assert.True(pause is not null || error is null, "a LastError without its pause");
    }

    [Fact]
    public async Task ReportAndPause_NoPauseYet_WritesTheErrorAndTheErrorPauseAtOneRevision()
    {
        var writer = await Fence.AcquireAsync(Store, Keys, StoreId, 2);
        var recorder = new TaskStateStore(writer, "t", Reporter(), TimeProvider.System);

        await recorder.ReportAndPauseAsync(new FerryException(ErrorCodes.StoragePermissionDenied, "read-only"));

        var pause = (await Store.GetAsync(Keys.Pause("t")))!;
        var error = (await Store.GetAsync(Keys.LastError("t", StoreId)))!;
        Assert.Equal(pause.ModRevision, error.ModRevision);
        Assert.Equal(PauseSeverity.Error, MetaJson.Deserialize<PauseValue>(pause).Severity);
        var record = MetaJson.Deserialize<LastError>(error);
        Assert.Equal((2L, 1L), (record.Generation, record.Epoch));
    }

    /// <summary>The real store, where the operator's <c>resume --clear-error</c> runs right after the first transaction that records an error.</summary>
    private sealed class ClearErrorAfterFirstRecord(IMetaStore inner, MetaKeys keys, TaskControl control) : DelegatingMetaStore(inner)
    {
        public bool Cleared { get; private set; }

        public override async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
        {
            var result = await Inner.TxnAsync(request, cancellationToken);
            if (!Cleared && Touches(request, keys.LastError("t", StoreId)))
            {
                Cleared = true;
                await control.ResumeAsync("t", clearError: true, cancellationToken);
            }

            return result;
        }

        private static bool Touches(TxnRequest request, string key) =>
            new[] { request.Success, request.Failure ?? [] }.SelectMany(ops => ops).Any(op => op.Key == key || (op.Nested is { } nested && Touches(nested, key)));
    }
}
