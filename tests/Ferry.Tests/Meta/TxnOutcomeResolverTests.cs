using System.Text;
using Ferry.Etcd.Internal;
using Ferry.Meta;
using Xunit;

namespace Ferry.Tests.Meta;

public sealed class TxnOutcomeResolverTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static KeyValue Kv(string key, string value, long modRevision, long leaseId = 0) =>
        new(key, B(value), 1, modRevision, 2, leaseId);

    private static readonly TxnRequest Cas = new([Compare.ModRevisionIs("/k", 10)], [TxnOp.Put("/k", B("mine"))]);

    [Fact]
    public void Decide_PutValueInPlaceAfterCall_Landed()
    {
        var outcome = TxnOutcomeResolver.Decide(Cas, 12, new Dictionary<string, KeyValue?> { ["/k"] = Kv("/k", "mine", 13) });

        Assert.Equal(TxnOutcomeKind.Landed, outcome.Kind);
        Assert.Equal(13, outcome.Revision);
    }

    [Fact]
    public void Decide_KeyStillAtComparedRevision_NotLanded()
    {
        var outcome = TxnOutcomeResolver.Decide(Cas, 12, new Dictionary<string, KeyValue?> { ["/k"] = Kv("/k", "old", 10) });

        Assert.Equal(TxnOutcomeKind.NotLanded, outcome.Kind);
    }

    [Fact]
    public void Decide_OtherWriterChangedKey_Unknown()
    {
        var outcome = TxnOutcomeResolver.Decide(Cas, 12, new Dictionary<string, KeyValue?> { ["/k"] = Kv("/k", "theirs", 14) });

        Assert.Equal(TxnOutcomeKind.Unknown, outcome.Kind);
    }

    [Fact]
    public void Decide_SameValueButNotNewerThanCall_NotLandedByValueAlone()
    {
        // Our bytes, but written before the call: not our write. The pinned revision moved on, so unknown.
        var outcome = TxnOutcomeResolver.Decide(Cas, 12, new Dictionary<string, KeyValue?> { ["/k"] = Kv("/k", "mine", 11) });

        Assert.Equal(TxnOutcomeKind.Unknown, outcome.Kind);
    }

    [Fact]
    public void Decide_PutsAtDifferentRevisions_Unknown()
    {
        var txn = new TxnRequest([], [TxnOp.Put("/a", B("1")), TxnOp.Put("/b", B("2"))]);

        var outcome = TxnOutcomeResolver.Decide(txn, 5, new Dictionary<string, KeyValue?> { ["/a"] = Kv("/a", "1", 6), ["/b"] = Kv("/b", "2", 7) });

        Assert.Equal(TxnOutcomeKind.Unknown, outcome.Kind);
    }

    [Fact]
    public void Decide_PutWithDifferentLease_NotLanded()
    {
        var txn = new TxnRequest([], [TxnOp.Put("/a", B("1"), leaseId: 7)]);

        var outcome = TxnOutcomeResolver.Decide(txn, 5, new Dictionary<string, KeyValue?> { ["/a"] = Kv("/a", "1", 6, leaseId: 8) });

        Assert.NotEqual(TxnOutcomeKind.Landed, outcome.Kind);
    }

    [Fact]
    public void Decide_CreateIfAbsentStillAbsent_Unknown()
    {
        // Absent could mean "never created" or "created, then deleted by someone": no proof either way.
        var create = new TxnRequest([Compare.Absent("/c")], [TxnOp.Put("/c", B("first"))]);

        var outcome = TxnOutcomeResolver.Decide(create, 5, new Dictionary<string, KeyValue?> { ["/c"] = null });

        Assert.Equal(TxnOutcomeKind.Unknown, outcome.Kind);
    }

    [Fact]
    public void Decide_DeleteOnlyWithPinnedRevisionUnchanged_NotLanded()
    {
        var txn = new TxnRequest([Compare.ModRevisionIs("/d/x", 3)], [TxnOp.DeletePrefix("/d/")]);

        var outcome = TxnOutcomeResolver.Decide(txn, 5, new Dictionary<string, KeyValue?> { ["/d/x"] = Kv("/d/x", "v", 3) });

        Assert.Equal(TxnOutcomeKind.NotLanded, outcome.Kind);
    }

    [Fact]
    public void KeysToRead_PutsAndPinnedKeys_EachOnce()
    {
        var txn = new TxnRequest(
            [Compare.ModRevisionIs("/a", 3), Compare.ValueIs("/v", B("x")), Compare.ModRevisionIs("/p", 4)],
            [TxnOp.Put("/a", B("1")), TxnOp.Put("/b", B("2")), TxnOp.Delete("/p")]);

        Assert.Equal(["/a", "/b", "/p"], TxnOutcomeResolver.KeysToRead(txn));
    }

    [Fact]
    public void Shape_GetAfterOwnWrite_LandedRevisionElseOneBefore()
    {
        var txn = new TxnRequest([], [TxnOp.Get("/x"), TxnOp.Put("/x", B("1")), TxnOp.Get("/x"), TxnOp.Get("/y")]);

        var shape = TxnOutcomeResolver.Shape(txn, 10, []);

        Assert.Equal([9, 10, 9], shape.Gets.Select(g => g.Revision));
    }

    // The fenced writer's shape: the fence compared outside, the caller's transaction nested inside.
    private static TxnRequest Fenced(TxnRequest inner) =>
        new([Compare.ValueIs("/fence", B("token"))], [TxnOp.Txn(inner)], [TxnOp.Get("/fence")]);

    [Fact]
    public void Decide_NestedSuccessBranchInPlace_LandedWithItsBranch()
    {
        var inner = new TxnRequest([Compare.Absent("/pause")], [TxnOp.Put("/err", B("e")), TxnOp.Put("/pause", B("p"))], [TxnOp.Put("/err", B("e"))]);

        var outcome = TxnOutcomeResolver.Decide(Fenced(inner), 5, new Dictionary<string, KeyValue?> { ["/err"] = Kv("/err", "e", 6), ["/pause"] = Kv("/pause", "p", 6) });

        Assert.Equal(TxnOutcomeKind.Landed, outcome.Kind);
        Assert.Equal([true], outcome.Branches!);
    }

    [Fact]
    public void Decide_NestedFailureBranchInPlace_LandedWithTheFailureBranch()
    {
        var inner = new TxnRequest([Compare.Absent("/pause")], [TxnOp.Put("/err", B("e")), TxnOp.Put("/pause", B("p"))], [TxnOp.Put("/err", B("e")), TxnOp.Get("/pause")]);

        var outcome = TxnOutcomeResolver.Decide(Fenced(inner), 5, new Dictionary<string, KeyValue?> { ["/err"] = Kv("/err", "e", 6), ["/pause"] = Kv("/pause", "theirs", 3) });
        var shape = TxnOutcomeResolver.Shape(Fenced(inner), 6, outcome.Branches!);

        Assert.Equal(TxnOutcomeKind.Landed, outcome.Kind);
        Assert.Equal([false], outcome.Branches!);
        Assert.False(shape.Nested.Single().Succeeded);
        Assert.Equal("/pause", shape.Nested.Single().Gets.Single().Key);
    }

    [Fact]
    public void Decide_NestedPinStillInPlace_NotLanded()
    {
        var inner = new TxnRequest([Compare.ModRevisionIs("/pause", 4)], [TxnOp.Delete("/pause")]);

        var outcome = TxnOutcomeResolver.Decide(Fenced(inner), 5, new Dictionary<string, KeyValue?> { ["/pause"] = Kv("/pause", "p", 4) });

        Assert.Equal(TxnOutcomeKind.NotLanded, outcome.Kind);
        Assert.Contains("/pause", TxnOutcomeResolver.KeysToRead(Fenced(inner)));
    }
}
