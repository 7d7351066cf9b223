using Ferry.Errors;
using Microsoft.Data.Sqlite;

namespace Ferry.Capture;

/// <summary>
/// Checks the SQLite library inside the Ferry process. SQLite 3.7.0 to 3.51.2 can corrupt a WAL when one
/// connection writes while another checkpoints or resets it at the same instant, which is exactly what an
/// external checkpointer like Ferry does (DESIGN §8), so Ferry refuses to run on those versions.
/// </summary>
public static class SqliteVersion
{
    /// <summary>The oldest SQLite Ferry accepts.</summary>
    public static readonly Version Minimum = new(3, 51, 3);

    /// <summary>The version of the SQLite library Microsoft.Data.Sqlite loaded in this process.</summary>
    public static Version Current
    {
        get
        {
            // Creating a connection object runs the provider initialisation that loads the native library.
            using (new SqliteConnection()) { }
            return FromNumber(SQLitePCL.raw.sqlite3_libversion_number());
        }
    }

    /// <summary>SQLite's integer form X*1000000 + Y*1000 + Z.</summary>
    public static Version FromNumber(int versionNumber) =>
        new(versionNumber / 1_000_000, versionNumber / 1000 % 1000, versionNumber % 1000);

    public static bool IsSupported(Version version)
    {
        ArgumentNullException.ThrowIfNull(version);
        return Normalize(version) >= Minimum;
    }

    /// <summary>Throws <see cref="ErrorCodes.CaptureSqliteTooOld"/> unless this process's SQLite is supported.</summary>
    public static void EnsureSupported() => EnsureSupported(Current);

    /// <summary>Throws <see cref="ErrorCodes.CaptureSqliteTooOld"/> unless <paramref name="version"/> is supported.</summary>
    public static void EnsureSupported(Version version)
    {
        if (IsSupported(version)) return;
        throw new FerryException(
            ErrorCodes.CaptureSqliteTooOld,
            $"Ferry is running with SQLite {Normalize(version)}, older than {Minimum}: SQLite before {Minimum} can corrupt a WAL " +
            "when a write and a checkpoint race, so Ferry refuses to capture with it",
            new ErrorContext(Operation: "sqlite-version-check"));
    }

    // Version treats a missing build number as -1; SQLite's "3.52" means 3.52.0.
    private static Version Normalize(Version v) => new(v.Major, v.Minor, Math.Max(v.Build, 0));
}
