using System.Data;
using Ferry.Errors;
using Microsoft.Data.Sqlite;

namespace Ferry.Meta.Embedded;

/// <summary>Transactions, the write path that keeps revisions and the event log, and small SQL helpers.</summary>
public sealed partial class SqliteMetaStore
{
    private async Task<T> ReadAsync<T>(string operation, CancellationToken cancellationToken, Func<T> read)
    {
        return await RunAsync(operation, cancellationToken, () =>
        {
            // Expired leases are swept before any read, so no read ever returns a key whose lease is gone.
            if (HasExpiredLeases())
            {
                using var sweep = _connection.BeginTransaction(IsolationLevel.Serializable, deferred: false);
                new Writer(this).Sweep();
                sweep.Commit();
            }

            using var tx = _connection.BeginTransaction(IsolationLevel.Serializable, deferred: true);
            var result = read();
            tx.Commit();
            return result;
        });
    }

    private async Task<T> WriteAsync<T>(string operation, CancellationToken cancellationToken, Func<Writer, T> write)
    {
        return await RunAsync(operation, cancellationToken, () =>
        {
            using var tx = _connection.BeginTransaction(IsolationLevel.Serializable, deferred: false);
            var writer = new Writer(this);
            writer.Sweep();
            var result = write(writer);
            tx.Commit();
            Interlocked.Exchange(ref _committed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            return result;
        });
    }

    private async Task<T> RunAsync<T>(string operation, CancellationToken cancellationToken, Func<T> body)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_callTimeout);
        try
        {
            await _gate.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException e)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(Operation: operation), cancellationToken);
        }

        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // SQLite waits for another process's lock up to DefaultTimeout (the call timeout) by itself.
            return body();
        }
        catch (FerryException)
        {
            throw;
        }
        catch (SqliteException e) when ((e.SqliteErrorCode & 0xff) is 5 or 6)
        {
            throw new FerryException(
                ErrorCodes.MetaTimeout,
                $"the embedded metadata store {Path} stayed locked by another process for longer than {_callTimeout.TotalSeconds:0.#} s",
                new ErrorContext(Operation: operation),
                e);
        }
        catch (Exception e)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(Operation: $"{operation} on {Path}"), cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool HasExpiredLeases() =>
        Scalar("SELECT 1 FROM leases WHERE expires_at_ms <= $now LIMIT 1", ("$now", NowMs())) is not null;

    private long CurrentRevision() => Scalar("SELECT value FROM state WHERE name = 'revision'")!.Value;

    private KeyValue? ReadKey(string key)
    {
        using var command = Command("SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key = $key", ("$key", key));
        using var reader = command.ExecuteReader();
        return reader.Read() ? ReadKeyValue(reader) : null;
    }

    private List<KeyValue> ReadPrefix(string prefix)
    {
        var (where, parameters) = PrefixFilter(prefix);
        using var command = Command($"SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE {where} ORDER BY key", parameters);
        using var reader = command.ExecuteReader();
        var result = new List<KeyValue>();
        while (reader.Read()) result.Add(ReadKeyValue(reader));
        return result;
    }

    private static KeyValue ReadKeyValue(SqliteDataReader reader) => new(
        reader.GetString(0),
        (byte[])reader.GetValue(1),
        reader.GetInt64(2),
        reader.GetInt64(3),
        reader.GetInt64(4),
        reader.GetInt64(5));

    /// <summary>
    /// Keys with a prefix, as an index range: [prefix, prefix with its last character incremented).
    /// TEXT with the BINARY collation orders like etcd's byte order for UTF-8 keys.
    /// </summary>
    private static (string Where, (string, object)[] Parameters) PrefixFilter(string prefix)
    {
        if (prefix.Length == 0) return ("1 = 1", []);
        var last = prefix[^1];
        if (last == char.MaxValue) return ("substr(key, 1, length($p)) = $p", [("$p", prefix)]);
        var end = prefix[..^1] + (char)(last + 1);
        return ("key >= $p AND key < $end", [("$p", prefix), ("$end", end)]);
    }

    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    private void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        command.ExecuteNonQuery();
    }

    private long? Scalar(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The changes of one write transaction. The revision is taken lazily: a transaction that changes nothing
    /// (a delete of a missing key, a failed compare with no failure branch) does not advance it, as in etcd.
    /// </summary>
    private sealed class Writer(SqliteMetaStore store)
    {
        private long? _revision;

        public long Revision => _revision ?? store.CurrentRevision();

        public void Put(string key, ReadOnlyMemory<byte> value, long leaseId)
        {
            if (leaseId != 0 && store.Scalar("SELECT 1 FROM leases WHERE id = $id", ("$id", leaseId)) is null)
            {
                throw LeaseGone(leaseId);
            }

            var rev = Next();
            var existing = store.ReadKey(key);
            var kv = new KeyValue(key, value.ToArray(), existing?.CreateRevision ?? rev, rev, (existing?.Version ?? 0) + 1, leaseId);
            store.Execute(
                """
                INSERT INTO kv(key, value, create_rev, mod_rev, version, lease) VALUES ($key, $value, $c, $m, $v, $l)
                ON CONFLICT(key) DO UPDATE SET value = $value, mod_rev = $m, version = $v, lease = $l
                """,
                ("$key", key), ("$value", kv.Value.ToArray()), ("$c", kv.CreateRevision), ("$m", rev), ("$v", kv.Version), ("$l", leaseId));
            Record(WatchEventType.Put, kv);
        }

        public long Delete(string key)
        {
            if (store.ReadKey(key) is null) return 0;
            DeleteKeys([key]);
            return 1;
        }

        public long DeletePrefix(string prefix)
        {
            var keys = store.ReadPrefix(prefix).Select(kv => kv.Key).ToList();
            DeleteKeys(keys);
            return keys.Count;
        }

        public void DropLease(long leaseId)
        {
            var keys = new List<string>();
            using (var command = store.Command("SELECT key FROM kv WHERE lease = $id ORDER BY key", ("$id", leaseId)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read()) keys.Add(reader.GetString(0));
            }

            DeleteKeys(keys);
            store.Execute("DELETE FROM leases WHERE id = $id", ("$id", leaseId));
        }

        /// <summary>Deletes the keys of every expired lease, as etcd's lessor does.</summary>
        public void Sweep()
        {
            var expired = new List<long>();
            using (var command = store.Command("SELECT id FROM leases WHERE expires_at_ms <= $now", ("$now", store.NowMs())))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read()) expired.Add(reader.GetInt64(0));
            }

            foreach (var lease in expired) DropLease(lease);
        }

        private void DeleteKeys(IReadOnlyList<string> keys)
        {
            if (keys.Count == 0) return;
            var rev = Next();
            foreach (var key in keys)
            {
                store.Execute("DELETE FROM kv WHERE key = $key", ("$key", key));
                Record(WatchEventType.Delete, new KeyValue(key, Array.Empty<byte>(), 0, rev, 0, 0));
            }
        }

        private long Next()
        {
            if (_revision is { } rev) return rev;
            rev = store.CurrentRevision() + 1;
            store.Execute("UPDATE state SET value = $rev WHERE name = 'revision'", ("$rev", rev));
            _revision = rev;
            // Keep the event log bounded; a watcher asking for older revisions is told they are compacted.
            if (rev % 1000 == 0 && rev > EventRetention)
            {
                store.Execute("DELETE FROM events WHERE rev <= $old", ("$old", rev - EventRetention));
                store.Execute("UPDATE state SET value = $old WHERE name = 'compacted'", ("$old", rev - EventRetention));
            }

            return rev;
        }

        private void Record(WatchEventType type, KeyValue kv) => store.Execute(
            "INSERT INTO events(rev, type, key, value, create_rev, mod_rev, version, lease) VALUES ($rev, $t, $key, $value, $c, $m, $v, $l)",
            ("$rev", kv.ModRevision), ("$t", (long)type), ("$key", kv.Key), ("$value", kv.Value.ToArray()),
            ("$c", kv.CreateRevision), ("$m", kv.ModRevision), ("$v", kv.Version), ("$l", kv.LeaseId));
    }
}
