using System.Text.Json;
using Ferry.Coordination;
using Ferry.Replica;

namespace Ferry.IntegrationTests.Outages;

/// <summary>One replica object of a file:// storage as the file system shows it: its name, when it was written, what it is.</summary>
internal sealed record StoredObject(string Name, DateTimeOffset WrittenAt, ReplicaObjectName Parsed)
{
    public bool IsSegment => Parsed.Kind == ReplicaObjectKind.Segment;

    public override string ToString() => $"{Name} (written {WrittenAt:HH:mm:ss.fff})";
}

/// <summary>
/// The replica objects of a file:// storage directory read straight from the file system (names and modification
/// times), for telling who wrote what and when around a fence. Temp files and anything else that is not a replica
/// object name are left out.
/// </summary>
internal static class BackupDirectory
{
    public static IReadOnlyList<StoredObject> List(string root)
    {
        var objects = new List<StoredObject>();
        if (!Directory.Exists(root)) return objects;
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!ReplicaLayout.TryParse(name, out var parsed)) continue;
            objects.Add(new StoredObject(name, new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero), parsed));
        }

        return [.. objects.OrderBy(o => o.Name, StringComparer.Ordinal)];
    }

    /// <summary>The fence token in a generation's manifest (the deploy generation and epoch of the process that started it).</summary>
    public static FenceToken ManifestToken(string root, StoredObject manifest)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, manifest.Name)));
        return new FenceToken(doc.RootElement.GetProperty("deploy_generation").GetInt64(), doc.RootElement.GetProperty("epoch").GetInt64());
    }

    /// <summary>The last transaction index each generation's segments reach (-1: none yet), by generation id.</summary>
    public static IReadOnlyDictionary<string, long> ChainEnds(IEnumerable<StoredObject> objects) =>
        objects.GroupBy(o => o.Parsed.Generation.Value)
            .ToDictionary(g => g.Key, g => g.Where(o => o.IsSegment).Select(o => o.Parsed.Last).DefaultIfEmpty(-1).Max(), StringComparer.Ordinal);

    /// <summary>Pairs of segments of one generation that hold some of the same transactions.</summary>
    public static IReadOnlyList<(StoredObject First, StoredObject Second)> Overlaps(IEnumerable<StoredObject> objects)
    {
        var overlaps = new List<(StoredObject, StoredObject)>();
        foreach (var generation in objects.Where(o => o.IsSegment).GroupBy(o => o.Parsed.Generation.Value))
        {
            var segments = generation.OrderBy(o => o.Parsed.First).ThenBy(o => o.Parsed.Last).ToList();
            for (var i = 0; i < segments.Count; i++)
            {
                for (var j = i + 1; j < segments.Count && segments[j].Parsed.First <= segments[i].Parsed.Last; j++)
                {
                    overlaps.Add((segments[i], segments[j]));
                }
            }
        }

        return overlaps;
    }
}
