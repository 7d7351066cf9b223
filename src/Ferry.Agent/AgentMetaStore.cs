using Ferry.Meta;

namespace Ferry.Agent;

/// <summary>
/// The metadata store an agent runs on: either one its caller opened and keeps (<c>ferry agent</c>, <c>ferry
/// replicate</c>: the command opens it before the host and disposes it after), or one the agent opens when its run
/// starts and disposes when the run ends (an application's <c>AddFerry</c>: nothing is opened while the application
/// is only being composed, and the store's file or connection lives exactly as long as the hosted service runs).
/// </summary>
public sealed class AgentMetaStore
{
    private readonly IMetaStore? _borrowed;
    private readonly Func<CancellationToken, Task<IMetaStore>>? _open;
    private IMetaStore? _opened;

    private AgentMetaStore(IMetaStore? borrowed, Func<CancellationToken, Task<IMetaStore>>? open)
    {
        _borrowed = borrowed;
        _open = open;
    }

    /// <summary>A store the caller opened; it stays the caller's to dispose.</summary>
    public static AgentMetaStore Borrowed(IMetaStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new AgentMetaStore(store, null);
    }

    /// <summary>A store the agent opens with <paramref name="open"/> when its run starts, and disposes when the run ends.</summary>
    public static AgentMetaStore OpenedByAgent(Func<CancellationToken, Task<IMetaStore>> open)
    {
        ArgumentNullException.ThrowIfNull(open);
        return new AgentMetaStore(null, open);
    }

    /// <summary>The store, opened first when it is the agent's own.</summary>
    internal async Task<IMetaStore> OpenAsync(CancellationToken cancellationToken)
    {
        if (_borrowed is not null) return _borrowed;
        if (_opened is not null) throw new InvalidOperationException("the agent's metadata store is open already: an agent runs once");
        _opened = await _open!(cancellationToken).ConfigureAwait(false);
        return _opened;
    }

    /// <summary>Disposes the store when the agent opened it; a borrowed one is left alone.</summary>
    internal async ValueTask CloseAsync()
    {
        var opened = Interlocked.Exchange(ref _opened, null);
        if (opened is not null) await opened.DisposeAsync().ConfigureAwait(false);
    }
}
