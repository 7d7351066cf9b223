namespace Ferry.Agent.Configuration;

/// <summary>
/// The agent's own settings of the <c>Ferry</c> section, as written, bound by the configuration binder. Every value
/// stays text here so Ferry's own rules check it and a problem names its key: the binder's conversion errors quote
/// the value, which may have come from a secret. The property names are the keys; <c>Defaults</c> and
/// <c>Databases</c> are sections, read by <see cref="FerryConfigurationLoader"/> entry by entry.
/// </summary>
internal sealed class FerrySettings
{
    public string? Meta { get; set; }

    public string? StoreId { get; set; }

    public string? Http { get; set; }

    public string? Generation { get; set; }

    public string? Takeover { get; set; }

    public string? TakeoverTimeout { get; set; }
}

/// <summary>A task's settings: those of <c>Defaults</c>, and of each database, which inherits what it leaves out.</summary>
internal class TaskSettings
{
    public string? To { get; set; }

    public string? FlushInterval { get; set; }

    public string? RetryBudget { get; set; }

    public string? StallTimeout { get; set; }

    public string? MaxLag { get; set; }

    public string? AutoResume { get; set; }

    public string? Retention { get; set; }

    public string? RetentionGrace { get; set; }
}

/// <summary>One entry of <c>Databases</c>: a database (or a glob) and, when it is not derived from the path, its task's name.</summary>
internal sealed class DatabaseSettings : TaskSettings
{
    public string? Path { get; set; }

    public string? Task { get; set; }
}

/// <summary><c>Etcd</c>: how to reach a secured etcd (the <c>--etcd-…</c> flags and <c>FERRY_ETCD_…</c> variables win over these).</summary>
internal sealed class EtcdSettings
{
    public string? Ca { get; set; }

    public string? Cert { get; set; }

    public string? Key { get; set; }

    public string? User { get; set; }

    public string? Password { get; set; }

    public string? PasswordFile { get; set; }
}
