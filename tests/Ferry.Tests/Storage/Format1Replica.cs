using Ferry.Replica;

namespace Ferry.Tests.Storage;

/// <summary>
/// A replica written by Ferry before segments carried their writer's fence token (segment format version 1), kept
/// in Fixtures/format-1 so that every later Ferry is shown to read it (DESIGN §10). Store 1, <c>/srv/data/app.db</c>
/// (page size 4096), one generation created at <see cref="SqliteHistory.T0"/> by a writer holding generation 1
/// epoch 2: the snapshot at index 0 (the empty table), then six transactions of two rows each (row i of transaction
/// n holds <c>printf('%040d', n * 1000 + i)</c>, n from 1), transaction k captured at <see cref="SqliteHistory.TimeOf"/>(k),
/// in segments 0-1, 2-3 and 4-5. Beside them, segment 0-3 holds transactions 0-3 again as a zombie shipped them an
/// hour later (captured at T0 + 1 h) into the same generation: version 1 has no token to tell it from the live copy.
/// </summary>
internal static class Format1Replica
{
    public static readonly ReplicaDatabase Database = new(1, "/srv/data/app.db");

    public static readonly GenerationId Generation = GenerationId.Parse("019b7ca98c889fcd0f13");

    public static string Root => Path.Combine(RepoRoot.Path, "tests", "Ferry.Tests", "Storage", "Fixtures", "format-1");

    public static string Segment(long first, long last) => ReplicaLayout.Segment(Database, Generation, first, last);
}
