using Ferry.Meta;

namespace Ferry.Etcd.Internal;

internal enum TxnOutcomeKind
{
    /// <summary>The success branch provably applied, at <see cref="TxnOutcome.Revision"/>.</summary>
    Landed,

    /// <summary>The transaction provably did not apply: sending it again is safe.</summary>
    NotLanded,

    /// <summary>Nothing can be proven either way.</summary>
    Unknown,
}

internal readonly record struct TxnOutcome(TxnOutcomeKind Kind, long Revision, string Reason);

/// <summary>
/// Decides, from a read-back after a transaction whose answer was lost, whether it applied (DESIGN §4: a
/// conditional write with an unknown outcome is read back, never retried blindly). Pure, so it is unit-tested alone.
/// <para>
/// Landed: the success branch has puts, and every put key now holds exactly the bytes and lease written, all at
/// one mod revision newer than any revision seen before the call (one transaction writes at one revision).
/// This relies on Ferry's values carrying the writer's identity and an operation id, so another writer never
/// puts byte-identical values.
/// </para>
/// <para>
/// Not landed: a compare requires a key's mod revision to equal r &gt; 0, the success branch writes that key,
/// and the key's mod revision is still r. Mod revisions only grow, so the write never happened.
/// </para>
/// </summary>
internal static class TxnOutcomeResolver
{
    /// <summary>The keys whose current state <see cref="Decide"/> needs, read together in one snapshot.</summary>
    public static IReadOnlyList<string> KeysToRead(TxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var keys = new List<string>();
        foreach (var op in request.Success)
        {
            if (op.Kind == TxnOpKind.Put && !keys.Contains(op.Key)) keys.Add(op.Key);
        }

        foreach (var compare in request.Compares)
        {
            if (IsRevisionPin(compare) && !keys.Contains(compare.Key)) keys.Add(compare.Key);
        }

        return keys;
    }

    public static TxnOutcome Decide(TxnRequest request, long revisionBeforeCall, IReadOnlyDictionary<string, KeyValue?> current)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(current);

        var landed = ProveLanded(request, revisionBeforeCall, current);
        if (landed is { } revision) return new TxnOutcome(TxnOutcomeKind.Landed, revision, $"every put of the transaction is in place at revision {revision}");

        foreach (var compare in request.Compares)
        {
            if (IsRevisionPin(compare)
                && Writes(request.Success, compare.Key)
                && current.GetValueOrDefault(compare.Key) is { } kv
                && kv.ModRevision == compare.Number)
            {
                return new TxnOutcome(TxnOutcomeKind.NotLanded, 0, $"{compare.Key} is still at mod revision {compare.Number}, which the transaction would have changed");
            }
        }

        return new TxnOutcome(TxnOutcomeKind.Unknown, 0, "the read-back neither shows the transaction's writes nor proves they are absent");
    }

    /// <summary>
    /// The revision at which to read the <c>Get</c> at <paramref name="opIndex"/> of a success branch that landed at
    /// <paramref name="landedRevision"/>: inside a transaction a get sees the writes made before it in the branch.
    /// </summary>
    public static long ReadRevisionForGet(TxnRequest request, int opIndex, long landedRevision)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = request.Success[opIndex].Key;
        return Writes(request.Success.Take(opIndex), key) ? landedRevision : landedRevision - 1;
    }

    private static long? ProveLanded(TxnRequest request, long revisionBeforeCall, IReadOnlyDictionary<string, KeyValue?> current)
    {
        long? revision = null;
        foreach (var op in request.Success)
        {
            if (op.Kind != TxnOpKind.Put) continue;
            if (current.GetValueOrDefault(op.Key) is not { } kv) return null;
            if (!kv.Value.Span.SequenceEqual(op.Value.Span) || kv.LeaseId != op.LeaseId) return null;
            if (kv.ModRevision <= revisionBeforeCall) return null;
            if (revision is not null && revision != kv.ModRevision) return null;
            revision = kv.ModRevision;
        }

        return revision;
    }

    private static bool IsRevisionPin(Compare compare) =>
        compare is { Target: CompareTarget.ModRevision, Op: CompareOp.Equal, Number: > 0 };

    private static bool Writes(IEnumerable<TxnOp> ops, string key) => ops.Any(op => op.Kind switch
    {
        TxnOpKind.Put or TxnOpKind.Delete => op.Key == key,
        TxnOpKind.DeletePrefix => key.StartsWith(op.Key, StringComparison.Ordinal),
        _ => false,
    });
}
