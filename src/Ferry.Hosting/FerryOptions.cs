using Ferry.Coordination;

namespace Ferry.Hosting;

/// <summary>
/// What <c>AddFerry</c> replicates and where it keeps its state; bound from configuration (a section such as
/// <c>"Ferry"</c>) or set in code. Relative paths are taken from the current directory when <c>AddFerry</c> runs (an
/// ASP.NET Core application's content root unless it moved it).
/// </summary>
public sealed class FerryOptions
{
    /// <summary>The default <see cref="Meta"/>: the embedded metadata store, one SQLite file beside the application.</summary>
    public const string DefaultMeta = "file:ferry-meta.db";

    /// <summary>
    /// The metadata store, as <c>ferry --meta</c> takes it: <c>file:PATH</c> (the embedded store, the default
    /// <see cref="DefaultMeta"/>) or <c>etcd://host:port[,host:port…]</c>. <c>ferry task status --meta</c> with the same
    /// value shows what this application replicates.
    /// </summary>
    public string Meta { get; set; } = DefaultMeta;

    /// <summary>This application's store id: part of each database's identity in storage (a positive integer).</summary>
    public long StoreId { get; set; } = 1;

    /// <summary>The databases to replicate, each with where its backups go. At least one.</summary>
    public IList<FerryDatabaseOptions> Databases { get; } = [];
}

/// <summary>One database (or a glob of them) to replicate: a task of its own, with its storage and settings.</summary>
public sealed class FerryDatabaseOptions
{
    /// <summary>The database file (in WAL mode), or a glob; a database that appears later is picked up.</summary>
    public string Path { get; set; } = "";

    /// <summary>Where its backups go: a directory, <c>file:///dir</c> or <c>s3://bucket/prefix</c> (credentials in the environment).</summary>
    public string StorageUrl { get; set; } = "";

    /// <summary>
    /// The task's name in the metadata store (<c>ferry task status NAME</c>); by default the database's file name
    /// without its extension (<c>app.db</c>: <c>app</c>).
    /// </summary>
    public string? Task { get; set; }

    /// <summary>How often committed transactions are shipped (10 ms to 1 h); default 1 s.</summary>
    public TimeSpan FlushInterval { get; set; } = TaskOptions.Defaults.FlushInterval;

    /// <summary>Every instant of this window stays restorable; what no instant in it needs is deleted. Default 7 days.</summary>
    public TimeSpan Retention { get; set; } = TaskOptions.Defaults.Retention;

    /// <summary>How long transient errors are retried before the task pauses with the last one; default 5 min.</summary>
    public TimeSpan RetryBudget { get; set; } = TaskOptions.Defaults.RetryBudget;
}
