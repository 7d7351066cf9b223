using Ferry.Coordination;
using Ferry.Errors;

namespace Ferry.Tests.Coordination;

public sealed class TaskOptionsTests
{
    [Fact]
    public void Of_RecordWithoutOptionalSettings_TakesTheDefaults()
    {
        var options = TaskOptions.Of(new TaskDefinition("t", ["/d/a.db"], "file:///b", 250, 1));

        Assert.Equal(TaskOptions.Defaults with { FlushInterval = TimeSpan.FromMilliseconds(250) }, options);
    }

    [Fact]
    public void Define_ThenOf_GivesBackEverySetting()
    {
        var options = new TaskOptions
        {
            FlushInterval = TimeSpan.FromSeconds(2),
            RetryBudget = TimeSpan.FromSeconds(30),
            StallTimeout = TimeSpan.FromSeconds(5),
            MaxLag = TimeSpan.FromMinutes(3),
            AutoResume = true,
            Retention = TimeSpan.FromHours(12),
            RetentionGrace = TimeSpan.FromMinutes(2),
        };

        Assert.Equal(options, options.Define("t", ["/d/a.db"], "file:///b", 1).Options);
    }

    [Theory]
    [InlineData(5, 300_000, 60_000, null, "--flush-interval")]
    [InlineData(7_200_000, 300_000, 60_000, null, "--flush-interval")]
    [InlineData(1_000, -1, 60_000, null, "--retry-budget")]
    [InlineData(1_000, 300_000, 500, null, "--stall-timeout")]
    [InlineData(1_000, 300_000, 60_000, 0L, "--max-lag")]
    public void Validate_OutOfRange_UsageErrorNamingTheFlag(long flushMs, long budgetMs, long stallMs, long? maxLagMs, string flag)
    {
        var options = new TaskOptions
        {
            FlushInterval = TimeSpan.FromMilliseconds(flushMs),
            RetryBudget = TimeSpan.FromMilliseconds(budgetMs),
            StallTimeout = TimeSpan.FromMilliseconds(stallMs),
            MaxLag = maxLagMs is { } lag ? TimeSpan.FromMilliseconds(lag) : null,
        };

        var error = Assert.Throws<FerryException>(() => options.Validate());

        Assert.Equal(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.StartsWith(flag, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(59_000, null, "--retention must be at least 1m")]
    [InlineData(60_000, -1L, "--retention-grace")]
    [InlineData(60_000, 61_000L, "--retention-grace")]
    public void Validate_RetentionOutOfRange_UsageErrorNamingTheFlag(long retentionMs, long? graceMs, string start)
    {
        var options = new TaskOptions
        {
            Retention = TimeSpan.FromMilliseconds(retentionMs),
            RetentionGrace = graceMs is { } g ? TimeSpan.FromMilliseconds(g) : null,
        };

        var error = Assert.Throws<FerryException>(() => options.Validate());

        Assert.Equal(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.StartsWith(start, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(7 * 24 * 60, 10)]
    [InlineData(10, 10)]
    [InlineData(3, 3)]
    [InlineData(1, 1)]
    public void EffectiveRetentionGrace_TenMinutesOrTheWindowIfShorter(int retentionMinutes, int graceMinutes) =>
        Assert.Equal(TimeSpan.FromMinutes(graceMinutes), new TaskOptions { Retention = TimeSpan.FromMinutes(retentionMinutes) }.EffectiveRetentionGrace);

    [Fact]
    public void Of_OlderRecordWithoutRetention_KeepsSevenDays() =>
        Assert.Equal(TimeSpan.FromDays(7), TaskOptions.Of(new TaskDefinition("t", ["/d/a.db"], "file:///b", 1000, 1)).Retention);

    [Fact]
    public void Validate_Defaults_Hold() => Assert.Same(TaskOptions.Defaults, TaskOptions.Defaults.Validate());
}
