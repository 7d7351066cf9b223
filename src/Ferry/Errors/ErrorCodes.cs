using System.Collections.Frozen;

namespace Ferry.Errors;

/// <summary>
/// The one registry of Ferry's error codes. <c>ferry errors</c> and <c>docs/errors.md</c> are generated from it.
/// </summary>
public static class ErrorCodes
{
    private static readonly List<ErrorCode> Registered = [];

    // Metadata store.
    public static readonly ErrorCode MetaUnavailable = Define("Meta", "Unavailable", ErrorClass.Transient,
        "The metadata store can't be reached: check that etcd is running and the --meta endpoints are right.");
    public static readonly ErrorCode MetaTimeout = Define("Meta", "Timeout", ErrorClass.Transient,
        "A metadata call ran past its deadline: etcd is overloaded, hung or partitioned; check its health.");
    public static readonly ErrorCode MetaSessionExpired = Define("Meta", "SessionExpired", ErrorClass.SessionLost,
        "The agent's lease expired (it was cut off for longer than the lease TTL); the agent re-registers by itself.");
    public static readonly ErrorCode MetaCorruptValue = Define("Meta", "CorruptValue", ErrorClass.Integrity,
        "A value under a Ferry key is not what Ferry wrote; inspect it with etcdctl get and fix or delete it.");
    public static readonly ErrorCode MetaValueTooLarge = Define("Meta", "ValueTooLarge", ErrorClass.Permanent,
        "A value exceeds the metadata store's request size limit; this is a Ferry bug if it happens to its own keys.");
    public static readonly ErrorCode MetaCompacted = Define("Meta", "Compacted", ErrorClass.Permanent,
        "The requested revision was compacted away; watchers must re-read the current state.");
    public static readonly ErrorCode MetaPermissionDenied = Define("Meta", "PermissionDenied", ErrorClass.Permanent,
        "The metadata store refused access: for etcd, grant the --etcd-user a role with readwrite on the prefix /ferry/ (etcdctl role grant-permission ROLE --prefix=true readwrite /ferry/); for the embedded store, check the file's permissions.");
    public static readonly ErrorCode MetaAuthFailed = Define("Meta", "AuthFailed", ErrorClass.Permanent,
        "etcd refused the user name or password, or needs one: check --etcd-user (FERRY_ETCD_USER) and the password (FERRY_ETCD_PASSWORD or --etcd-password-file), e.g. with etcdctl --user NAME get /ferry/.");
    public static readonly ErrorCode MetaTlsUntrusted = Define("Meta", "TlsUntrusted", ErrorClass.Permanent,
        "etcd's server certificate is not trusted: give the CA that signs it with --etcd-ca (FERRY_ETCD_CA), and make sure the certificate names the host used in --meta (its subject alternative names must hold that IP or DNS name).");
    public static readonly ErrorCode MetaTlsClientCertificate = Define("Meta", "TlsClientCertificate", ErrorClass.Permanent,
        "etcd requires a client certificate and got none it accepts: give one signed by etcd's --trusted-ca-file with --etcd-cert and --etcd-key (FERRY_ETCD_CERT, FERRY_ETCD_KEY).");
    public static readonly ErrorCode MetaTlsHandshake = Define("Meta", "TlsHandshake", ErrorClass.Permanent,
        "The TLS handshake with etcd failed: use https:// endpoints in --meta for an etcd serving TLS, http:// or etcd:// for one that does not, and check both sides' TLS versions.");
    public static readonly ErrorCode MetaInvalidRequest = Define("Meta", "InvalidRequest", ErrorClass.Internal,
        "The metadata store rejected a request as malformed; this is a Ferry bug, please report it with the error id.");
    public static readonly ErrorCode MetaIo = Define("Meta", "Io", ErrorClass.Transient,
        "The embedded metadata file could not be read or written; check the disk holding FERRY_HOME.");
    public static readonly ErrorCode MetaCorruptStore = Define("Meta", "CorruptStore", ErrorClass.Integrity,
        "The embedded metadata file is damaged or is not a Ferry metadata store; restore it or point --meta elsewhere.");
    public static readonly ErrorCode MetaConflict = Define("Meta", "Conflict", ErrorClass.Expected,
        "A compare-and-swap lost a race; the caller re-reads and decides.");
    public static readonly ErrorCode MetaOutcomeUnknown = Define("Meta", "OutcomeUnknown", ErrorClass.Transient,
        "The connection broke during a conditional write and reading it back could not tell whether it applied; retry later.");

    // External storage.
    public static readonly ErrorCode StorageQuotaExceeded = Define("Storage", "QuotaExceeded", ErrorClass.Permanent,
        "The storage is full (disk full or quota reached): free or grow it, then `ferry task resume NAME --clear-error`.");
    public static readonly ErrorCode StoragePermissionDenied = Define("Storage", "PermissionDenied", ErrorClass.Permanent,
        "Ferry may not write to the storage location: fix its permissions or credentials, then resume with --clear-error.");
    public static readonly ErrorCode StorageNotFound = Define("Storage", "NotFound", ErrorClass.Permanent,
        "The storage location (directory or bucket) does not exist: create it or fix the URL.");
    public static readonly ErrorCode StorageUnavailable = Define("Storage", "Unavailable", ErrorClass.Transient,
        "The storage can't be reached right now (connection refused or reset, HTTP 503); Ferry retries.");
    public static readonly ErrorCode StorageTimeout = Define("Storage", "Timeout", ErrorClass.Transient,
        "A storage call ran past its deadline; Ferry retries. Check the network and the storage service.");
    public static readonly ErrorCode StorageIo = Define("Storage", "Io", ErrorClass.Transient,
        "An I/O error on the storage; Ferry retries. If it persists, check the device and the kernel log.");

    // Local SQLite databases.
    public static readonly ErrorCode DatabaseBusy = Define("Database", "Busy", ErrorClass.Transient,
        "The database was locked (SQLITE_BUSY); Ferry retries.");
    public static readonly ErrorCode DatabaseCorrupt = Define("Database", "Corrupt", ErrorClass.Integrity,
        "SQLite reports the database or its WAL as corrupt; check the file with `sqlite3 DB 'PRAGMA integrity_check'`.");
    public static readonly ErrorCode DatabaseNotFound = Define("Database", "NotFound", ErrorClass.Permanent,
        "The database file is gone or can't be opened; fix the path or remove it from the task.");
    public static readonly ErrorCode DatabasePermissionDenied = Define("Database", "PermissionDenied", ErrorClass.Permanent,
        "Ferry may not read the database or its WAL: give the agent's user read and write access to the files and their directory.");
    public static readonly ErrorCode DatabaseIo = Define("Database", "Io", ErrorClass.Transient,
        "An I/O error reading the database or its WAL; Ferry retries. If it persists, check the device and the kernel log.");
    public static readonly ErrorCode DatabaseDiskFull = Define("Database", "DiskFull", ErrorClass.Permanent,
        "The disk holding the database is full (SQLITE_FULL); free space on it.");

    // WAL capture (src/Ferry/Capture).
    public static readonly ErrorCode DatabaseNotWalMode = Define("Database", "NotWalMode", ErrorClass.Permanent,
        "The database is not in WAL mode, so Ferry cannot follow its transactions: run `PRAGMA journal_mode=WAL` on it once.");
    public static readonly ErrorCode WalInvalidHeader = Define("Wal", "InvalidHeader", ErrorClass.Integrity,
        "A WAL file's header is malformed (magic, version, page size or checksum); check the file, it is not one SQLite wrote.");
    public static readonly ErrorCode CaptureSqliteTooOld = Define("Capture", "SqliteTooOld", ErrorClass.Permanent,
        "Ferry's own SQLite is older than 3.51.3, which can corrupt a WAL during concurrent checkpoints: use a Ferry build bundling a fixed SQLite.");
    public static readonly ErrorCode CaptureDatabaseReplaced = Define("Capture", "DatabaseReplaced", ErrorClass.Transient,
        "The database file was replaced (restored, copied or renamed over) while Ferry followed it; Ferry reopens it and starts a new generation.");

    // Replica objects in storage and restore (src/Ferry/Storage, src/Ferry/Restore).
    public static readonly ErrorCode StorageObjectNotFound = Define("Storage", "ObjectNotFound", ErrorClass.Permanent,
        "An object Ferry expected in storage is missing: check that nothing deletes or moves backup objects, then `ferry storage verify`.");
    public static readonly ErrorCode StorageCorruptObject = Define("Storage", "CorruptObject", ErrorClass.Integrity,
        "An object in storage fails its checksum or format checks: `ferry storage verify` names every damaged object; restore from another generation or time.");
    public static readonly ErrorCode StorageObjectConflict = Define("Storage", "ObjectConflict", ErrorClass.Integrity,
        "Another writer put different content under this object's name: check that no two agents back up the same database with the same store id.");
    public static readonly ErrorCode StorageNameTooLong = Define("Storage", "NameTooLong", ErrorClass.Permanent,
        "The database path is too long to become a storage object name: back up the database from a shorter path.");
    public static readonly ErrorCode StorageNotSupported = Define("Storage", "NotSupported", ErrorClass.Permanent,
        "This kind of storage is not available in this process: use a directory, file:///dir, s3://bucket/prefix or az://container/prefix.");
    public static readonly ErrorCode ReplicaChainGap = Define("Replica", "ChainGap", ErrorClass.Integrity,
        "A generation in storage misses transactions or its first snapshot: restore to a time before the gap, or from another generation.");
    public static readonly ErrorCode RestoreDatabaseNotFound = Define("Restore", "DatabaseNotFound", ErrorClass.Permanent,
        "No database in storage matches --db: `ferry storage ls --from URL` lists what is there.");
    public static readonly ErrorCode RestoreAmbiguousDatabase = Define("Restore", "AmbiguousDatabase", ErrorClass.Permanent,
        "More than one stored database matches --db: give more of its path (e.g. data/app.db or the absolute path), or --store.");
    public static readonly ErrorCode RestoreOutputExists = Define("Restore", "OutputExists", ErrorClass.Permanent,
        "--out names an existing file, or a -wal file of an earlier database is next to it; restore never overwrites: choose another path or move the files away.");
    public static readonly ErrorCode RestoreTimeBeforeFirstSnapshot = Define("Restore", "TimeBeforeFirstSnapshot", ErrorClass.Permanent,
        "The requested time is earlier than the first snapshot in storage: `ferry storage ls` shows the time ranges that can be restored.");
    public static readonly ErrorCode RestoreIntegrityCheckFailed = Define("Restore", "IntegrityCheckFailed", ErrorClass.Integrity,
        "The restored database failed PRAGMA integrity_check and was not written: run `ferry storage verify`, try another time or generation.");
    public static readonly ErrorCode RestoreObjectVanished = Define("Restore", "ObjectVanished", ErrorClass.Permanent,
        "An object listed when the restore was planned was gone when it was read, probably pruned or packed meanwhile; nothing was written: run the restore again, it plans from what storage holds now.");

    // Tasks.
    public static readonly ErrorCode TaskNotFound = Define("Task", "NotFound", ErrorClass.Permanent,
        "There is no task with that name: `ferry task status` lists the tasks.");
    public static readonly ErrorCode TaskExists = Define("Task", "Exists", ErrorClass.Permanent,
        "A task with that name exists already: pick another name, or `ferry task stop NAME` first.");
    public static readonly ErrorCode TaskPausedDueToError = Define("Task", "PausedDueToError", ErrorClass.Permanent,
        "The task was paused by an error: fix the cause shown, then `ferry task resume NAME --clear-error`.");
    public static readonly ErrorCode TaskNotPaused = Define("Task", "NotPaused", ErrorClass.Expected,
        "The task is not paused; nothing to resume.");
    public static readonly ErrorCode TaskStalled = Define("Task", "Stalled", ErrorClass.Transient,
        "A step made no progress within the stall timeout and was cancelled; Ferry retries it.");
    public static readonly ErrorCode TaskPositionUnreadable = Define("Task", "PositionUnreadable", ErrorClass.Integrity,
        "A stream's saved position in its checkpoint key does not parse; Ferry started a new generation with a snapshot (nothing is lost; restore points start again there). Look at the key with etcdctl get.");
    public static readonly ErrorCode TaskLagExceeded = Define("Task", "LagExceeded", ErrorClass.Transient,
        "The task's checkpoint is further behind than its --max-lag: look for a slow or failing storage, or a stream that is retrying.");
    public static readonly ErrorCode TaskWaitTimedOut = Define("Task", "WaitTimedOut", ErrorClass.Transient,
        "`ferry wait` gave up before what the database had committed was durable in storage: check that `ferry replicate` (or an agent) is running on it with the same --meta, and `ferry task status` for its errors.");

    // The application `ferry replicate --exec` runs.
    public static readonly ErrorCode ExecStartFailed = Define("Exec", "StartFailed", ErrorClass.Permanent,
        "The command given to --exec could not be started: check that it exists, is executable and is on PATH (or give its full path).");

    // The storage lifecycle: retention, packing and pruning (DESIGN §10). None of them stops shipping.
    public static readonly ErrorCode RetentionPassFailed = Define("Retention", "PassFailed", ErrorClass.Transient,
        "A retention pass (packing, pruning) failed; shipping goes on and the next pass tries again, but storage grows until one succeeds: look at the error it names.");
    public static readonly ErrorCode RetentionStalled = Define("Retention", "Stalled", ErrorClass.Transient,
        "A retention pass made no progress within the stall timeout and was cancelled; the next pass tries again. Check the storage's health.");
    public static readonly ErrorCode RetentionPackMismatch = Define("Retention", "PackMismatch", ErrorClass.Integrity,
        "A packed object read back differs from what was packed, so the objects it would replace were kept; run `ferry storage verify` and check the storage.");
    public static readonly ErrorCode RetentionOwnerActive = Define("Retention", "OwnerActive", ErrorClass.Permanent,
        "A live agent owns this store and prunes it itself; `ferry storage prune` refuses to race it. Pass --force only when you know the agent is not pruning.");

    // Configuration and command-line input.
    public static readonly ErrorCode ConfigInvalidArgument = Define("Config", "InvalidArgument", ErrorClass.Permanent,
        "A command-line argument or option is malformed: see `ferry COMMAND --help`.");
    public static readonly ErrorCode ConfigInvalidMetaUrl = Define("Config", "InvalidMetaUrl", ErrorClass.Permanent,
        "--meta must be file:PATH, etcd://host:port[,host:port…] (or http://…) or, for TLS, https://host:port[,host:port…]; credentials never go in it.");
    public static readonly ErrorCode ConfigInvalidEtcdCredentials = Define("Config", "InvalidEtcdCredentials", ErrorClass.Permanent,
        "An etcd TLS or login setting is unusable: --etcd-ca, --etcd-cert and --etcd-key must be readable PEM files (the key unencrypted, cert and key given together), and --etcd-user needs a password from FERRY_ETCD_PASSWORD or --etcd-password-file.");
    public static readonly ErrorCode ConfigInvalidStorageUrl = Define("Config", "InvalidStorageUrl", ErrorClass.Permanent,
        "A storage URL must be file:///absolute/path, a plain directory path, s3://bucket/prefix or az://container/prefix.");
    public static readonly ErrorCode ConfigInvalidStorageCredentials = Define("Config", "InvalidStorageCredentials", ErrorClass.Permanent,
        "The storage credentials in the environment are missing or malformed: for az:// set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, then restart the agent and resume with --clear-error.");
    public static readonly ErrorCode ConfigInvalid = Define("Config", "Invalid", ErrorClass.Permanent,
        "The configuration (the --config file, FERRY__ environment variables, or an application's Ferry section) has a wrong key or value: the message names the key. `ferry config check FILE` checks a file without starting anything; see docs/configuration.md.");
    public static readonly ErrorCode ConfigInvalidFailpoints = Define("Config", "InvalidFailpoints", ErrorClass.Permanent,
        "FERRY_FAILPOINTS or the FERRY_FAILPOINTS_FILE file is malformed: write name=action[*N] entries separated by ';', with actions error(CODE), delay(500ms), hang or off.");

    // Fencing.
    public static readonly ErrorCode FenceDeployGeneration = Define("Fence", "DeployGeneration", ErrorClass.Fenced,
        "A newer deploy generation took over this store; this process stops writing and exits 0.");
    public static readonly ErrorCode FenceStoreInUse = Define("Fence", "StoreInUse", ErrorClass.Permanent,
        "Another live Ferry process holds this store id: stop it first, or give this one its own --store-id.");
    public static readonly ErrorCode FenceEpoch = Define("Fence", "Epoch", ErrorClass.Fenced,
        "Another process of the same deploy generation took over this store; this process stops and exits 75.");

    // Everything else.
    public static readonly ErrorCode Cancelled = Define("Op", "Cancelled", ErrorClass.Cancelled,
        "The operation was cancelled by shutdown or pause; not an error.");
    public static readonly ErrorCode Internal = Define("Internal", "Bug", ErrorClass.Internal,
        "An invariant was violated inside Ferry: report it with the error id and the log line that carries it.");

    private static readonly FrozenDictionary<string, ErrorCode> ByCode =
        Registered.ToFrozenDictionary(c => c.Code, StringComparer.Ordinal);

    /// <summary>Every registered code, in registry order.</summary>
    public static IReadOnlyList<ErrorCode> All => Registered;

    /// <summary>Looks up a code by its string form, e.g. one read back from a LastError record.</summary>
    public static ErrorCode? Find(string code) => ByCode.GetValueOrDefault(code);

    private static ErrorCode Define(string area, string name, ErrorClass errorClass, string hint)
    {
        var code = new ErrorCode(area, name, errorClass, hint);
        Registered.Add(code);
        return code;
    }
}
