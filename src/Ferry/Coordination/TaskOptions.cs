using Ferry.Errors;

namespace Ferry.Coordination;

/// <summary>
/// How a task's streams run: the one home of each setting, its default and its valid range. The CLI's flags
/// (<c>ferry replicate</c>, <c>ferry task start</c>), the task record and the runner all read them from here.
/// </summary>
public sealed record TaskOptions
{
    /// <summary>Every setting at its default.</summary>
    public static readonly TaskOptions Defaults = new();

    public static readonly TimeSpan MinFlushInterval = TimeSpan.FromMilliseconds(10);
    public static readonly TimeSpan MaxFlushInterval = TimeSpan.FromHours(1);
    public static readonly TimeSpan MinStallTimeout = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MinRetention = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaxRetention = TimeSpan.FromDays(3650);
    public static readonly TimeSpan DefaultRetentionGrace = TimeSpan.FromMinutes(10);

    /// <summary>How often committed frames are shipped as a segment (default 1 s; 10 ms to 1 h).</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long transient errors are retried before the task pauses with the last one (default 5 min).</summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A step with no progress for this long is cancelled as <c>FERRY:Task:Stalled</c> and retried (default 60 s; at least 1 s).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>When set, <c>FERRY:Task:LagExceeded</c> is reported while the checkpoint is further behind than this.</summary>
    public TimeSpan? MaxLag { get; init; }

    /// <summary>Whether agents probe a pause caused by an exhausted retry budget and resume by themselves (default off).</summary>
    public bool AutoResume { get; init; }

    /// <summary>
    /// How long back every instant stays restorable, at transaction granularity (default 7 d, at least 1 min):
    /// whatever no instant inside [now − retention, now] needs is deleted from storage (DESIGN §10).
    /// </summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long an object that no instant of the window needs any more is kept before it is deleted, so a restore
    /// running elsewhere can finish (default: 10 min, or the retention if shorter).
    /// </summary>
    public TimeSpan? RetentionGrace { get; init; }

    /// <summary>The grace period in force: <see cref="RetentionGrace"/>, or its default for this retention.</summary>
    public TimeSpan EffectiveRetentionGrace => RetentionGrace ?? (Retention < DefaultRetentionGrace ? Retention : DefaultRetentionGrace);

    /// <summary>Throws <c>FERRY:Config:InvalidArgument</c>, naming the flag, for a setting out of its range.</summary>
    public TaskOptions Validate()
    {
        if (FindProblem() is { } problem)
        {
            var flag = "--" + string.Concat(problem.Setting.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));
            throw Invalid($"{flag} {problem.Problem} (it is {Durations.Humanize(problem.Value)})");
        }

        return this;
    }

    /// <summary>
    /// The first setting out of its range: its property name (<c>Retention</c>, which the CLI shows as its flag and the
    /// configuration file as its key), its value and what is wrong with it; null when every setting is valid. The one
    /// home of the ranges, for every way a task's settings are given.
    /// </summary>
    public (string Setting, TimeSpan Value, string Problem)? FindProblem()
    {
        if (FlushInterval < MinFlushInterval || FlushInterval > MaxFlushInterval) return (nameof(FlushInterval), FlushInterval, "must be between 10ms and 1h");
        if (RetryBudget < TimeSpan.Zero) return (nameof(RetryBudget), RetryBudget, "must not be negative");
        if (StallTimeout < MinStallTimeout) return (nameof(StallTimeout), StallTimeout, "must be at least 1s");
        if (MaxLag is { } lag && lag <= TimeSpan.Zero) return (nameof(MaxLag), lag, "must be positive");
        if (Retention < MinRetention) return (nameof(Retention), Retention, "must be at least 1m: a shorter window can't hold a restorable state");
        if (Retention > MaxRetention) return (nameof(Retention), Retention, "must be at most 3650d");
        if (RetentionGrace is { } grace && (grace < TimeSpan.Zero || grace > Retention)) return (nameof(RetentionGrace), grace, "must be between 0 and the retention");
        return null;
    }

    /// <summary>The settings a task record holds; what an older record lacks takes its default.</summary>
    public static TaskOptions Of(TaskDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new TaskOptions
        {
            FlushInterval = TimeSpan.FromMilliseconds(definition.FlushIntervalMs),
            RetryBudget = definition.RetryBudgetMs is { } budget ? TimeSpan.FromMilliseconds(budget) : Defaults.RetryBudget,
            StallTimeout = definition.StallTimeoutMs is { } stall ? TimeSpan.FromMilliseconds(stall) : Defaults.StallTimeout,
            MaxLag = definition.MaxLagMs is { } lag ? TimeSpan.FromMilliseconds(lag) : null,
            AutoResume = definition.AutoResume == true,
            Retention = definition.RetentionMs is { } retention ? TimeSpan.FromMilliseconds(retention) : Defaults.Retention,
            RetentionGrace = definition.RetentionGraceMs is { } grace ? TimeSpan.FromMilliseconds(grace) : null,
        };
    }

    /// <summary>A task record with these settings.</summary>
    public TaskDefinition Define(string name, IReadOnlyList<string> databases, string storage, long createdAt) => new(
        name,
        databases,
        storage,
        (long)FlushInterval.TotalMilliseconds,
        createdAt,
        (long)RetryBudget.TotalMilliseconds,
        (long)StallTimeout.TotalMilliseconds,
        MaxLag is { } lag ? (long)lag.TotalMilliseconds : null,
        AutoResume ? true : null,
        (long)Retention.TotalMilliseconds,
        RetentionGrace is { } grace ? (long)grace.TotalMilliseconds : null);

    private static FerryException Invalid(string message) => new(ErrorCodes.ConfigInvalidArgument, message);
}
