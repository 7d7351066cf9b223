using System.CommandLine;
using Ferry.Etcd;
using Ferry.Hosting;
using Ferry.Meta;

namespace Ferry.Cli.Wiring;

/// <summary>Opens the metadata store a <c>--meta</c> URL names, as an application's <c>AddFerry</c> does (<see cref="FerryMetaStores"/>).</summary>
internal static class MetaStoreFactory
{
    /// <summary>The store of the command line's <c>--meta</c>, with the etcd TLS and login flags and variables.</summary>
    public static Task<IMetaStore> OpenAsync(ParseResult parse, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return OpenAsync(MetaUrl.Resolve(parse.GetValue(CommandRunner.Meta)), EtcdConnectionFlags.Read(parse), cancellationToken);
    }

    public static Task<IMetaStore> OpenAsync(MetaUrl url, EtcdConnectionOptions connection, CancellationToken cancellationToken = default) =>
        FerryMetaStores.OpenAsync(url, connection, cancellationToken);
}
