using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Ferry.TestKit;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests.Packaging;

/// <summary>
/// What a user installs: <c>dotnet pack</c> of the solution makes every package at the one version of
/// Directory.Build.props, Ferry.Hosting depends on the others at that version (each of which is packed too), and the
/// ferry tool installs from the packages alone (no other source) and prints that version.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan PackDeadline = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan InstallDeadline = TimeSpan.FromMinutes(3);

    private readonly TempDirectory _dir = new("pack");

    private static string Version { get; } = typeof(PackageTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryVersion").Value!;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Pack_ToolInstalledFromThePackagesAlone_PrintsTheVersion()
    {
        var watch = Stopwatch.StartNew();
        var packages = _dir.File("packages");
        var dotnet = Tools.Find("dotnet") ?? throw new InvalidOperationException("dotnet is not on PATH");

        // The solution is built (the tests run its outputs): packing reuses that build.
        var (packed, packOutput) = await Tools.RunAsync(
            dotnet, ["pack", Path.Combine(RepoRoot.Path, "Ferry.sln"), "-c", Configuration, "--no-build", "-o", packages, "--nologo", "-nodeReuse:false"], PackDeadline);
        Assert.True(packed == 0, packOutput);
        var packTime = watch.Elapsed;

        var ids = Directory.GetFiles(packages, "*.nupkg").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
            new[] { "Ferry.Agent", "Ferry.Azure", "Ferry.Cli", "Ferry.Core", "Ferry.Etcd", "Ferry.Hosting", "Ferry.S3" }.Select(id => $"{id}.{Version}.nupkg"),
            ids);
        var hosting = Nuspec(Path.Combine(packages, $"Ferry.Hosting.{Version}.nupkg"));
        var ferryDependencies = hosting.Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => (Id: (string)e.Attribute("id")!, Version: (string)e.Attribute("version")!))
            .Where(d => d.Id.StartsWith("Ferry.", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(ferryDependencies, d => d.Id == "Ferry.Agent");
        Assert.All(ferryDependencies, d => Assert.True(d.Version == Version && ids.Contains($"{d.Id}.{Version}.nupkg"), $"{d.Id} {d.Version}"));

        // Offline: the packages directory is the only source.
        var config = _dir.File("nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="ferry" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var tools = _dir.File("tools");
        var (installed, installOutput) = await Tools.RunAsync(
            dotnet, ["tool", "install", "--tool-path", tools, "--configfile", config, "Ferry.Cli", "--version", Version], InstallDeadline);
        Assert.True(installed == 0, installOutput);

        var (exitCode, printed) = await Tools.RunAsync(Path.Combine(tools, "ferry"), ["--version"], TimeSpan.FromMinutes(1));
        Assert.True(exitCode == 0, printed);
        Assert.Equal(Version, printed.Trim());
        output.WriteLine($"pack {packTime.TotalSeconds:0} s, install and run {(watch.Elapsed - packTime).TotalSeconds:0} s");
    }

    /// <summary>The configuration this test assembly was built in (its directory's parent: bin/Release/net10.0).</summary>
    private static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    private static XDocument Nuspec(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = entry.Open();
        return XDocument.Load(stream);
    }
}

/// <summary>
/// Packing takes both cores for most of a minute: it runs alone, so the timing of the tests beside it (a pause seen
/// within seconds) is not measured on a starved machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingCollection
{
    public const string Name = "packaging (runs alone)";
}
