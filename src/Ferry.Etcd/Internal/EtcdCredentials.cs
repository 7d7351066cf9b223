using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Errors;

namespace Ferry.Etcd.Internal;

/// <summary>
/// <see cref="EtcdConnectionOptions"/> with its files read: the trusted CAs, the client certificate and the login.
/// Every unusable setting is <c>FERRY:Config:InvalidEtcdCredentials</c>, naming the file, never its contents.
/// </summary>
internal sealed class EtcdCredentials : IDisposable
{
    private EtcdCredentials(X509Certificate2Collection? trust, X509Certificate2? client, string? user, string? password)
    {
        Trust = trust;
        ClientCertificate = client;
        User = user;
        Password = password;
    }

    /// <summary>CAs to trust instead of the system's; null for the system's.</summary>
    public X509Certificate2Collection? Trust { get; }

    public X509Certificate2? ClientCertificate { get; }

    public string? User { get; }

    public string? Password { get; }

    /// <summary>Whether calls carry an etcd auth token obtained with <see cref="User"/> and <see cref="Password"/>.</summary>
    public bool UsesLogin => User is not null;

    public static EtcdCredentials Load(EtcdConnectionOptions options, bool tls)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.HasTlsSettings && !tls)
        {
            throw Invalid("--etcd-ca, --etcd-cert and --etcd-key need TLS: write the --meta endpoints as https://host:port");
        }

        if (string.IsNullOrEmpty(options.CertFile) != string.IsNullOrEmpty(options.KeyFile))
        {
            throw Invalid("a client certificate needs both --etcd-cert and --etcd-key");
        }

        var user = string.IsNullOrEmpty(options.User) ? null : options.User;
        var password = ReadPassword(options);
        if (user is null && password is not null) throw Invalid("an etcd password is set but no --etcd-user (FERRY_ETCD_USER)");
        if (user is not null && password is null)
        {
            throw Invalid($"--etcd-user '{user}' needs a password: set FERRY_ETCD_PASSWORD or --etcd-password-file");
        }

        X509Certificate2Collection? trust = null;
        X509Certificate2? client = null;
        try
        {
            if (!string.IsNullOrEmpty(options.CaFile))
            {
                trust = [];
                Read(options.CaFile, "--etcd-ca", () => trust.ImportFromPemFile(options.CaFile));
                if (trust.Count == 0) throw Invalid($"--etcd-ca '{options.CaFile}' holds no PEM certificate");
            }

            if (!string.IsNullOrEmpty(options.CertFile))
            {
                client = Read(options.CertFile, "--etcd-cert/--etcd-key", () => X509Certificate2.CreateFromPemFile(options.CertFile, options.KeyFile));
            }

            return new EtcdCredentials(trust, client, user, password);
        }
        catch (Exception)
        {
            Dispose(trust, client);
            throw;
        }
    }

    /// <summary>The TLS settings of every connection: trust only the given CAs (when given) and present the client certificate.</summary>
    public SslClientAuthenticationOptions SslOptions()
    {
        var ssl = new SslClientAuthenticationOptions { EnabledSslProtocols = SslProtocols.None };
        if (Trust is not null)
        {
            // Chain building against these roots only; the host name is still checked against the certificate.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(Trust);
            ssl.CertificateChainPolicy = policy;
        }

        if (ClientCertificate is not null)
        {
            // A context is sent whatever CA names the server lists, so a mismatch shows as etcd's refusal, not as silence.
            ssl.ClientCertificateContext = SslStreamCertificateContext.Create(ClientCertificate, additionalCertificates: null, offline: true);
        }

        return ssl;
    }

    public void Dispose() => Dispose(Trust, ClientCertificate);

    private static void Dispose(X509Certificate2Collection? trust, X509Certificate2? client)
    {
        foreach (var certificate in trust ?? []) certificate.Dispose();
        client?.Dispose();
    }

    private static string? ReadPassword(EtcdConnectionOptions options)
    {
        if (string.IsNullOrEmpty(options.PasswordFile)) return string.IsNullOrEmpty(options.Password) ? null : options.Password;
        var text = Read(options.PasswordFile, "--etcd-password-file", () => File.ReadAllText(options.PasswordFile));
        // Files written by editors and `echo` end with a newline that is not part of the password.
        if (text.EndsWith('\n')) text = text[..^1];
        if (text.EndsWith('\r')) text = text[..^1];
        if (text.Length == 0) throw Invalid($"--etcd-password-file '{options.PasswordFile}' is empty");
        return text;
    }

    private static T Read<T>(string path, string setting, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Invalid($"{setting} '{path}' can't be read: {e.Message}", e);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // Not PEM, an encrypted key, or a key of another certificate; the messages say nothing of the contents.
            throw Invalid($"{setting} '{path}' is not a usable PEM certificate or unencrypted key: {e.Message}", e);
        }
    }

    private static void Read(string path, string setting, Action read) => Read(path, setting, () =>
    {
        read();
        return true;
    });

    private static FerryException Invalid(string message, Exception? inner = null) =>
        new(ErrorCodes.ConfigInvalidEtcdCredentials, message, innerException: inner);
}
