using Ferry.TestKit.Etcd;
using Xunit;

namespace Ferry.IntegrationTests.Meta;

/// <summary>
/// One etcd server shared by every test class in the collection. xunit only finds collection definitions in the
/// test assembly itself, so this lives here rather than next to <see cref="EtcdServer"/> in the TestKit.
/// </summary>
[CollectionDefinition(Name)]
public sealed class EtcdCollection : ICollectionFixture<EtcdServer>
{
    public const string Name = "etcd";
}
