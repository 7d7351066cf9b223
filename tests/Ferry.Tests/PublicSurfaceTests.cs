using Ferry.Errors;

namespace Ferry.Tests;

/// <summary>
/// What a user of the library needs is public; the implementation is internal to Ferry's own assemblies. The
/// folders that are implementation only keep exactly these public types (the identities a restore reports, the
/// checks a caller makes before replicating).
/// </summary>
public sealed class PublicSurfaceTests
{
    [Theory]
    [InlineData("Ferry.Streams", "")]
    [InlineData("Ferry.Replica", "GenerationId ReplicaDatabase")]
    [InlineData("Ferry.Capture", "DatabasePreflight SqliteVersion")]
    [InlineData("Ferry.Tasks", "RunnerReport RunnerState StreamReport StreamState")]
    public void CoreNamespace_PublicTypes_OnlyTheseOnes(string ns, string expected)
    {
        var exported = typeof(FerryException).Assembly.GetExportedTypes()
            .Where(t => t.Namespace == ns && !t.IsNested)
            .Select(t => t.Name)
            .Order(StringComparer.Ordinal);

        Assert.Equal(expected.Split(' ', StringSplitOptions.RemoveEmptyEntries), exported);
    }
}
