using System.Text;

namespace Ferry.Meta;

/// <summary>A key with its value and etcd-style revisions.</summary>
public sealed record KeyValue(
    string Key,
    ReadOnlyMemory<byte> Value,
    long CreateRevision,
    long ModRevision,
    long Version,
    long LeaseId)
{
    public string ValueString => Encoding.UTF8.GetString(Value.Span);
}

/// <summary>The keys of a range read and the store revision they were read at.</summary>
public sealed record RangeResult(IReadOnlyList<KeyValue> Kvs, long Revision);

public enum CompareTarget
{
    /// <summary>Number of writes to the key since it was created; 0 when it does not exist.</summary>
    Version,

    /// <summary>Revision at which the key was created; 0 when it does not exist.</summary>
    CreateRevision,

    /// <summary>Revision of the key's last write; 0 when it does not exist.</summary>
    ModRevision,

    /// <summary>The key's value, compared byte for byte. A missing key never matches.</summary>
    Value,
}

public enum CompareOp
{
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// <summary>One condition of a transaction.</summary>
public sealed record Compare(string Key, CompareTarget Target, CompareOp Op, long Number = 0, ReadOnlyMemory<byte> Value = default)
{
    /// <summary>Holds when the key does not exist (create-if-absent).</summary>
    public static Compare Absent(string key) => new(key, CompareTarget.CreateRevision, CompareOp.Equal, 0);

    /// <summary>Holds when the key exists.</summary>
    public static Compare Exists(string key) => new(key, CompareTarget.CreateRevision, CompareOp.Greater, 0);

    /// <summary>Holds when the key's last write is at <paramref name="modRevision"/> (compare-and-swap on revision).</summary>
    public static Compare ModRevisionIs(string key, long modRevision) => new(key, CompareTarget.ModRevision, CompareOp.Equal, modRevision);

    /// <summary>Holds when the key holds exactly <paramref name="value"/> (compare-and-swap on value).</summary>
    public static Compare ValueIs(string key, ReadOnlyMemory<byte> value) => new(key, CompareTarget.Value, CompareOp.Equal, 0, value);
}

public enum TxnOpKind
{
    Put,
    Delete,
    DeletePrefix,
    Get,

    /// <summary>A nested transaction: its compares decide which of its branches runs, inside the outer one (etcd 3.3+).</summary>
    Txn,
}

/// <summary>One operation of a transaction. <see cref="Nested"/> is set for <see cref="TxnOpKind.Txn"/> only.</summary>
public sealed record TxnOp(TxnOpKind Kind, string Key, ReadOnlyMemory<byte> Value = default, long LeaseId = 0, TxnRequest? Nested = null)
{
    public static TxnOp Put(string key, ReadOnlyMemory<byte> value, long leaseId = 0) => new(TxnOpKind.Put, key, value, leaseId);

    public static TxnOp Delete(string key) => new(TxnOpKind.Delete, key);

    public static TxnOp DeletePrefix(string prefix) => new(TxnOpKind.DeletePrefix, prefix);

    public static TxnOp Get(string key) => new(TxnOpKind.Get, key);

    /// <summary>
    /// A transaction inside a transaction: it runs only when the outer branch it is in runs, and then one of its own
    /// branches by its own compares, all at the outer transaction's one revision.
    /// </summary>
    public static TxnOp Txn(TxnRequest nested)
    {
        ArgumentNullException.ThrowIfNull(nested);
        return new(TxnOpKind.Txn, "", Nested: nested);
    }
}

/// <summary>A transaction: compares, then the operations run when they all hold, else the failure operations.</summary>
public sealed record TxnRequest(
    IReadOnlyList<Compare> Compares,
    IReadOnlyList<TxnOp> Success,
    IReadOnlyList<TxnOp>? Failure = null);

/// <summary>
/// The outcome of a transaction: whether the compares held, the revision after it, for each
/// <see cref="TxnOpKind.Get"/> of the branch that ran the key read (null when absent), in order, and for each
/// <see cref="TxnOpKind.Txn"/> of that branch its own outcome, in order.
/// </summary>
public sealed record TxnResult(bool Succeeded, long Revision, IReadOnlyList<KeyValue?> Gets, IReadOnlyList<TxnResult>? Txns = null)
{
    /// <summary>The outcomes of the nested transactions of the branch that ran (empty when it had none).</summary>
    public IReadOnlyList<TxnResult> Nested => Txns ?? [];
}

public enum WatchEventType
{
    Put,
    Delete,
}

/// <summary>
/// A change seen by a watch. For a delete, <see cref="KeyValue.Value"/> is empty and
/// <see cref="KeyValue.ModRevision"/> is the revision of the delete.
/// </summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Kv);
