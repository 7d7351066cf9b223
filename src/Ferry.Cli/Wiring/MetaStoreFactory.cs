using Ferry.Diagnostics;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Meta.Embedded;

namespace Ferry.Cli.Wiring;

/// <summary>Opens the metadata store a <c>--meta</c> URL names. The only place that knows every implementation.</summary>
internal static class MetaStoreFactory
{
    public static Task<IMetaStore> OpenAsync(string? url, CancellationToken cancellationToken = default) =>
        OpenAsync(MetaUrl.Resolve(url), cancellationToken);

    public static async Task<IMetaStore> OpenAsync(MetaUrl url, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);

        // Lets tests fail or hang every command that needs the metadata store, in a real ferry process.
        await Failpoints.HitAsync("meta.open", cancellationToken);
        return url.Kind switch
        {
            MetaKind.Embedded => await SqliteMetaStore.OpenAsync(url.Path, cancellationToken: cancellationToken),
            _ => await EtcdMetaStore.ConnectAsync(url.Endpoints, cancellationToken: cancellationToken),
        };
    }
}
