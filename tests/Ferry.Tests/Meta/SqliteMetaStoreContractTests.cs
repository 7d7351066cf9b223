using Ferry.Meta;
using Ferry.Meta.Embedded;
using Ferry.TestKit;
using Ferry.TestKit.Meta;

namespace Ferry.Tests.Meta;

/// <summary>The embedded store against the shared contract, on a real file, raced by a real second process.</summary>
public sealed class SqliteMetaStoreContractTests : MetaStoreContractTests
{
    private readonly TempDirectory _dir = new("meta");

    private string DbPath => _dir.File("meta.db");

    protected override string MetaUrl => $"file:{DbPath}";

    protected override Task<IMetaStore> OpenStoreAsync() => SqliteMetaStore.OpenAsync(DbPath);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }
}
