using Ferry.Errors;

namespace Ferry.Capture;

/// <summary>
/// A quick look at a database file before any stream opens it, so a typo or a database in rollback-journal mode is
/// one clear error at start-up instead of a quarantined stream. Reads the 100-byte header only; it must run before
/// this process opens SQLite connections to the file (closing this handle would drop their POSIX locks).
/// </summary>
public static class DatabasePreflight
{
    private static readonly byte[] Magic = "SQLite format 3\0"u8.ToArray();

    public static void EnsureReplicable(string path)
    {
        var context = new ErrorContext(Database: path, Operation: "preflight");
        if (!File.Exists(path))
        {
            throw new FerryException(ErrorCodes.DatabaseNotFound, $"database {path} does not exist", context);
        }

        var header = new byte[100];
        int read;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorClassifier.Classify(e, ErrorArea.Database, context);
        }

        if (read == 0)
        {
            throw new FerryException(ErrorCodes.DatabaseNotWalMode, $"database {path} is empty: create it in WAL mode first (sqlite3 {path} 'PRAGMA journal_mode=WAL')", context);
        }

        if (read < header.Length || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new FerryException(ErrorCodes.DatabaseCorrupt, $"{path} is not a SQLite database (no SQLite header)", context);
        }

        // Bytes 18 and 19 are the file format write/read versions: 2 means WAL.
        if (header[18] != 2 || header[19] != 2)
        {
            throw new FerryException(
                ErrorCodes.DatabaseNotWalMode,
                $"database {path} is not in WAL mode: run `sqlite3 {path} 'PRAGMA journal_mode=WAL'` (with the application stopped) and start again",
                context);
        }
    }
}
