using System.Text.RegularExpressions;

namespace Ferry.Tests;

/// <summary>The core's folders depend on each other one way: no folder imports another that imports it back.</summary>
public sealed partial class FolderDependencyTests
{
    [Fact]
    public void CoreFolders_Imports_FormNoCycle()
    {
        var root = Path.Combine(RepoRoot.Path, "src", "Ferry");
        var folders = Directory.GetDirectories(root).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToHashSet()!;
        var edges = folders.ToDictionary(f => f!, f => Directory.EnumerateFiles(Path.Combine(root, f!), "*.cs", SearchOption.AllDirectories)
            .SelectMany(file => Import().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value))
            .Where(target => target != f && folders.Contains(target))
            .ToHashSet());

        // Depth-first search; a folder met again on the current path closes a cycle.
        var done = new HashSet<string>();
        var path = new List<string>();
        void Visit(string folder)
        {
            if (done.Contains(folder)) return;
            var at = path.IndexOf(folder);
            Assert.True(at < 0, $"import cycle: {string.Join(" -> ", path.Skip(at).Append(folder))}");
            path.Add(folder);
            foreach (var next in edges[folder]) Visit(next);
            path.RemoveAt(path.Count - 1);
            done.Add(folder);
        }

        foreach (var folder in edges.Keys) Visit(folder);
        Assert.Contains("Coordination", edges.Keys);
    }

    // A using directive, or a qualified name in code, naming another folder's namespace.
    [GeneratedRegex(@"(?m)^using Ferry\.([A-Za-z]+)[.;]|[^A-Za-z./<""]Ferry\.([A-Z][A-Za-z]+)\.(?=[A-Z])")]
    private static partial Regex Import();
}
