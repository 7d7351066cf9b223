namespace Ferry.IntegrationTests.Streams;

/// <summary>
/// Failpoints are process-wide: tests that arm them run alone, never beside another test that might hit the same
/// point (every in-process put to a FileStorage hits <c>storage.put</c>).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StreamsCollection
{
    public const string Name = "streams (failpoints)";
}
