using Ferry.Errors;
using Ferry.Etcd.Internal;
using Ferry.Meta;
using Rpc = Etcdserverpb;

namespace Ferry.Etcd;

public sealed partial class EtcdMetaStore
{
    /// <summary>
    /// Runs a transaction, never resending it blindly. When the answer is lost (connection broke, deadline hit)
    /// the keys it touches are read back (<see cref="TxnOutcomeResolver"/>): provably applied returns success;
    /// provably not applied sends it once more while the deadline allows, else throws the transient error
    /// (<c>FERRY:Meta:Unavailable</c>/<c>Timeout</c> from this method mean "did not apply"); anything else is
    /// <c>FERRY:Meta:OutcomeUnknown</c>. A caller's cancellation mid-call leaves the outcome unknown too, and is
    /// reported as <see cref="ErrorCodes.Cancelled"/>.
    /// </summary>
    public async Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = Context($"txn {string.Join(',', request.Success.Select(op => op.Key).Distinct())}");
        var message = EtcdMapping.Txn(request);
        using var scope = new CallScope(this, cancellationToken);
        var resent = false;
        var renewed = false;
        var attempt = 0;
        while (true)
        {
            var revisionBeforeCall = Volatile.Read(ref _lastRevision);
            var token = Volatile.Read(ref _token);
            FerryException? error;
            bool notSent;
            try
            {
                var response = await _client.TransactionAsync(message, null, scope.DeadlineUtc, scope.Token);
                Observe(response.Header);
                return EtcdMapping.ToTxnResult(response);
            }
            catch (Exception e)
            {
                // etcd checks the token before it proposes the transaction: refused for it, nothing applied.
                error = await RenewTokenOrClassifyAsync(e, token, renewed, scope, context);
                notSent = EtcdErrorClassifier.WasNotSent(e);
            }

            if (error is null)
            {
                renewed = true;
                continue;
            }

            // The server answered with an error (nothing applied) or the caller gave up: nothing to resolve.
            if (error.Class != ErrorClass.Transient) throw error;

            // No connection at all: it never left, so wait for etcd and send it again; out of time, it did not apply.
            if (notSent)
            {
                await scope.BackOffAsync(attempt++, error);
                continue;
            }

            var (outcome, result) = await ResolveAsync(request, revisionBeforeCall, scope, error, attempt);
            attempt++;
            switch (outcome.Kind)
            {
                case TxnOutcomeKind.Landed:
                    return result!;
                case TxnOutcomeKind.NotLanded when !resent:
                    resent = true;
                    continue;
                case TxnOutcomeKind.NotLanded:
                    throw error;
                default:
                    throw new FerryException(
                        ErrorCodes.MetaOutcomeUnknown,
                        $"the transaction's answer was lost ({error.Code}: {error.Message}) and reading back could not tell whether it applied: {outcome.Reason}",
                        context,
                        error);
            }
        }
    }

    /// <summary>Reads back what a transaction with a lost answer touched, retrying reads until the deadline.</summary>
    private async Task<(TxnOutcome Outcome, TxnResult? Result)> ResolveAsync(
        TxnRequest request, long revisionBeforeCall, CallScope scope, FerryException txnError, int attempt)
    {
        var keys = TxnOutcomeResolver.KeysToRead(request);
        if (keys.Count == 0) return (new TxnOutcome(TxnOutcomeKind.Unknown, 0, "the transaction puts nothing and pins no revision"), null);

        var renewed = false;
        while (true)
        {
            await scope.BackOffAsync(attempt++, Unresolved(txnError));
            var token = Volatile.Read(ref _token);
            try
            {
                var current = await ReadSnapshotAsync(keys, scope);
                var outcome = TxnOutcomeResolver.Decide(request, revisionBeforeCall, current);
                if (outcome.Kind != TxnOutcomeKind.Landed) return (outcome, null);
                return (outcome, await LandedResultAsync(request, outcome, scope));
            }
            catch (Exception e)
            {
                // The answer was lost to an etcd restart, which also forgot the token: log in again to read back.
                var readError = await RenewTokenOrClassifyAsync(e, token, renewed, scope, txnError.Context);
                if (readError is null)
                {
                    renewed = true;
                    continue;
                }

                if (readError.Class != ErrorClass.Transient)
                {
                    var unknown = Unresolved(txnError);
                    unknown.AddSuppressed(readError);
                    throw unknown;
                }
            }
        }
    }

    private static FerryException Unresolved(FerryException txnError) => new(
        ErrorCodes.MetaOutcomeUnknown,
        $"the transaction's answer was lost ({txnError.Code}: {txnError.Message}) and etcd could not be read back in time to tell whether it applied",
        txnError.Context,
        txnError);

    /// <summary>Reads <paramref name="keys"/> in one read-only transaction, so they come from one revision.</summary>
    private async Task<Dictionary<string, KeyValue?>> ReadSnapshotAsync(IReadOnlyList<string> keys, CallScope scope)
    {
        var read = new Rpc.TxnRequest();
        foreach (var key in keys) read.Success.Add(new Rpc.RequestOp { RequestRange = EtcdMapping.Get(key) });
        var response = await _client.TransactionAsync(read, null, scope.DeadlineUtc, scope.Token);
        Observe(response.Header);
        var current = new Dictionary<string, KeyValue?>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            var kvs = response.Responses[i].ResponseRange.Kvs;
            current[keys[i]] = kvs.Count == 0 ? null : EtcdMapping.ToKeyValue(kvs[0]);
        }

        return current;
    }

    /// <summary>Rebuilds the result of a success branch that landed: its gets are read at the revisions they saw.</summary>
    private async Task<TxnResult> LandedResultAsync(TxnRequest request, TxnOutcome outcome, CallScope scope)
    {
        async Task<TxnResult> BuildAsync(LandedShape shape)
        {
            var gets = new List<KeyValue?>();
            foreach (var read in shape.Gets)
            {
                var get = EtcdMapping.Get(read.Key);
                get.Revision = read.Revision;
                var response = await _client.GetAsync(get, null, scope.DeadlineUtc, scope.Token);
                gets.Add(response.Kvs.Count == 0 ? null : EtcdMapping.ToKeyValue(response.Kvs[0]));
            }

            var nested = new List<TxnResult>();
            foreach (var inner in shape.Nested) nested.Add(await BuildAsync(inner));
            return new TxnResult(shape.Succeeded, outcome.Revision, gets, nested);
        }

        return await BuildAsync(TxnOutcomeResolver.Shape(request, outcome.Revision, outcome.Branches ?? []));
    }
}
