using System.Text.Json;
using Ferry.Capture;
using Ferry.Errors;

namespace Ferry.Tests.Capture;

public sealed class SqliteVersionTests
{
    [Theory]
    [InlineData("3.40.1", false)]
    [InlineData("3.51.2", false)]
    [InlineData("3.51", false)]
    [InlineData("3.51.3", true)]
    [InlineData("3.52", true)]
    [InlineData("3.53.4", true)]
    [InlineData("4.0.0", true)]
    public void IsSupported_Version_ComparesAgainst3_51_3(string version, bool supported)
    {
        Assert.Equal(supported, SqliteVersion.IsSupported(Version.Parse(version)));
    }

    [Fact]
    public void EnsureSupported_OldVersion_ThrowsSqliteTooOldNamingBothVersions()
    {
        var error = Assert.Throws<FerryException>(() => SqliteVersion.EnsureSupported(new Version(3, 51, 2)));

        Assert.Same(ErrorCodes.CaptureSqliteTooOld, error.Code);
        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.Contains("3.51.2", error.Message, StringComparison.Ordinal);
        Assert.Contains("3.51.3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromNumber_SqliteIntegerForm_SplitsIntoParts()
    {
        Assert.Equal(new Version(3, 51, 3), SqliteVersion.FromNumber(3051003));
    }

    [Fact]
    public void EnsureSupported_BundledSqlite_IsAccepted()
    {
        SqliteVersion.EnsureSupported();

        Assert.True(SqliteVersion.Current >= SqliteVersion.Minimum, $"bundled SQLite is {SqliteVersion.Current}");
    }

    [Fact]
    public void WalCursor_Json_RoundTrips()
    {
        var cursor = new WalCursor(uint.MaxValue, 7, 42, 0xdeadbeef, 1, 4096, ulong.MaxValue, 99);

        var back = JsonSerializer.Deserialize<WalCursor>(JsonSerializer.Serialize(cursor));

        Assert.Equal(cursor, back);
        Assert.Equal(32 + (41L * (24 + 4096)), cursor.FrameOffset);
        Assert.Equal(32 + (42L * (24 + 4096)), cursor.NextFrameOffset);
    }

    [Fact]
    public void Options_ZeroBusyTimeout_IsRejected()
    {
        var options = new DatabaseCaptureOptions { BusyTimeout = TimeSpan.Zero };

        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);

        Assert.Contains("forever", error.Message, StringComparison.Ordinal);
    }
}
