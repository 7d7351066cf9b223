namespace Ferry.Tests.Restore;

/// <summary>
/// Failpoints are process-wide: a test class that arms <c>restore.publish</c> runs alone, never beside another test
/// that restores (and would hit the armed point).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RestoreFailpointsCollection
{
    public const string Name = "restore (failpoints)";
}
