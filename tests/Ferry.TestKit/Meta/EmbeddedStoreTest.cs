using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Meta.Embedded;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Ferry.TestKit.Meta;

/// <summary>A test on a real embedded metadata store in a temp directory, with the keys, metrics and reporter it needs.</summary>
public abstract class EmbeddedStoreTest(string name) : IAsyncLifetime
{
    protected TempDirectory Dir { get; } = new(name);

    protected MetaKeys Keys { get; } = new();

    protected FerryMetrics Metrics { get; } = new();

    protected IMetaStore Store { get; private set; } = null!;

    /// <summary>A reporter that counts into <see cref="Metrics"/> and logs to <paramref name="logger"/> (nowhere by default).</summary>
    protected ErrorReporter Reporter(ILogger<ErrorReporter>? logger = null) => new(logger ?? NullLogger<ErrorReporter>.Instance, Metrics);

    public virtual async Task InitializeAsync() => Store = await SqliteMetaStore.OpenAsync(Dir.File("meta.db"));

    public virtual async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        Metrics.Dispose();
        Dir.Dispose();
    }
}
