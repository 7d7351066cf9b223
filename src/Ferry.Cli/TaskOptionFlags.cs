using System.CommandLine;
using Ferry.Coordination;

namespace Ferry.Cli;

/// <summary>
/// The flags of a task's settings, shared by <c>ferry replicate</c> and <c>ferry task start</c>: their defaults and
/// ranges are <see cref="TaskOptions"/>'s, written there once.
/// </summary>
internal sealed class TaskOptionFlags
{
    private readonly Option<string> _flush = new("--flush-interval")
    {
        Description = "How often committed frames are shipped (e.g. 500ms, 1s, 5s; 10ms to 1h).",
        DefaultValueFactory = _ => Durations.Humanize(TaskOptions.Defaults.FlushInterval),
    };

    private readonly Option<string> _budget = new("--retry-budget")
    {
        Description = "How long transient errors are retried before the task pauses with the last one.",
        DefaultValueFactory = _ => Durations.Humanize(TaskOptions.Defaults.RetryBudget),
    };

    private readonly Option<string> _stall = new("--stall-timeout")
    {
        Description = "A step with no progress for this long is cancelled as FERRY:Task:Stalled and retried (at least 1s).",
        DefaultValueFactory = _ => Durations.Humanize(TaskOptions.Defaults.StallTimeout),
    };

    private readonly Option<string?> _maxLag = new("--max-lag")
    {
        Description = "Report FERRY:Task:LagExceeded (log, metric, alert) when the checkpoint falls further behind than this, e.g. 5m.",
    };

    private readonly Option<bool> _autoResume = new("--auto-resume")
    {
        Description = "Let agents probe a pause caused by an exhausted retry budget (a partition that may heal) with a growing backoff "
            + "(30s doubling up to 1h) and resume by themselves. Never for integrity, permission or internal errors.",
    };

    private readonly Option<string> _retention = new("--retention")
    {
        Description = "Keep every instant of this window restorable, at transaction granularity, and delete from storage what no instant "
            + "in it needs (e.g. 12h, 7d, 30d; at least 1m).",
        DefaultValueFactory = _ => Durations.Humanize(TaskOptions.Defaults.Retention),
    };

    private readonly Option<string?> _retentionGrace = new("--retention-grace")
    {
        Description = "Keep an object this long after no instant of the window needs it, so a restore running elsewhere can finish "
            + "(default 10m, or the retention if shorter).",
    };

    public IEnumerable<Option> All => [_flush, _budget, _stall, _maxLag, _autoResume, _retention, _retentionGrace];

    /// <summary>The settings given, validated: a value out of its range is a usage error naming its flag.</summary>
    public TaskOptions Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return new TaskOptions
        {
            FlushInterval = Durations.Parse(parse.GetValue(_flush)!, "--flush-interval"),
            RetryBudget = Durations.Parse(parse.GetValue(_budget)!, "--retry-budget"),
            StallTimeout = Durations.Parse(parse.GetValue(_stall)!, "--stall-timeout"),
            MaxLag = parse.GetValue(_maxLag) is { } lag ? Durations.Parse(lag, "--max-lag") : null,
            AutoResume = parse.GetValue(_autoResume),
            Retention = Durations.Parse(parse.GetValue(_retention)!, "--retention"),
            RetentionGrace = parse.GetValue(_retentionGrace) is { } grace ? Durations.Parse(grace, "--retention-grace") : null,
        }.Validate();
    }
}
