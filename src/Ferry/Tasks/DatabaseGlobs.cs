namespace Ferry.Tasks;

/// <summary>
/// Expands a task's database patterns: a plain path stands for itself (even before the file exists, so a missing
/// database is reported rather than ignored); <c>*</c> and <c>?</c> in the file name match existing databases,
/// never SQLite's own <c>-wal</c>, <c>-shm</c> and <c>-journal</c> files.
/// </summary>
internal static class DatabaseGlobs
{
    private static readonly string[] SqliteSideFiles = ["-wal", "-shm", "-journal"];

    public static IReadOnlyList<string> Expand(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            var full = Path.GetFullPath(pattern);
            var name = Path.GetFileName(full);
            if (name.IndexOfAny(['*', '?']) < 0)
            {
                found.Add(full);
                continue;
            }

            var directory = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(directory)) continue;
            foreach (var file in Directory.EnumerateFiles(directory, name))
            {
                if (!SqliteSideFiles.Any(s => file.EndsWith(s, StringComparison.Ordinal))) found.Add(file);
            }
        }

        return [.. found];
    }
}
