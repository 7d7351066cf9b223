using Ferry.Coordination;

namespace Ferry.Retention;

/// <summary>
/// What a task keeps (DESIGN §10) and the cadence that follows from it: the window W every instant of which stays
/// restorable, the grace period before an object no instant needs is deleted, how segments are packed as they age,
/// and how often a snapshot starts a new generation and a retention pass runs. Everything scales with the window,
/// so a one-minute window is exercised by the same rules as a week.
/// </summary>
internal sealed record RetentionPolicy(TimeSpan Window, TimeSpan Grace, TimeSpan FlushInterval)
{
    /// <summary>A pack holds at most this many bytes of objects; a bigger run is packed in several.</summary>
    public const long MaxPackBytes = 64L << 20;

    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    public static RetentionPolicy Of(TaskOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RetentionPolicy(options.Retention, options.EffectiveRetentionGrace, options.FlushInterval);
    }

    /// <summary>Segments whose first transaction falls in one such span are packed into one object (a minute, or a tenth of the window).</summary>
    public TimeSpan FineSpan => Min(Minute, Window / 10);

    /// <summary>Then the objects of one such span are packed into one (an hour, or half the window).</summary>
    public TimeSpan CoarseSpan => Min(Hour, Window / 2);

    /// <summary>
    /// How often a fresh snapshot starts a new generation: daily, or every half window if shorter. It bounds a
    /// restore (one snapshot, then at most a day of hourly packs) and what storage holds (about one and a half windows).
    /// </summary>
    public TimeSpan SnapshotInterval => Min(Day, Window / 2);

    /// <summary>How often a pass runs while the database is written: every fine span (at most a minute, a tenth of the window).</summary>
    public TimeSpan PassInterval => FineSpan;

    /// <summary>How long after a span ends its last segments may still be landing: a span is packed only after it.</summary>
    public TimeSpan Settle => TimeSpan.FromSeconds(2) + (FlushInterval * 2);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
