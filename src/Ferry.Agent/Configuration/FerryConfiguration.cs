using System.Net;
using Ferry.Coordination;
using Ferry.Storage;

namespace Ferry.Agent.Configuration;

/// <summary>
/// A validated <c>Ferry</c> section (docs/configuration.md): the agent's settings, each null when not given (the
/// command's flag or default decides), and the databases, each its own task. Read by
/// <see cref="FerryConfigurationLoader"/>; <c>ferry replicate --config</c>, <c>ferry agent --config</c>,
/// <c>ferry config check</c> and an application's <c>AddFerry</c> all take this one shape.
/// </summary>
public sealed class FerryConfiguration
{
    /// <summary>The metadata store URL (a relative <c>file:</c> path made absolute); null: <c>FERRY_META</c>, else the default.</summary>
    public string? Meta { get; init; }

    /// <summary>This machine's store id; null: the command's (1 for <c>ferry replicate</c>; <c>ferry agent</c> needs one).</summary>
    public long? StoreId { get; init; }

    /// <summary>Where <c>/metrics</c> and <c>/status</c> are served; null: not served.</summary>
    public IPEndPoint? Http { get; init; }

    /// <summary>The deploy generation (DESIGN §5); null: 0.</summary>
    public long? Generation { get; init; }

    /// <summary>How a live holder of the store is treated at start; null: the default.</summary>
    public Takeover? Takeover { get; init; }

    /// <summary>How long a <c>when-ready</c> takeover waits for the holder to hand over; null: 2 min.</summary>
    public TimeSpan? TakeoverTimeout { get; init; }

    /// <summary>How to reach a secured etcd (<c>Etcd</c>); null when the section is absent.</summary>
    public FerryEtcdSettings? Etcd { get; init; }

    /// <summary>The databases, in the order written, each its own task.</summary>
    public IReadOnlyList<ConfiguredDatabase> Databases { get; init; } = [];

    /// <summary>The task record of each database, as <c>ferry task start</c> would write it.</summary>
    public IReadOnlyList<TaskDefinition> DefineTasks(long createdAt) => [.. Databases.Select(d => d.Define(createdAt))];

    /// <summary>The store session's settings: these, over the <paramref name="storeId"/> a command falls back on.</summary>
    public StoreSessionOptions StoreSession(long storeId, string version)
    {
        var defaults = new StoreSessionOptions { StoreId = storeId };
        return defaults with
        {
            StoreId = StoreId ?? storeId,
            Version = version,
            Generation = Generation ?? defaults.Generation,
            Takeover = Takeover ?? defaults.Takeover,
            HandoverTimeout = TakeoverTimeout ?? defaults.HandoverTimeout,
        };
    }

    /// <summary>
    /// What would run, for people: one line of agent settings, then one per database. A value that came from an
    /// environment variable is shown as written (<c>${NAME}</c>), never expanded.
    /// </summary>
    public IReadOnlyList<string> Describe()
    {
        var agent = new List<string>
        {
            $"store {(StoreId is { } id ? id.ToString(System.Globalization.CultureInfo.InvariantCulture) : "not set")}",
            $"metadata {MetaShown ?? Meta ?? "default (FERRY_META, else $FERRY_HOME/meta.db)"}",
        };
        if (Http is not null) agent.Add($"http {HttpShown ?? AgentHttpAddress.Format(Http)}");
        if (Generation is { } generation) agent.Add($"generation {generation}");
        if (Takeover is { } takeover) agent.Add($"takeover {(takeover == Coordination.Takeover.WhenReady ? "when-ready" : "now")}");
        if (TakeoverTimeout is { } timeout) agent.Add($"takeover timeout {Durations.Humanize(timeout)}");
        if (Etcd is { } etcd) agent.Add(etcd.Describe());
        var lines = new List<string> { $"{Databases.Count} database{(Databases.Count == 1 ? "" : "s")}; {string.Join(", ", agent)}" };
        lines.AddRange(Databases.Select(d => "  " + d.Describe()));
        return lines;
    }

    /// <summary>The metadata URL as written, when it came from an environment variable.</summary>
    internal string? MetaShown { get; init; }

    /// <summary>The HTTP address as written, when it came from an environment variable.</summary>
    internal string? HttpShown { get; init; }
}

/// <summary>One database entry: its task's name, the absolute path (or glob), its storage and its task's settings.</summary>
public sealed class ConfiguredDatabase
{
    /// <summary>Its key, <c>Ferry:Databases:N</c>, for messages.</summary>
    public required string Key { get; init; }

    /// <summary>The task it becomes: its <c>Task</c>, else a name derived from its path.</summary>
    public required string Task { get; init; }

    /// <summary>The database's absolute path, or a glob in its file name (<c>/data/tenants/*.db</c>).</summary>
    public required string Path { get; init; }

    public required StorageUrl Storage { get; init; }

    public required TaskOptions Options { get; init; }

    /// <summary>The value of each setting that came from an environment variable, as written (<c>${NAME}</c>), by setting.</summary>
    internal IReadOnlyDictionary<string, string> Written { get; init; } = new Dictionary<string, string>();

    /// <summary>The storage as it may be shown: as written when it came from an environment variable.</summary>
    public string StorageShown => Written.GetValueOrDefault(nameof(TaskSettings.To)) ?? Storage.ToString();

    /// <summary>The database as it may be shown.</summary>
    public string PathShown => Written.GetValueOrDefault(nameof(DatabaseSettings.Path)) ?? Path;

    /// <summary>The task record, as <c>ferry task start</c> would write it.</summary>
    public TaskDefinition Define(long createdAt) => Options.Define(Task, [Path], Storage.ToString(), createdAt);

    /// <summary>"/data/app.db -> s3://bucket/app (task 'app'; flush 1s, retention 7d, …)".</summary>
    public string Describe()
    {
        var settings = new List<string>
        {
            $"flush {Shown(nameof(TaskOptions.FlushInterval), Options.FlushInterval)}",
            $"retention {Shown(nameof(TaskOptions.Retention), Options.Retention)}",
            $"grace {Shown(nameof(TaskOptions.RetentionGrace), Options.EffectiveRetentionGrace)}",
            $"retry budget {Shown(nameof(TaskOptions.RetryBudget), Options.RetryBudget)}",
            $"stall timeout {Shown(nameof(TaskOptions.StallTimeout), Options.StallTimeout)}",
        };
        if (Options.MaxLag is { } lag) settings.Add($"max lag {Shown(nameof(TaskOptions.MaxLag), lag)}");
        if (Options.AutoResume) settings.Add("auto-resume");
        return $"{PathShown} -> {StorageShown} (task '{Task}'; {string.Join(", ", settings)})";
    }

    private string Shown(string setting, TimeSpan value) => Written.GetValueOrDefault(setting) ?? Durations.Humanize(value);
}

/// <summary>
/// The <c>Etcd</c> section: CA, client certificate and key files (absolute), and a login. The password is never
/// shown (<see cref="ToString"/> and <see cref="Describe"/> say only whether one is set).
/// </summary>
public sealed record FerryEtcdSettings(string? Ca, string? Cert, string? Key, string? User, string? Password, string? PasswordFile)
{
    public string Describe()
    {
        var parts = new List<string>();
        if (Ca is not null) parts.Add($"ca {Ca}");
        if (Cert is not null) parts.Add($"client certificate {Cert}");
        if (User is not null) parts.Add($"user {User}");
        if (PasswordFile is not null) parts.Add($"password from {PasswordFile}");
        else if (Password is not null) parts.Add("password ***");
        return $"etcd {(parts.Count == 0 ? "defaults" : string.Join(", ", parts))}";
    }

    public override string ToString() => Describe();
}
