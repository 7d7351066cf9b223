using System.Security.Cryptography;
using Ferry.Errors;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Capture;

/// <summary>
/// Follows one database's WAL for one stream: pins the WAL with a read transaction, reads newly committed
/// transactions by offset, takes snapshots for new generations, and checkpoints when the WAL has grown.
/// Not thread-safe: one pipeline stage owns it. Dispose releases everything (read transaction, connections,
/// then the database file handle) on every path, and so does any failure: an operation that throws leaves the
/// capture closed (break, don't limp), and the stream starts a new one from its shipped cursor.
/// </summary>
/// <remarks>
/// Ferry keeps four connections, all <c>Pooling=False</c> with <c>wal_autocheckpoint=0</c> and a bounded busy
/// timeout: A holds the pin (a deferred read transaction; a second one, A', lets the pin move hand over hand),
/// B writes Ferry's nonce into <c>_ferry_seq</c> and holds the write lock during a checkpoint cycle, C runs the
/// checkpoint. The <c>.db</c> and <c>-shm</c> files are opened once (read-only handles: positional reads for
/// snapshots, and of the wal-index's progress) and closed only after the connections: closing any descriptor of
/// a file drops all of this process's POSIX locks on it, including SQLite's.
/// Ferry writes into the database only its own table <c>_ferry_seq</c> (one row, a random nonce): at start, for
/// each snapshot and in each checkpoint cycle, so the WAL holds an unchecked frame when the pin is taken.
/// </remarks>
internal sealed partial class DatabaseCapture : IDisposable
{
    private const string SeqTable = "_ferry_seq";
    private const int NonceSize = 16;

    private readonly DatabaseCaptureOptions _options;
    private readonly TimeProvider _time;
    private readonly ErrorContext _context;
    private readonly List<CommittedTransaction> _pending = [];

    private SafeFileHandle? _database;
    private FileStream? _wal;
    private SafeFileHandle? _walIndex;
    private SqliteConnection? _pinConnection;
    private SqliteConnection? _sparePinConnection;
    private SqliteConnection? _writeConnection;
    private SqliteConnection? _checkpointConnection;
    private SqliteTransaction? _pin;
    private FileIdentity _identity;
    private WalCursor? _cursor;
    private string? _newGenerationReason;
    private int _pinEpoch;
    private bool _started;
    private bool _disposed;

    public DatabaseCapture(string databasePath, DatabaseCaptureOptions? options = null, TimeProvider? timeProvider = null, ErrorContext? context = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        DatabasePath = Path.GetFullPath(databasePath);
        WalPath = DatabasePath + "-wal";
        _options = options ?? new DatabaseCaptureOptions();
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _context = (context ?? ErrorContext.None) with { Database = DatabasePath };
    }

    public string DatabasePath { get; }

    public string WalPath { get; }

    /// <summary>The position after the last transaction read (handed out or queued); null before a start or while a new generation is pending.</summary>
    public WalCursor? Cursor => _newGenerationReason is null ? _cursor : null;

    /// <summary>Why a new generation is needed, or null when capture can continue.</summary>
    public string? NewGenerationReason => _newGenerationReason;

    /// <summary>
    /// Opens the database, pins its WAL and decides whether the stream continues from <paramref name="shipped"/>
    /// (the cursor of the last shipped transaction) or needs a new generation (first start, WAL reset we did not
    /// see, WAL shorter than the cursor, last shipped frame differs, database file replaced).
    /// </summary>
    public CaptureStart Start(WalCursor? shipped)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_started) throw new InvalidOperationException("Start was called already");
        _started = true;
        try
        {
            SqliteVersion.EnsureSupported();
            Open();
            var verdict = Resynchronise(shipped, "start");
            if (verdict is not null) _newGenerationReason = verdict;
            return _newGenerationReason is null
                ? new CaptureStart(CaptureContinuity.Continue, "the WAL still holds every frame after the shipped cursor")
                : new CaptureStart(CaptureContinuity.NewGenerationNeeded, _newGenerationReason);
        }
        catch (Exception e)
        {
            throw FailAndClose(e, "capture-start");
        }
    }

    /// <summary>
    /// Reads the transactions committed since the last read, validated (salts, checksum chain, commit frames),
    /// stamped with the time the read began: everything committed before that time is in this batch or an earlier one.
    /// </summary>
    public CaptureBatch ReadNewTransactions()
    {
        ThrowIfNotRunning();
        try
        {
            if (_newGenerationReason is not null) return NewGeneration();
            var capturedAt = _time.GetUtcNow();
            var cursor = _cursor!;
            CheckIdentity();
            if (_newGenerationReason is not null) return NewGeneration();
            var (status, header) = ReadWalHeader();
            if (header is null || !cursor.SameSalts(header) || header.PageSize != cursor.PageSize)
            {
                // The pin forbids a WAL reset, so this only happens when the pin was not effective (the WAL was
                // fully checkpointed the instant it was taken) or someone broke the WAL: never guess, resnapshot.
                _newGenerationReason = header is null
                    ? $"the WAL header is no longer valid ({WalHeader.Describe(status)})"
                    : "the WAL was reset (its salts changed) since the last read";
                return NewGeneration();
            }

            var read = WalReader.ReadCommitted(_wal!, header, cursor.Position, capturedAt, _options.MaxFramesPerRead);
            _cursor = WalCursor.At(header, read.End, _identity);
            var transactions = _pending.Count == 0 ? read.Transactions : [.. _pending, .. read.Transactions];
            _pending.Clear();
            return new CaptureBatch(transactions, _cursor, CaptureContinuity.Continue, ReachedEnd: read.StopReason != WalStopReason.Limit);
        }
        catch (Exception e)
        {
            throw FailAndClose(e, "capture-read");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        var failures = CloseAll();
        if (failures.Count == 0) return;
        var error = ErrorClassifier.Classify(failures[0], ErrorArea.Database, _context with { Operation = "capture-close" });
        foreach (var more in failures.Skip(1)) error.AddSuppressed(more);
        throw error;
    }

    private CaptureBatch NewGeneration()
    {
        _pending.Clear();
        return new CaptureBatch([], null, CaptureContinuity.NewGenerationNeeded, _newGenerationReason);
    }

    private void ThrowIfNotRunning()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_started || _pinConnection is null) throw new InvalidOperationException("call Start first (and only once)");
    }

    private void Open()
    {
        if (!File.Exists(DatabasePath))
        {
            throw new FerryException(ErrorCodes.DatabaseNotFound, $"database {DatabasePath} does not exist (Ferry never creates it)", _context with { Operation = "capture-open" });
        }

        // The one handle on the .db file; opened read-only, kept until the connections are closed.
        _database = File.OpenHandle(DatabasePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        _identity = FileIdentity.Of(_database);
        _pinConnection = OpenConnection(_options.BusyTimeout);
        _sparePinConnection = OpenConnection(_options.BusyTimeout);
        _writeConnection = OpenConnection(_options.BusyTimeout);
        _checkpointConnection = OpenConnection(_options.BusyTimeout);

        var mode = Scalar(_pinConnection, null, "PRAGMA journal_mode") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new FerryException(
                ErrorCodes.DatabaseNotWalMode,
                $"database {DatabasePath} is in journal mode '{mode}', not WAL; run `PRAGMA journal_mode=WAL` on it once",
                _context with { Operation = "capture-open" });
        }

        Execute(_writeConnection, null, $"CREATE TABLE IF NOT EXISTS {SeqTable} (id INTEGER PRIMARY KEY CHECK (id = 1), nonce BLOB NOT NULL, written_at INTEGER NOT NULL)");

        // Our CREATE (or any earlier write) made sure the -wal file exists; unbuffered, because frames are
        // rewritten in place after a rollback and a buffered stream could serve stale bytes.
        _wal = new FileStream(WalPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        _walIndex = File.OpenHandle(DatabasePath + "-shm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
    }

    private SqliteConnection OpenConnection(TimeSpan busyTimeout)
    {
        var seconds = (int)Math.Ceiling(busyTimeout.TotalSeconds);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWrite, // never create the database
            Pooling = false,
            DefaultTimeout = seconds,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            Execute(connection, null, $"PRAGMA busy_timeout = {(int)busyTimeout.TotalMilliseconds}; PRAGMA wal_autocheckpoint = 0;");
            return connection;
        }
        catch (Exception)
        {
            // Release the half-set-up connection; the original error propagates.
            connection.Dispose();
            throw;
        }
    }

    private void CheckIdentity()
    {
        if (!_identity.IsKnown) return;
        var now = FileIdentity.Of(DatabasePath);
        if (now != _identity)
        {
            _newGenerationReason = $"the database file {DatabasePath} was replaced (device/inode {now.Device}/{now.Inode}, was {_identity.Device}/{_identity.Inode})";
        }
    }

    /// <summary>Reads the WAL header; null with the reason when there is no valid one (SQLite then treats the WAL as empty).</summary>
    private (WalHeaderStatus Status, WalHeader? Header) ReadWalHeader()
    {
        Span<byte> bytes = stackalloc byte[WalHeader.Size];
        var read = RandomAccess.Read(_wal!.SafeFileHandle, bytes, 0);
        var status = WalHeader.TryParse(bytes[..read], out var header);
        return (status, header);
    }

    private void Pin()
    {
        _pin = _pinConnection!.BeginTransaction(deferred: true);
        // A deferred BEGIN takes no lock; the first read starts the read transaction and takes the WAL read mark.
        Scalar(_pinConnection, _pin, "SELECT count(*) FROM sqlite_schema");
        _pinEpoch++;
    }

    /// <summary>
    /// Under B's write lock, moves the pin to the end of the WAL without a moment unpinned: A' begins its read while
    /// A still holds its mark, so no checkpoint can copy the frames after A's mark meanwhile, and A' takes a mark of
    /// its own (above 0, so it forbids a reset) unless every frame was copied already. Then A stays where it is:
    /// with nothing appended since its pin it is at the end already, and a pin taken now would read the database
    /// file alone (mark 0) and let the application reset the WAL as soon as the lock is released.
    /// </summary>
    private void MovePinToEnd()
    {
        if (_pin is null)
        {
            Pin();
            return;
        }

        var moved = _sparePinConnection!.BeginTransaction(deferred: true);
        try
        {
            Scalar(_sparePinConnection, moved, "SELECT count(*) FROM sqlite_schema");
            // Read after A' began: nothing can append under the lock, and the count of copied frames only grows,
            // so "not all copied" now means not all copied when A' chose its mark.
            if (ReadWalIndexProgress() is not { FullyBackfilled: false })
            {
                moved.Commit();
                moved.Dispose();
                return;
            }
        }
        catch (Exception)
        {
            moved.Dispose();
            throw;
        }

        var old = _pin;
        (_pinConnection, _sparePinConnection) = (_sparePinConnection, _pinConnection);
        _pin = moved;
        _pinEpoch++;
        old.Commit();
        old.Dispose();
    }

    /// <summary>The wal-index's last frame and copied-frame count; null when it can't be read consistently.</summary>
    private WalIndexProgress? ReadWalIndexProgress()
    {
        Span<byte> bytes = stackalloc byte[WalIndexProgress.Size];
        var read = RandomAccess.Read(_walIndex!, bytes, 0);
        return WalIndexProgress.TryParse(bytes[..read]);
    }

    private void Unpin()
    {
        if (_pin is null) return;
        var pin = _pin;
        _pin = null;
        _pinEpoch++;
        pin.Commit();
        pin.Dispose();
    }

    private byte[] WriteNonce(SqliteTransaction? transaction)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        using var command = _writeConnection!.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"INSERT OR REPLACE INTO {SeqTable} (id, nonce, written_at) VALUES (1, $nonce, $at)";
        command.Parameters.AddWithValue("$nonce", nonce);
        command.Parameters.AddWithValue("$at", _time.GetUtcNow().ToUnixTimeMilliseconds());
        command.ExecuteNonQuery();
        return nonce;
    }

    private static bool ContainsNonce(CommittedTransaction transaction, byte[] nonce) =>
        transaction.Frames.Any(f => f.Page.Span.IndexOf(nonce) >= 0);

    private static object? Scalar(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Classifies <paramref name="failure"/> and closes everything; close-time failures become suppressed errors.</summary>
    private FerryException FailAndClose(Exception failure, string operation)
    {
        var error = ErrorClassifier.Classify(failure, ErrorArea.Database, _context with { Operation = operation });
        foreach (var closeFailure in CloseAll()) error.AddSuppressed(closeFailure);
        return error;
    }

    /// <summary>Releases everything in order (pin, connections, WAL stream, then the .db handle); returns what failed.</summary>
    private List<Exception> CloseAll()
    {
        _disposed = true;
        var failures = new List<Exception>();
        void Step(Action action)
        {
            try
            {
                action();
            }
            catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
            {
                failures.Add(e);
            }
        }

        Step(() =>
        {
            var pin = _pin;
            _pin = null;
            _pinEpoch++;
            pin?.Dispose();
        });
        Step(() => _pinConnection?.Dispose());
        Step(() => _sparePinConnection?.Dispose());
        Step(() => _writeConnection?.Dispose());
        Step(() => _checkpointConnection?.Dispose());
        Step(() => _wal?.Dispose());

        // Last: closing these descriptors drops the process's POSIX locks on the files, so no connection may be open.
        Step(() => _walIndex?.Dispose());
        Step(() => _database?.Dispose());
        _pinConnection = _sparePinConnection = _writeConnection = _checkpointConnection = null;
        _wal = null;
        _walIndex = null;
        _database = null;
        _pending.Clear();
        return failures;
    }
}
