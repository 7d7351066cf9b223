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

/// <summary>
/// A decision. For <see cref="TxnOutcomeKind.Landed"/>, <see cref="Branches"/> says which branch each nested
/// transaction of the success branch took, depth first (true: its success branch).
/// </summary>
internal readonly record struct TxnOutcome(TxnOutcomeKind Kind, long Revision, string Reason, IReadOnlyList<bool>? Branches = null);

/// <summary>Where to read one get of a landed transaction, so its result can be rebuilt as the server would have given it.</summary>
internal sealed record LandedRead(string Key, long Revision);

/// <summary>The shape of a landed branch: its gets to read, and the branch each nested transaction took with its own shape.</summary>
internal sealed record LandedShape(bool Succeeded, IReadOnlyList<LandedRead> Gets, IReadOnlyList<LandedShape> Nested);

/// <summary>
/// Decides, from a read-back after a transaction whose answer was lost, whether it applied (DESIGN §4: a
/// conditional write with an unknown outcome is read back, never retried blindly). Pure, so it is unit-tested alone.
/// <para>
/// Landed: one way the success branch could have run (each nested transaction taking one of its branches) has
/// puts, and every one of those keys now holds exactly the bytes and lease written, all at one mod revision newer
/// than any revision seen before the call (one transaction writes at one revision). When several ways fit, the one
/// with the most puts is the one that ran. This relies on Ferry's values carrying the writer's identity and an
/// operation id, so another writer never puts byte-identical values.
/// </para>
/// <para>
/// Not landed: a compare requires a key's mod revision to equal r &gt; 0, the branch it guards writes that key,
/// and the key's mod revision is still r. Mod revisions only grow, so the write never happened. The compare may be
/// the transaction's own, or that of a nested transaction its success branch always runs.
/// </para>
/// </summary>
internal static class TxnOutcomeResolver
{
    /// <summary>The keys whose current state <see cref="Decide"/> needs, read together in one snapshot.</summary>
    public static IReadOnlyList<string> KeysToRead(TxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var keys = new List<string>();
        void Add(string key)
        {
            if (!keys.Contains(key)) keys.Add(key);
        }

        void Visit(IReadOnlyList<TxnOp> ops)
        {
            foreach (var op in ops)
            {
                if (op.Kind == TxnOpKind.Put) Add(op.Key);
                if (op is { Kind: TxnOpKind.Txn, Nested: { } nested })
                {
                    Visit(nested.Success);
                    Visit(nested.Failure ?? []);
                }
            }
        }

        Visit(request.Success);
        foreach (var (compare, _) in Pins(request)) Add(compare.Key);
        return keys;
    }

    public static TxnOutcome Decide(TxnRequest request, long revisionBeforeCall, IReadOnlyDictionary<string, KeyValue?> current)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(current);

        foreach (var run in Runs(request.Success).OrderByDescending(r => r.Puts.Count))
        {
            if (ProveLanded(run.Puts, revisionBeforeCall, current) is { } revision)
            {
                return new TxnOutcome(TxnOutcomeKind.Landed, revision, $"every put of the transaction is in place at revision {revision}", run.Branches);
            }
        }

        foreach (var (compare, guarded) in Pins(request))
        {
            if (Writes(guarded, compare.Key) && current.GetValueOrDefault(compare.Key) is { } kv && kv.ModRevision == compare.Number)
            {
                return new TxnOutcome(TxnOutcomeKind.NotLanded, 0, $"{compare.Key} is still at mod revision {compare.Number}, which the transaction would have changed");
            }
        }

        return new TxnOutcome(TxnOutcomeKind.Unknown, 0, "the read-back neither shows the transaction's writes nor proves they are absent");
    }

    /// <summary>
    /// The gets to read, and where, to rebuild the result of a success branch that landed at
    /// <paramref name="landedRevision"/> taking <paramref name="branches"/>: inside a transaction a get sees the writes
    /// made before it in the branch, and nothing else of the transaction.
    /// </summary>
    public static LandedShape Shape(TxnRequest request, long landedRevision, IReadOnlyList<bool> branches)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(branches);
        var next = 0;
        var written = new List<TxnOp>();
        LandedShape Walk(bool succeeded, IReadOnlyList<TxnOp> ops)
        {
            var gets = new List<LandedRead>();
            var nested = new List<LandedShape>();
            foreach (var op in ops)
            {
                switch (op.Kind)
                {
                    case TxnOpKind.Get:
                        gets.Add(new LandedRead(op.Key, Writes(written, op.Key) ? landedRevision : landedRevision - 1));
                        break;
                    case TxnOpKind.Txn when op.Nested is { } inner:
                        var branch = branches[next++];
                        nested.Add(Walk(branch, (branch ? inner.Success : inner.Failure) ?? []));
                        break;
                    default:
                        written.Add(op);
                        break;
                }
            }

            return new LandedShape(succeeded, gets, nested);
        }

        return Walk(true, request.Success);
    }

    /// <summary>Each way <paramref name="ops"/> could have run: the puts it made and the branch each nested transaction took, depth first.</summary>
    private static IEnumerable<(List<TxnOp> Puts, List<bool> Branches)> Runs(IReadOnlyList<TxnOp> ops)
    {
        IEnumerable<(List<TxnOp> Puts, List<bool> Branches)> runs = [([.. ops.Where(op => op.Kind == TxnOpKind.Put)], [])];
        foreach (var op in ops)
        {
            if (op is not { Kind: TxnOpKind.Txn, Nested: { } nested }) continue;
            runs = runs.SelectMany(run => new[] { true, false }.SelectMany(branch =>
                Runs((branch ? nested.Success : nested.Failure) ?? []).Select(inner =>
                    (Puts: (List<TxnOp>)[.. run.Puts, .. inner.Puts], Branches: (List<bool>)[.. run.Branches, branch, .. inner.Branches]))));
        }

        return runs;
    }

    /// <summary>Revision pins that must have held for a write to happen, each with the operations it guards.</summary>
    private static IEnumerable<(Compare Compare, IReadOnlyList<TxnOp> Guarded)> Pins(TxnRequest request)
    {
        foreach (var compare in request.Compares.Where(IsRevisionPin)) yield return (compare, request.Success);
        foreach (var op in request.Success)
        {
            if (op is not { Kind: TxnOpKind.Txn, Nested: { } nested }) continue;
            foreach (var compare in nested.Compares.Where(IsRevisionPin)) yield return (compare, nested.Success);
        }
    }

    private static long? ProveLanded(List<TxnOp> puts, long revisionBeforeCall, IReadOnlyDictionary<string, KeyValue?> current)
    {
        long? revision = null;
        foreach (var op in puts)
        {
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
