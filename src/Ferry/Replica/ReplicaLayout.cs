using System.Globalization;
using System.Text;
using Ferry.Errors;
using Ferry.Storage;

namespace Ferry.Replica;

/// <summary>A database's identity in storage: the store that backs it up and its absolute path there.</summary>
public sealed record ReplicaDatabase(long StoreId, string Path)
{
    public override string ToString() => $"store {StoreId}: {Path}";
}

/// <summary>What kind of replica object a name is.</summary>
internal enum ReplicaObjectKind
{
    Manifest,
    Snapshot,
    Segment,
}

/// <summary>A replica object name taken apart. <see cref="First"/> is the snapshot index for a snapshot.</summary>
internal sealed record ReplicaObjectName(ReplicaObjectKind Kind, ReplicaDatabase Database, GenerationId Generation, long First, long Last);

/// <summary>
/// Where replica objects live:
/// <code>
/// dbs/{store_id}/{encoded path}/generations/{generation}/manifest.json
///                                                       /snapshots/{index:D16}.snap
///                                                       /segments/{first:D16}-{last:D16}.seg
/// </code>
/// The path encoding keeps ASCII letters, digits, '.', '_' and '-', writes '/' as '!' and every other UTF-8 byte
/// as '~' and two hex digits: reversible, one path component, safe for file names and S3 keys, and still
/// readable (<c>/data/app.db</c> is <c>!data!app.db</c>).
/// </summary>
internal static class ReplicaLayout
{
    public const string Root = "dbs/";
    public const int IndexDigits = 16;

    public static string EncodePath(string absolutePath)
    {
        ArgumentNullException.ThrowIfNull(absolutePath);
        if (!absolutePath.StartsWith('/')) throw new ArgumentException($"'{absolutePath}' is not an absolute path", nameof(absolutePath));
        var text = new StringBuilder(absolutePath.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(absolutePath))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') text.Append(c);
            else if (c == '/') text.Append('!');
            else text.Append('~').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }

        if (text.Length > ObjectNames.MaxPartLength)
        {
            throw new FerryException(ErrorCodes.StorageNameTooLong,
                $"the path {absolutePath} encodes to {text.Length} characters, more than the {ObjectNames.MaxPartLength} a storage name part can hold",
                new ErrorContext(Database: absolutePath));
        }

        return text.ToString();
    }

    public static bool TryDecodePath(string encoded, out string path)
    {
        path = "";
        var bytes = new List<byte>(encoded.Length);
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c == '!') bytes.Add((byte)'/');
            else if (c == '~')
            {
                if (i + 2 >= encoded.Length
                    || !byte.TryParse(encoded.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) return false;
                bytes.Add(b);
                i += 2;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') bytes.Add((byte)c);
            else return false;
        }

        try
        {
            path = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            // Not UTF-8: not a name Ferry wrote, which is what false says.
            return false;
        }

        // Only the canonical encoding counts, so every path has exactly one name.
        return path.StartsWith('/') && EncodePathOrNull(path) == encoded;
    }

    public static string DatabasePrefix(ReplicaDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (database.StoreId <= 0) throw new ArgumentOutOfRangeException(nameof(database), database.StoreId, "a store id is a positive integer");
        return $"{Root}{database.StoreId.ToString(CultureInfo.InvariantCulture)}/{EncodePath(database.Path)}/";
    }

    public static string GenerationPrefix(ReplicaDatabase database, GenerationId generation) =>
        $"{DatabasePrefix(database)}generations/{generation.Value}/";

    public static string Manifest(ReplicaDatabase database, GenerationId generation) =>
        GenerationPrefix(database, generation) + "manifest.json";

    public static string Snapshot(ReplicaDatabase database, GenerationId generation, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return $"{GenerationPrefix(database, generation)}snapshots/{Index(index)}.snap";
    }

    public static string Segment(ReplicaDatabase database, GenerationId generation, long first, long last)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfLessThan(last, first);
        return $"{GenerationPrefix(database, generation)}segments/{Index(first)}-{Index(last)}.seg";
    }

    /// <summary>Takes a replica object name apart; false for any name this layout does not produce.</summary>
    public static bool TryParse(string name, out ReplicaObjectName parsed)
    {
        parsed = null!;
        var parts = name.Split('/');
        if (parts.Length is not (6 or 7) || parts[0] != "dbs" || parts[3] != "generations") return false;
        if (!long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var storeId) || storeId <= 0
            || parts[1] != storeId.ToString(CultureInfo.InvariantCulture)) return false;
        if (!TryDecodePath(parts[2], out var path) || !GenerationId.TryParse(parts[4], out var generation)) return false;
        var database = new ReplicaDatabase(storeId, path);
        if (parts.Length == 6)
        {
            if (parts[5] != "manifest.json") return false;
            parsed = new ReplicaObjectName(ReplicaObjectKind.Manifest, database, generation, 0, 0);
            return true;
        }

        var file = parts[6];
        if (parts[5] == "snapshots" && file.Length == IndexDigits + 5 && file.EndsWith(".snap", StringComparison.Ordinal)
            && TryIndex(file.AsSpan(0, IndexDigits), out var index))
        {
            parsed = new ReplicaObjectName(ReplicaObjectKind.Snapshot, database, generation, index, index);
            return true;
        }

        if (parts[5] == "segments" && file.Length == (2 * IndexDigits) + 5 && file[IndexDigits] == '-' && file.EndsWith(".seg", StringComparison.Ordinal)
            && TryIndex(file.AsSpan(0, IndexDigits), out var first) && TryIndex(file.AsSpan(IndexDigits + 1, IndexDigits), out var last) && last >= first)
        {
            parsed = new ReplicaObjectName(ReplicaObjectKind.Segment, database, generation, first, last);
            return true;
        }

        return false;
    }

    private static string Index(long index) => index.ToString("D16", CultureInfo.InvariantCulture);

    private static bool TryIndex(ReadOnlySpan<char> digits, out long index) =>
        long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out index);

    private static string? EncodePathOrNull(string path)
    {
        try
        {
            return EncodePath(path);
        }
        catch (FerryException e) when (e.Code == ErrorCodes.StorageNameTooLong)
        {
            // Too long to be a name Ferry wrote.
            return null;
        }
    }
}
