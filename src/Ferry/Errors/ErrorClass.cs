namespace Ferry.Errors;

/// <summary>
/// How an error is handled (DESIGN §4). The class belongs to the error's code, never to the call site.
/// </summary>
public enum ErrorClass
{
    /// <summary>An outcome the caller handles inline (compare-and-swap lost, key exists, not found); never reported.</summary>
    Expected,

    /// <summary>Retried with backoff and jitter; only idempotent work is retried blindly.</summary>
    Transient,

    /// <summary>Reported; pauses the task, or quarantines the one database it belongs to.</summary>
    Permanent,

    /// <summary>Data in storage or the WAL can't be trusted: reported and paused, never fixed silently.</summary>
    Integrity,

    /// <summary>The metadata session (lease) expired: the agent re-bootstraps.</summary>
    SessionLost,

    /// <summary>A newer deploy generation or epoch owns the store: stop writing at once.</summary>
    Fenced,

    /// <summary>Shutdown or pause: not an error.</summary>
    Cancelled,

    /// <summary>An invariant was violated (a bug): reported with a diagnostic id, pauses that task only.</summary>
    Internal,
}
