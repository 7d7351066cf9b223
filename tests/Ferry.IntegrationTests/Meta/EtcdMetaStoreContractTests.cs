using Ferry.Etcd;
using Ferry.Meta;
using Ferry.TestKit.Etcd;
using Ferry.TestKit.Meta;
using Xunit;

namespace Ferry.IntegrationTests.Meta;

/// <summary>The metadata store contract against a real etcd.</summary>
[Collection(EtcdCollection.Name)]
public sealed class EtcdMetaStoreContractTests(EtcdServer etcd) : MetaStoreContractTests
{
    protected override string MetaUrl => etcd.MetaUrl;

    protected override Task<IMetaStore> OpenStoreAsync() => EtcdMetaStore.ConnectAsync([etcd.Endpoint]);
}
