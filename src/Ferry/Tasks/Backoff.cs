namespace Ferry.Tasks;

/// <summary>
/// Exponential backoff with jitter for retrying transient errors: attempt n waits a random time between half and
/// all of min(<see cref="Max"/>, <see cref="Initial"/> × 2^(n−1)), so many streams failing together don't retry
/// in lockstep. The supervisor's retry loop is its own state machine (it publishes RETRYING with the attempt and
/// the next attempt's time, and escalates when the retry budget is spent), so only the delay is computed here,
/// rather than handing the loop to a resilience pipeline.
/// </summary>
internal sealed record Backoff(TimeSpan Initial, TimeSpan Max)
{
    public static readonly Backoff Default = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    /// <summary>The delay before retry number <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan DelayFor(int attempt, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var exponent = Math.Min(attempt - 1, 30);
        var ceiling = Math.Min(Max.TotalMilliseconds, Initial.TotalMilliseconds * Math.Pow(2, exponent));
        var jitter = 0.5 + ((random ?? Random.Shared).NextDouble() * 0.5);
        return TimeSpan.FromMilliseconds(ceiling * jitter);
    }
}
