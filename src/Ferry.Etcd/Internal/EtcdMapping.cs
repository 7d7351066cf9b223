using Ferry.Meta;
using Google.Protobuf;
using Rpc = Etcdserverpb;

namespace Ferry.Etcd.Internal;

/// <summary>Conversions between Ferry's metadata types and etcd's protobuf messages. Values stay bytes throughout.</summary>
internal static class EtcdMapping
{
    private static readonly ByteString AllKeysFrom = ByteString.CopyFrom(0);

    public static ByteString Key(string key) => ByteString.CopyFromUtf8(key);

    /// <summary>
    /// The end of the key range holding every key that starts with <paramref name="prefix"/>: the prefix with its
    /// last byte below 0xff incremented and the rest dropped (etcd's GetPrefixRangeEnd, on bytes, not chars).
    /// </summary>
    public static ByteString PrefixEnd(string prefix)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }

        // An empty prefix, or one of 0xff bytes only: every key from the prefix on.
        return AllKeysFrom;
    }

    public static KeyValue ToKeyValue(Mvccpb.KeyValue kv) => new(
        kv.Key.ToStringUtf8(),
        kv.Value.ToByteArray(),
        kv.CreateRevision,
        kv.ModRevision,
        kv.Version,
        kv.Lease);

    public static Rpc.RangeRequest Get(string key) => new() { Key = Key(key) };

    public static Rpc.RangeRequest Range(string prefix) => new() { Key = Key(prefix), RangeEnd = PrefixEnd(prefix) };

    public static Rpc.PutRequest Put(string key, ReadOnlyMemory<byte> value, long leaseId) =>
        new() { Key = Key(key), Value = ByteString.CopyFrom(value.Span), Lease = leaseId };

    public static Rpc.DeleteRangeRequest Delete(string key) => new() { Key = Key(key) };

    public static Rpc.DeleteRangeRequest DeletePrefix(string prefix) => new() { Key = Key(prefix), RangeEnd = PrefixEnd(prefix) };

    public static Rpc.TxnRequest Txn(TxnRequest request)
    {
        var txn = new Rpc.TxnRequest();
        foreach (var compare in request.Compares) txn.Compare.Add(ToCompare(compare));
        foreach (var op in request.Success) txn.Success.Add(ToRequestOp(op));
        foreach (var op in request.Failure ?? []) txn.Failure.Add(ToRequestOp(op));
        return txn;
    }

    public static TxnResult ToTxnResult(Rpc.TxnResponse response) => ToTxnResult(response, response.Header.Revision);

    /// <summary>A nested transaction's response has no header of its own: it ran at the outer one's revision.</summary>
    private static TxnResult ToTxnResult(Rpc.TxnResponse response, long revision)
    {
        var gets = new List<KeyValue?>();
        var nested = new List<TxnResult>();
        foreach (var op in response.Responses)
        {
            switch (op.ResponseCase)
            {
                case Rpc.ResponseOp.ResponseOneofCase.ResponseRange:
                    gets.Add(op.ResponseRange.Kvs.Count == 0 ? null : ToKeyValue(op.ResponseRange.Kvs[0]));
                    break;
                case Rpc.ResponseOp.ResponseOneofCase.ResponseTxn:
                    nested.Add(ToTxnResult(op.ResponseTxn, revision));
                    break;
            }
        }

        return new TxnResult(response.Succeeded, revision, gets, nested);
    }

    private static Rpc.Compare ToCompare(Compare compare)
    {
        var result = new Rpc.Compare
        {
            Key = Key(compare.Key),
            Result = compare.Op switch
            {
                CompareOp.Equal => Rpc.Compare.Types.CompareResult.Equal,
                CompareOp.NotEqual => Rpc.Compare.Types.CompareResult.NotEqual,
                CompareOp.Greater => Rpc.Compare.Types.CompareResult.Greater,
                CompareOp.Less => Rpc.Compare.Types.CompareResult.Less,
                _ => throw new ArgumentOutOfRangeException(nameof(compare), compare.Op, "unknown compare operator"),
            },
        };
        switch (compare.Target)
        {
            case CompareTarget.Version:
                result.Target = Rpc.Compare.Types.CompareTarget.Version;
                result.Version = compare.Number;
                break;
            case CompareTarget.CreateRevision:
                result.Target = Rpc.Compare.Types.CompareTarget.Create;
                result.CreateRevision = compare.Number;
                break;
            case CompareTarget.ModRevision:
                result.Target = Rpc.Compare.Types.CompareTarget.Mod;
                result.ModRevision = compare.Number;
                break;
            case CompareTarget.Value:
                result.Target = Rpc.Compare.Types.CompareTarget.Value;
                result.Value = ByteString.CopyFrom(compare.Value.Span);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(compare), compare.Target, "unknown compare target");
        }

        return result;
    }

    private static Rpc.RequestOp ToRequestOp(TxnOp op) => op.Kind switch
    {
        TxnOpKind.Put => new Rpc.RequestOp { RequestPut = Put(op.Key, op.Value, op.LeaseId) },
        TxnOpKind.Delete => new Rpc.RequestOp { RequestDeleteRange = Delete(op.Key) },
        TxnOpKind.DeletePrefix => new Rpc.RequestOp { RequestDeleteRange = DeletePrefix(op.Key) },
        TxnOpKind.Get => new Rpc.RequestOp { RequestRange = Get(op.Key) },
        TxnOpKind.Txn when op.Nested is { } nested => new Rpc.RequestOp { RequestTxn = Txn(nested) },
        _ => throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "unknown transaction operation"),
    };
}
