using Ferry.Hosting;
using Ferry.Meta;

namespace Ferry.Cli.Wiring;

/// <summary>Opens the metadata store a <c>--meta</c> URL names, as an application's <c>AddFerry</c> does (<see cref="FerryMetaStores"/>).</summary>
internal static class MetaStoreFactory
{
    public static Task<IMetaStore> OpenAsync(string? url, CancellationToken cancellationToken = default) =>
        OpenAsync(MetaUrl.Resolve(url), cancellationToken);

    public static Task<IMetaStore> OpenAsync(MetaUrl url, CancellationToken cancellationToken = default) =>
        FerryMetaStores.OpenAsync(url, cancellationToken);
}
