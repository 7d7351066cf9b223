using Ferry.TestKit;
using Ferry.TestKit.Etcd;

namespace Ferry.IntegrationTests.Meta;

/// <summary>
/// An etcd as production runs it: clients over TLS only, with a certificate signed by its CA (<c>--client-cert-auth</c>),
/// and etcd's auth enabled. Users: <c>root</c>; <c>ferry</c>, whose role has readwrite on <c>/ferry/</c> only; and
/// <c>outsider</c>, whose role covers <c>/other/</c> only. Passwords are random per fixture, so a test can look for
/// them in what Ferry printed. One per test class.
/// </summary>
public sealed class SecureEtcd : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("etcd-pki");

    public SecureEtcd()
    {
        Certificates = TestCertificates.Create(_dir.File("pki"));
        Server = new EtcdServer { Tls = Certificates, ClientCertAuth = true };
    }

    public TestCertificates Certificates { get; }

    public EtcdServer Server { get; }

    public string RootPassword { get; } = $"root-{Guid.NewGuid():N}";

    public string FerryPassword { get; } = $"ferry-{Guid.NewGuid():N}";

    public string OutsiderPassword { get; } = $"outsider-{Guid.NewGuid():N}";

    /// <summary>A file holding the ferry user's password, as a secret mount would.</summary>
    public string FerryPasswordFile => _dir.File("ferry-password");

    public string MetaUrl => Server.MetaUrl;

    /// <summary>TLS settings as flags; a login is added by each test.</summary>
    public string[] TlsFlags => ["--etcd-ca", Certificates.CaFile, "--etcd-cert", Certificates.ClientCertFile, "--etcd-key", Certificates.ClientKeyFile];

    /// <summary>The same TLS settings and the ferry user's login, as environment variables.</summary>
    public Dictionary<string, string> FerryEnvironment => new()
    {
        ["FERRY_ETCD_CA"] = Certificates.CaFile,
        ["FERRY_ETCD_CERT"] = Certificates.ClientCertFile,
        ["FERRY_ETCD_KEY"] = Certificates.ClientKeyFile,
        ["FERRY_ETCD_USER"] = "ferry",
        ["FERRY_ETCD_PASSWORD"] = FerryPassword,
    };

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(FerryPasswordFile, FerryPassword + "\n");
        await Server.InitializeAsync();
        await Etcdctl.RunAsync(Server, "user", "add", $"root:{RootPassword}");
        await Etcdctl.RunAsync(Server, "user", "add", $"ferry:{FerryPassword}");
        await Etcdctl.RunAsync(Server, "role", "add", "ferry");
        await Etcdctl.RunAsync(Server, "role", "grant-permission", "ferry", "--prefix=true", "readwrite", "/ferry/");
        await Etcdctl.RunAsync(Server, "user", "grant-role", "ferry", "ferry");
        await Etcdctl.RunAsync(Server, "user", "add", $"outsider:{OutsiderPassword}");
        await Etcdctl.RunAsync(Server, "role", "add", "outsider");
        await Etcdctl.RunAsync(Server, "role", "grant-permission", "outsider", "--prefix=true", "readwrite", "/other/");
        await Etcdctl.RunAsync(Server, "user", "grant-role", "outsider", "outsider");
        await Etcdctl.RunAsync(Server, "auth", "enable");
        Server.EtcdctlLogin = $"root:{RootPassword}";
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _dir.Dispose();
    }
}
