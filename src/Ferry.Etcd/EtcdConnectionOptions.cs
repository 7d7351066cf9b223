namespace Ferry.Etcd;

/// <summary>
/// How to reach a secured etcd: the files and names an operator gives, as plain strings so that command-line flags,
/// environment variables and a configuration file all fill the same object. Files are read when the store connects.
/// TLS itself is chosen by <c>https://</c> endpoints; these only say whom to trust and who we are.
/// </summary>
public sealed class EtcdConnectionOptions
{
    /// <summary>PEM file of the CA certificate(s) that sign etcd's server certificate (<c>--etcd-ca</c>, <c>FERRY_ETCD_CA</c>).
    /// Without it the system's trust store decides.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM file of the client certificate, for etcd's <c>--client-cert-auth</c> (<c>--etcd-cert</c>, <c>FERRY_ETCD_CERT</c>).</summary>
    public string? CertFile { get; set; }

    /// <summary>PEM file of the client certificate's private key, unencrypted (<c>--etcd-key</c>, <c>FERRY_ETCD_KEY</c>).</summary>
    public string? KeyFile { get; set; }

    /// <summary>etcd user name for etcd's own authentication (<c>--etcd-user</c>, <c>FERRY_ETCD_USER</c>).</summary>
    public string? User { get; set; }

    /// <summary>The user's password (<c>FERRY_ETCD_PASSWORD</c>). Never shown by <see cref="ToString"/>.</summary>
    public string? Password { get; set; }

    /// <summary>File holding the user's password; one trailing newline is ignored (<c>--etcd-password-file</c>,
    /// <c>FERRY_ETCD_PASSWORD_FILE</c>). Wins over <see cref="Password"/>.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>Whether any TLS setting is given; such settings need <c>https://</c> endpoints.</summary>
    public bool HasTlsSettings => !string.IsNullOrEmpty(CaFile) || !string.IsNullOrEmpty(CertFile) || !string.IsNullOrEmpty(KeyFile);

    /// <summary>The settings without the password: whether one is set and where it comes from, nothing more.</summary>
    public override string ToString()
    {
        var password = !string.IsNullOrEmpty(PasswordFile) ? $"file {PasswordFile}" : string.IsNullOrEmpty(Password) ? "none" : "***";
        return $"ca={CaFile ?? "system"} cert={CertFile ?? "none"} key={KeyFile ?? "none"} user={User ?? "none"} password={password}";
    }
}
