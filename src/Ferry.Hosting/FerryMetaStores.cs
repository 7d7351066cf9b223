using Ferry.Diagnostics;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Meta.Embedded;

namespace Ferry.Hosting;

/// <summary>Opens the metadata store a meta URL names: the one place that knows every implementation (the CLI opens through it too).</summary>
public static class FerryMetaStores
{
    public static Task<IMetaStore> OpenAsync(MetaUrl url, CancellationToken cancellationToken = default) =>
        OpenAsync(url, new EtcdConnectionOptions(), cancellationToken);

    /// <summary>As above, connecting to etcd with <paramref name="connection"/> (TLS, client certificate, login).</summary>
    public static async Task<IMetaStore> OpenAsync(MetaUrl url, EtcdConnectionOptions connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(connection);

        // Lets tests fail or hang whatever opens the metadata store, in a real process.
        await Failpoints.HitAsync("meta.open", cancellationToken).ConfigureAwait(false);
        return url.Kind switch
        {
            MetaKind.Embedded => await SqliteMetaStore.OpenAsync(url.Path, cancellationToken: cancellationToken).ConfigureAwait(false),
            _ => await EtcdMetaStore.ConnectAsync(url.Endpoints, new EtcdMetaStoreOptions { Connection = connection }, cancellationToken).ConfigureAwait(false),
        };
    }
}
