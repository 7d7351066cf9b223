namespace Ferry.Coordination;

/// <summary>
/// What a stream asks before each of its storage writes (DESIGN §5: the guard on every write, not the lease, keeps a
/// zombie out). The agent provides it for the session in which the store is provably its own.
/// </summary>
internal interface IWriteGuard
{
    /// <summary>
    /// Cancelled once this process must stop writing at once, without shipping what it captured: it is fenced out,
    /// or the session that proved the store its own is lost. What was not shipped is read again by whoever owns
    /// the store, from the last position shipped.
    /// </summary>
    CancellationToken Aborted { get; }

    /// <summary>Throws the error (Fenced or SessionLost) that stopped writing, if writing has stopped.</summary>
    void ThrowIfAborted();

    /// <summary>
    /// Before a storage write: throws when writing has stopped; when the store's lease has not been renewed within
    /// its time to live (the process may have been stopped, and a standby taken the store), first reads the fence
    /// from the metadata store under a short deadline. A metadata store that can't be reached allows the write: an
    /// outage must not stop shipping, and the writer's token in the object keeps it out of a restore if it was a
    /// zombie's.
    /// </summary>
    Task CheckAsync(CancellationToken cancellationToken = default);
}
