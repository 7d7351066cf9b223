using Ferry.TestKit.Sqlite;
using Xunit;

namespace Ferry.TestKit.Cli;

/// <summary>
/// What a backup must give back, asked of the real <c>ferry</c> executable: <c>ferry restore</c> equals the source
/// (compared by <c>sqlite3 .dump</c>), <c>ferry storage verify</c> exits 0. <paramref name="environment"/> reaches
/// ferry as-is (the S3 endpoint and credentials for s3:// storage).
/// </summary>
public static class StorageChecks
{
    /// <summary>Restores <paramref name="source"/> (by file name) from <paramref name="storage"/> to <paramref name="restoredPath"/> and compares dumps.</summary>
    public static async Task AssertRestoreMatchesAsync(
        string storage, string source, string restoredPath, string home, IReadOnlyDictionary<string, string>? environment = null)
    {
        var restored = await FerryCli.RunAsync(["restore", "--from", storage, "--db", Path.GetFileName(source), "--out", restoredPath], home, environment);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        var expected = await Sqlite3.DumpAsync(source);
        var actual = await Sqlite3.DumpAsync(restoredPath);
        Assert.True(expected.Length > 1000, $"the source dump is suspiciously small: {expected}");
        Assert.True(expected == actual, $"the restored database differs from the source: {expected.Length} vs {actual.Length} characters of dump");
    }

    /// <summary>Restores <paramref name="source"/> (by file name) as it was at <paramref name="time"/> to <paramref name="restoredPath"/>; asserts the restore succeeded.</summary>
    public static async Task RestoreAtAsync(
        string storage, string source, string restoredPath, DateTimeOffset time, string home, IReadOnlyDictionary<string, string>? environment = null)
    {
        var at = time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        var restored = await FerryCli.RunAsync(["restore", "--from", storage, "--db", Path.GetFileName(source), "--out", restoredPath, "--time", at], home, environment);
        Assert.True(restored.ExitCode == 0, restored.ToString());
    }

    /// <summary><c>ferry storage verify</c> of <paramref name="storage"/> exits 0: every object reads back, no chain has a gap.</summary>
    public static async Task AssertVerifiesAsync(string storage, string home, IReadOnlyDictionary<string, string>? environment = null)
    {
        var verify = await FerryCli.RunAsync(["storage", "verify", "--from", storage], home, environment);
        Assert.True(verify.ExitCode == 0, verify.ToString());
    }
}
