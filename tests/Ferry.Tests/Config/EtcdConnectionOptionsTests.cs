using System.CommandLine;
using Ferry.Agent.Configuration;
using Ferry.Cli.Wiring;
using Ferry.Errors;
using Ferry.Etcd;
using Ferry.Etcd.Internal;
using Ferry.Meta;
using Ferry.TestKit;
using Ferry.TestKit.Etcd;

namespace Ferry.Tests.Config;

/// <summary>Where the etcd TLS and login settings come from, and what is refused before any connection is tried.</summary>
public sealed class EtcdConnectionOptionsTests : IDisposable
{
    private readonly TempDirectory _dir = new("etcd-options");

    public void Dispose() => _dir.Dispose();

    private static EtcdConnectionOptions Read(string[] args, Dictionary<string, string> environment)
    {
        var root = new RootCommand();
        foreach (var option in EtcdConnectionFlags.All) root.Options.Add(option);
        var parse = root.Parse(args);
        Assert.Empty(parse.Errors);
        return EtcdConnectionFlags.Read(parse, name => environment.GetValueOrDefault(name));
    }

    [Fact]
    public void Read_FlagAndVariableBothSet_FlagWins()
    {
        var options = Read(
            ["--etcd-ca", "/flag/ca.pem", "--etcd-user", "flag-user"],
            new() { ["FERRY_ETCD_CA"] = "/env/ca.pem", ["FERRY_ETCD_USER"] = "env-user", ["FERRY_ETCD_CERT"] = "/env/cert.pem", ["FERRY_ETCD_KEY"] = "/env/key.pem" });

        Assert.Equal("/flag/ca.pem", options.CaFile);
        Assert.Equal("flag-user", options.User);
        Assert.Equal("/env/cert.pem", options.CertFile);
        Assert.Equal("/env/key.pem", options.KeyFile);
    }

    [Fact]
    public void Read_ConfigurationFile_UnderTheVariablesAndFlags()
    {
        var root = new RootCommand();
        foreach (var option in EtcdConnectionFlags.All) root.Options.Add(option);
        var parse = root.Parse(["--etcd-user", "flag-user"]);
        var file = new FerryEtcdSettings("/file/ca.pem", "/file/cert.pem", "/file/key.pem", "file-user", "file-pw", null);
        Dictionary<string, string> environment = new() { ["FERRY_ETCD_CERT"] = "/env/cert.pem" };

        var options = EtcdConnectionFlags.Read(parse, name => environment.GetValueOrDefault(name), file);
        var withEnvironmentPassword = EtcdConnectionFlags.Read(parse, name => name == "FERRY_ETCD_PASSWORD" ? "env-pw" : null, file);

        Assert.Equal("/file/ca.pem", options.CaFile);
        Assert.Equal("/env/cert.pem", options.CertFile);
        Assert.Equal("/file/key.pem", options.KeyFile);
        Assert.Equal("flag-user", options.User);
        Assert.Equal("file-pw", options.Password);
        Assert.Equal("env-pw", withEnvironmentPassword.Password);
    }

    [Fact]
    public void Read_NothingSet_AllNull()
    {
        var options = Read([], []);

        Assert.Null(options.CaFile);
        Assert.Null(options.User);
        Assert.Null(options.Password);
        Assert.Null(options.PasswordFile);
        Assert.False(options.HasTlsSettings);
    }

    [Fact]
    public void Read_PasswordFromVariable_AndPasswordFileFlagOverVariable()
    {
        var environment = new Dictionary<string, string> { ["FERRY_ETCD_PASSWORD"] = "from-env", ["FERRY_ETCD_PASSWORD_FILE"] = "/env/pw" };

        var fromEnv = Read([], environment);
        var fromFlag = Read(["--etcd-password-file", "/flag/pw"], environment);

        Assert.Equal("from-env", fromEnv.Password);
        Assert.Equal("/env/pw", fromEnv.PasswordFile);
        Assert.Equal("/flag/pw", fromFlag.PasswordFile);
    }

    [Fact]
    public void PasswordFlag_DoesNotExist_SoAPasswordCanNotBeTyped()
    {
        Assert.DoesNotContain(EtcdConnectionFlags.All, o => o.Name == "--etcd-password");
    }

    [Fact]
    public void ToString_PasswordSet_NotShown()
    {
        var options = new EtcdConnectionOptions { User = "ferry", Password = "hunter2-secret", CaFile = "/ca.pem" };

        Assert.DoesNotContain("hunter2-secret", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("user=ferry", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("password=***", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_PasswordFile_OneTrailingNewlineDropped()
    {
        File.WriteAllText(_dir.File("pw"), "p@ss word\n");

        using var credentials = EtcdCredentials.Load(new EtcdConnectionOptions { User = "ferry", PasswordFile = _dir.File("pw"), Password = "ignored" }, tls: false);

        Assert.Equal("p@ss word", credentials.Password);
        Assert.True(credentials.UsesLogin);
    }

    public static TheoryData<string, EtcdConnectionOptions, bool> Unusable => new()
    {
        { "need TLS", new EtcdConnectionOptions { CaFile = "/ca.pem" }, false },
        { "both --etcd-cert and --etcd-key", new EtcdConnectionOptions { CertFile = "/cert.pem" }, true },
        { "no --etcd-user", new EtcdConnectionOptions { Password = "secret-value" }, true },
        { "needs a password", new EtcdConnectionOptions { User = "ferry" }, true },
        { "can't be read", new EtcdConnectionOptions { CaFile = "/nonexistent/ca.pem" }, true },
        { "can't be read", new EtcdConnectionOptions { User = "ferry", PasswordFile = "/nonexistent/pw" }, true },
    };

    [Theory]
    [MemberData(nameof(Unusable))]
    public void Load_UnusableSettings_InvalidEtcdCredentialsWithoutThePassword(string why, EtcdConnectionOptions options, bool tls)
    {
        var error = Assert.Throws<FerryException>(() => EtcdCredentials.Load(options, tls));

        Assert.Same(ErrorCodes.ConfigInvalidEtcdCredentials, error.Code);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.ToOneLine(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CertificatesMadeForTheTests_TrustAndClientCertificateRead()
    {
        var pki = TestCertificates.Create(_dir.File("pki"));

        using var credentials = EtcdCredentials.Load(
            new EtcdConnectionOptions { CaFile = pki.CaFile, CertFile = pki.ClientCertFile, KeyFile = pki.ClientKeyFile }, tls: true);

        Assert.Single(credentials.Trust!);
        Assert.True(credentials.ClientCertificate!.HasPrivateKey);
        Assert.NotNull(credentials.SslOptions().ClientCertificateContext);
    }

    [Fact]
    public void Load_KeyOfAnotherCertificate_InvalidEtcdCredentials()
    {
        var pki = TestCertificates.Create(_dir.File("pki"));

        var error = Assert.Throws<FerryException>(() => EtcdCredentials.Load(
            new EtcdConnectionOptions { CertFile = pki.ClientCertFile, KeyFile = pki.ServerKeyFile }, tls: true));

        Assert.Same(ErrorCodes.ConfigInvalidEtcdCredentials, error.Code);
        Assert.Contains(pki.ClientCertFile, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://10.0.0.1:2379,10.0.0.2:2380", true, "https://10.0.0.1:2379,10.0.0.2:2380")]
    [InlineData("http://10.0.0.1:2379", false, "etcd://10.0.0.1:2379")]
    [InlineData("etcd://10.0.0.1:2379", false, "etcd://10.0.0.1:2379")]
    public void MetaUrl_EtcdSchemes_TlsOnlyForHttps(string text, bool tls, string shown)
    {
        var url = MetaUrl.Parse(text);

        Assert.Equal(MetaKind.Etcd, url.Kind);
        Assert.Equal(tls, url.UsesTls);
        Assert.All(url.Endpoints, e => Assert.Equal(tls ? "https" : "http", e.Scheme));
        Assert.Equal(shown, url.ToString());
    }
}
