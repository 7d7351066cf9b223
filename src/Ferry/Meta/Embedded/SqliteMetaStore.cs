using System.Data;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Ferry.Errors;
using Microsoft.Data.Sqlite;

namespace Ferry.Meta.Embedded;

/// <summary>
/// The embedded metadata store: one SQLite file with etcd's semantics (revisions, transactions, leases that
/// expire by time, watch). Several processes on one host may open the same file at once (a CLI and an agent):
/// every write is one <c>BEGIN IMMEDIATE</c> transaction, and watchers poll an event log.
/// </summary>
public sealed partial class SqliteMetaStore : IMetaStore
{
    /// <summary>Stamped into the file so that a database that is not a Ferry store is refused, not modified.</summary>
    private const int ApplicationId = 0x46525259; // "FRRY"

    private const int SchemaVersion = 1;

    /// <summary>How many revisions of change events are kept for watchers that start in the past.</summary>
    private const long EventRetention = 100_000;

    /// <summary>
    /// How often a watch looks for changes another process made; this process's own writes wake it at once. Polling
    /// faster kept an idle agent's threads waking forty times a second for changes that come a few times a day.
    /// </summary>
    private static readonly TimeSpan WatchPollInterval = TimeSpan.FromMilliseconds(250);

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    // Completed (and replaced) by every write this process commits: what in-process watches wait on.
    private TaskCompletionSource _committed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private readonly TimeSpan _callTimeout;
    private bool _disposed;

    private SqliteMetaStore(string path, SqliteConnection connection, TimeProvider time, TimeSpan callTimeout)
    {
        Path = path;
        _connection = connection;
        _time = time;
        _callTimeout = callTimeout;
    }

    public string Path { get; }

    public string Description => $"file:{Path}";

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>.</summary>
    public static async Task<IMetaStore> OpenAsync(
        string path,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default,
        TimeSpan? callTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        var timeout = callTimeout ?? TimeSpan.FromSeconds(5);
        SqliteConnection? connection = null;
        try
        {
            var directory = System.IO.Path.GetDirectoryName(fullPath);
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = fullPath,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
                DefaultTimeout = (int)Math.Ceiling(timeout.TotalSeconds),
            }.ToString());
            await connection.OpenAsync(cancellationToken);
            var store = new SqliteMetaStore(fullPath, connection, timeProvider ?? TimeProvider.System, timeout);
            store.InitializeSchema();
            return store;
        }
        catch (Exception e) when (e is not FerryException)
        {
            connection?.Dispose();
            throw ErrorClassifier.Classify(e, ErrorArea.Meta, new ErrorContext(Operation: $"open {fullPath}"), cancellationToken);
        }
        catch
        {
            connection?.Dispose();
            throw;
        }
    }

    private void InitializeSchema()
    {
        Execute("PRAGMA journal_mode=WAL");
        Execute("PRAGMA synchronous=FULL");
        using var tx = _connection.BeginTransaction(IsolationLevel.Serializable, deferred: false);
        var appId = Scalar("PRAGMA application_id");
        var tables = Scalar("SELECT count(*) FROM sqlite_master");
        if (appId != ApplicationId && (appId != 0 || tables != 0))
        {
            throw new FerryException(
                ErrorCodes.MetaCorruptStore,
                $"{Path} is a SQLite database but not a Ferry metadata store; point --meta at another file");
        }

        if (appId == 0)
        {
            Execute($"PRAGMA application_id={ApplicationId}");
            Execute($"PRAGMA user_version={SchemaVersion}");
            Execute("""
                CREATE TABLE kv(
                    key TEXT PRIMARY KEY,
                    value BLOB NOT NULL,
                    create_rev INTEGER NOT NULL,
                    mod_rev INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    lease INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX kv_lease ON kv(lease) WHERE lease != 0;
                CREATE TABLE leases(id INTEGER PRIMARY KEY, ttl_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
                CREATE INDEX leases_expiry ON leases(expires_at_ms);
                CREATE TABLE events(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    rev INTEGER NOT NULL,
                    type INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    create_rev INTEGER NOT NULL,
                    mod_rev INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    lease INTEGER NOT NULL);
                CREATE INDEX events_rev ON events(rev);
                CREATE TABLE state(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO state(name, value) VALUES ('revision', 1), ('compacted', 0);
                """);
        }
        else if (Scalar("PRAGMA user_version") != SchemaVersion)
        {
            throw new FerryException(
                ErrorCodes.MetaCorruptStore,
                $"{Path} has metadata schema version {Scalar("PRAGMA user_version")}, this Ferry understands {SchemaVersion}; use a matching Ferry");
        }

        tx.Commit();
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_disposed) return;
            _disposed = true;
            await _connection.DisposeAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    // ---- The operations: each runs under the gate, inside one SQLite transaction. ----

    public Task<KeyValue?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        ReadAsync("get", cancellationToken, () => ReadKey(key));

    public Task<RangeResult> RangeAsync(string prefix, CancellationToken cancellationToken = default) =>
        ReadAsync("range", cancellationToken, () => new RangeResult(ReadPrefix(prefix), CurrentRevision()));

    public Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        WriteAsync("put", cancellationToken, write =>
        {
            write.Put(key, value, leaseId);
            return write.Revision;
        });

    public Task<long> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        WriteAsync("delete", cancellationToken, write => write.Delete(key));

    public Task<long> DeletePrefixAsync(string prefix, CancellationToken cancellationToken = default) =>
        WriteAsync("delete-prefix", cancellationToken, write => write.DeletePrefix(prefix));

    public Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return WriteAsync("txn", cancellationToken, write => Run(request, write));
    }

    /// <summary>Runs one level of a transaction inside the caller's SQLite transaction; nested ones recurse into it.</summary>
    private TxnResult Run(TxnRequest request, Writer write)
    {
        var succeeded = request.Compares.All(c => Holds(c, ReadKey(c.Key)));
        var gets = new List<KeyValue?>();
        var nested = new List<TxnResult>();
        foreach (var op in (succeeded ? request.Success : request.Failure) ?? [])
        {
            switch (op.Kind)
            {
                case TxnOpKind.Put: write.Put(op.Key, op.Value, op.LeaseId); break;
                case TxnOpKind.Delete: write.Delete(op.Key); break;
                case TxnOpKind.DeletePrefix: write.DeletePrefix(op.Key); break;
                case TxnOpKind.Get: gets.Add(ReadKey(op.Key)); break;
                case TxnOpKind.Txn when op.Nested is { } inner: nested.Add(Run(inner, write)); break;
                default: throw new FerryException(ErrorCodes.MetaInvalidRequest, $"unknown transaction operation {op.Kind}");
            }
        }

        return new TxnResult(succeeded, write.Revision, gets, nested);
    }

    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ttl), "a lease needs a positive TTL");
        return WriteAsync("lease-grant", cancellationToken, _ =>
        {
            // Random positive 63-bit ids, like etcd's: a lease id from another store never matches by accident.
            var id = (long)(BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1) | 1;
            Execute(
                "INSERT INTO leases(id, ttl_ms, expires_at_ms) VALUES ($id, $ttl, $exp)",
                ("$id", id), ("$ttl", (long)ttl.TotalMilliseconds), ("$exp", NowMs() + (long)ttl.TotalMilliseconds));
            return id;
        });
    }

    public Task<TimeSpan> KeepAliveOnceAsync(long leaseId, CancellationToken cancellationToken = default) =>
        WriteAsync("lease-keepalive", cancellationToken, _ =>
        {
            var ttlMs = Scalar("SELECT ttl_ms FROM leases WHERE id = $id", ("$id", leaseId)) ?? throw LeaseGone(leaseId);
            Execute("UPDATE leases SET expires_at_ms = $exp WHERE id = $id", ("$id", leaseId), ("$exp", NowMs() + ttlMs));
            return TimeSpan.FromMilliseconds(ttlMs);
        });

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) =>
        WriteAsync("lease-revoke", cancellationToken, write =>
        {
            write.DropLease(leaseId);
            return true;
        });

    private static bool Holds(Compare compare, KeyValue? kv)
    {
        if (compare.Target == CompareTarget.Value)
        {
            if (kv is null) return false;
            var order = kv.Value.Span.SequenceCompareTo(compare.Value.Span);
            return Apply(compare.Op, order);
        }

        var actual = compare.Target switch
        {
            CompareTarget.Version => kv?.Version ?? 0,
            CompareTarget.CreateRevision => kv?.CreateRevision ?? 0,
            _ => kv?.ModRevision ?? 0,
        };
        return Apply(compare.Op, actual.CompareTo(compare.Number));
    }

    private static bool Apply(CompareOp op, int order) => op switch
    {
        CompareOp.Equal => order == 0,
        CompareOp.NotEqual => order != 0,
        CompareOp.Greater => order > 0,
        _ => order < 0,
    };

    private static FerryException LeaseGone(long leaseId) => new(
        ErrorCodes.MetaSessionExpired,
        $"lease {leaseId:x} has expired or was revoked");

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();
}
