using System.CommandLine;
using Ferry.Diagnostics;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.Meta.Embedded;

namespace Ferry.Cli.Wiring;

/// <summary>Opens the metadata store a <c>--meta</c> URL names. The only place that knows every implementation.</summary>
internal static class MetaStoreFactory
{
    /// <summary>The store of the command line's <c>--meta</c>, with the etcd TLS and login flags and variables.</summary>
    public static Task<IMetaStore> OpenAsync(ParseResult parse, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return OpenAsync(MetaUrl.Resolve(parse.GetValue(CommandRunner.Meta)), EtcdConnectionFlags.Read(parse), cancellationToken);
    }

    public static async Task<IMetaStore> OpenAsync(MetaUrl url, EtcdConnectionOptions connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(connection);

        // Lets tests fail or hang every command that needs the metadata store, in a real ferry process.
        await Failpoints.HitAsync("meta.open", cancellationToken);
        return url.Kind switch
        {
            MetaKind.Embedded => await SqliteMetaStore.OpenAsync(url.Path, cancellationToken: cancellationToken),
            _ => await EtcdMetaStore.ConnectAsync(url.Endpoints, new EtcdMetaStoreOptions { Connection = connection }, cancellationToken),
        };
    }
}
