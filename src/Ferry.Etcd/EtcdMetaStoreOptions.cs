namespace Ferry.Etcd;

/// <summary>Settings of <see cref="EtcdMetaStore"/>. The defaults suit a cluster on a LAN.</summary>
public sealed class EtcdMetaStoreOptions
{
    /// <summary>
    /// The deadline of one metadata call, retries included (default 5 s). A hung or unreachable etcd surfaces as
    /// <c>FERRY:Meta:Timeout</c> or <c>FERRY:Meta:Unavailable</c> within it.
    /// </summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First delay between retries of an idempotent call (default 50 ms); it doubles, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Longest delay between two retries (default 1 s).</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Interval of HTTP/2 pings on a connection with calls open but silent (default 8 s). A server that does not
    /// answer a ping within the same interval is taken as gone, which is how a watch notices a hung etcd.
    /// </summary>
    public TimeSpan KeepAlivePingInterval { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>
    /// How long a broken watch keeps trying to resume before its enumerator fails with the last error
    /// (default 60 s). Resuming never loses or repeats an event.
    /// </summary>
    public TimeSpan WatchReconnectBudget { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>TLS trust, client certificate and login for a secured etcd (default: none).</summary>
    public EtcdConnectionOptions Connection { get; set; } = new();

    internal void Validate()
    {
        if (CallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(CallTimeout), CallTimeout, "CallTimeout must be positive; 5 s suits most clusters.");
        }

        if (RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryBaseDelay), RetryBaseDelay,
                "RetryBaseDelay must be positive and at most RetryMaxDelay; the defaults are 50 ms and 1 s.");
        }

        // etcd's --grpc-keepalive-min-time defaults to 5 s; a client that pings more often is disconnected.
        if (KeepAlivePingInterval < TimeSpan.FromSeconds(6))
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAlivePingInterval), KeepAlivePingInterval,
                "KeepAlivePingInterval must be at least 6 s: etcd disconnects clients that ping more often than every 5 s.");
        }

        ArgumentNullException.ThrowIfNull(Connection);
        if (WatchReconnectBudget < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(WatchReconnectBudget), WatchReconnectBudget, "WatchReconnectBudget can't be negative.");
        }
    }
}
