using System.CommandLine;
using Ferry.Agent.Configuration;
using Ferry.Etcd;

namespace Ferry.Cli.Wiring;

/// <summary>
/// The global flags and environment variables of a secured etcd, read in one place into
/// <see cref="EtcdConnectionOptions"/>. A flag wins over its variable. The password never comes from a flag value
/// (it would show in <c>ps</c> and shell history): from <c>--etcd-password-file</c>, else
/// <c>FERRY_ETCD_PASSWORD_FILE</c>, else <c>FERRY_ETCD_PASSWORD</c>.
/// </summary>
internal static class EtcdConnectionFlags
{
    public const string EnvCa = "FERRY_ETCD_CA";
    public const string EnvCert = "FERRY_ETCD_CERT";
    public const string EnvKey = "FERRY_ETCD_KEY";
    public const string EnvUser = "FERRY_ETCD_USER";
    public const string EnvPassword = "FERRY_ETCD_PASSWORD";
    public const string EnvPasswordFile = "FERRY_ETCD_PASSWORD_FILE";

    public static readonly Option<string?> Ca = Global("--etcd-ca", $"PEM file of the CA that signs etcd's server certificate (https:// endpoints); default ${EnvCa}, else the system's trust store.");

    public static readonly Option<string?> Cert = Global("--etcd-cert", $"PEM file of a client certificate for etcd's --client-cert-auth; default ${EnvCert}. Needs --etcd-key.");

    public static readonly Option<string?> Key = Global("--etcd-key", $"PEM file of the client certificate's unencrypted private key; default ${EnvKey}.");

    public static readonly Option<string?> User = Global("--etcd-user", $"etcd user to log in as; default ${EnvUser}. The password comes from --etcd-password-file or ${EnvPassword}.");

    public static readonly Option<string?> PasswordFile = Global("--etcd-password-file", $"File holding the etcd user's password (one trailing newline ignored); default ${EnvPasswordFile}, else ${EnvPassword}.");

    /// <summary>Every flag, for the root command.</summary>
    public static IEnumerable<Option> All => [Ca, Cert, Key, User, PasswordFile];

    /// <summary>The settings from the command line and the process environment.</summary>
    public static EtcdConnectionOptions Read(ParseResult parse) => Read(parse, Environment.GetEnvironmentVariable);

    /// <summary>The settings from the command line, the process environment, then a configuration file's <c>Etcd</c> section.</summary>
    public static EtcdConnectionOptions Read(ParseResult parse, FerryEtcdSettings? file) => Read(parse, Environment.GetEnvironmentVariable, file);

    /// <summary>
    /// The settings from the command line, then <paramref name="environment"/> (tests pass their own), then
    /// <paramref name="file"/>: the .NET order, the file at the bottom.
    /// </summary>
    public static EtcdConnectionOptions Read(ParseResult parse, Func<string, string?> environment, FerryEtcdSettings? file = null)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(environment);
        string? Pick(Option<string?> flag, string variable, string? fromFile) =>
            parse.GetValue(flag) is { Length: > 0 } value ? value : environment(variable) is { Length: > 0 } set ? set : fromFile is { Length: > 0 } ? fromFile : null;

        var passwordFile = Pick(PasswordFile, EnvPasswordFile, null);
        var password = environment(EnvPassword) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
        if (passwordFile is null && password is null)
        {
            // The file's password settings count only when neither flag nor environment names one.
            passwordFile = file?.PasswordFile;
            password = file?.Password;
        }

        return new EtcdConnectionOptions
        {
            CaFile = Pick(Ca, EnvCa, file?.Ca),
            CertFile = Pick(Cert, EnvCert, file?.Cert),
            KeyFile = Pick(Key, EnvKey, file?.Key),
            User = Pick(User, EnvUser, file?.User),
            PasswordFile = passwordFile,
            Password = password,
        };
    }

    private static Option<string?> Global(string name, string description) => new(name)
    {
        Description = description,
        Recursive = true,
    };
}
