using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.TestKit.Etcd;

/// <summary>
/// A throwaway PKI in PEM files under one directory: a CA, a server certificate it signs for 127.0.0.1 and
/// localhost, a client certificate it signs, and an unrelated CA that signs nothing the server shows. ECDSA P-256,
/// valid from a day ago for a week, so clock skew between the test and etcd never matters.
/// </summary>
public sealed class TestCertificates
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");

    public string ServerCertFile => Path.Combine(Directory, "server.pem");

    public string ServerKeyFile => Path.Combine(Directory, "server-key.pem");

    public string ClientCertFile => Path.Combine(Directory, "client.pem");

    public string ClientKeyFile => Path.Combine(Directory, "client-key.pem");

    /// <summary>A CA that signed none of the above: trusting only it, etcd's certificate is untrusted.</summary>
    public string OtherCaFile => Path.Combine(Directory, "other-ca.pem");

    /// <summary>Writes a fresh set into <paramref name="directory"/> (created if missing).</summary>
    public static TestCertificates Create(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        var set = new TestCertificates(directory);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = SelfSignedCa("CN=Ferry Test CA", caKey);
        Write(set.CaFile, ca.ExportCertificatePem());

        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        Issue(ca, "CN=etcd test server", san.Build(), X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], set.ServerCertFile, set.ServerKeyFile);
        Issue(ca, "CN=ferry-client", null, X509KeyUsageFlags.DigitalSignature, ["1.3.6.1.5.5.7.3.2"], set.ClientCertFile, set.ClientKeyFile);

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = SelfSignedCa("CN=Unrelated Test CA", otherKey);
        Write(set.OtherCaFile, other.ExportCertificatePem());
        return set;
    }

    private static X509Certificate2 SelfSignedCa(string subject, ECDsa key)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
    }

    private static void Issue(
        X509Certificate2 ca, string subject, X509Extension? san, X509KeyUsageFlags usage, string[] purposes, string certFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        var oids = new OidCollection();
        foreach (var purpose in purposes) oids.Add(new Oid(purpose));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        if (san is not null) request.CertificateExtensions.Add(san);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive, as Go's x509 requires
        using var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(6), serial);
        Write(certFile, certificate.ExportCertificatePem());
        Write(keyFile, key.ExportPkcs8PrivateKeyPem());
    }

    private static void Write(string path, string pem) => File.WriteAllText(path, pem + "\n");
}
