using Ferry.Cli;
using Ferry.Restore;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Cli;

/// <summary><c>ferry restore</c>'s progress: in place on a terminal, a line now and then when output is redirected.</summary>
public sealed class RestoreProgressLineTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly StringWriter _output = new();

    private static RestoreProgress At(int segment) => new(segment * 100L, 1000, segment, 10);

    [Fact]
    public void Report_Redirected_NothingWithinTheIntervalThenOneLinePerInterval()
    {
        var progress = new RestoreProgressLine(_output, inPlace: false, _time);

        progress.Report(At(0));
        _time.Advance(RestoreProgressLine.LineInterval - TimeSpan.FromMilliseconds(1));
        progress.Report(At(1));
        Assert.Empty(_output.ToString());

        _time.Advance(TimeSpan.FromMilliseconds(1));
        progress.Report(At(2));
        progress.Report(At(3));
        _time.Advance(RestoreProgressLine.LineInterval);
        progress.Report(At(10));
        progress.Finish();

        var lines = _output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["restoring:  20%  200 B of 1000 B, segment 2/10", "restoring: 100%  1000 B of 1000 B, segment 10/10"], lines);
        Assert.DoesNotContain("\r", _output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Report_InPlace_RewritesTheLineAtMostPerIntervalAndAlwaysTheLast()
    {
        var progress = new RestoreProgressLine(_output, inPlace: true, _time);

        progress.Report(At(0));
        progress.Report(At(1));
        _time.Advance(RestoreProgressLine.InPlaceInterval);
        progress.Report(At(2));
        progress.Report(At(10));
        progress.Finish();

        var text = _output.ToString();
        Assert.Equal(3, text.Count(c => c == '\r'));
        Assert.Contains("segment 0/10", text, StringComparison.Ordinal);
        Assert.DoesNotContain("segment 1/10", text, StringComparison.Ordinal);
        Assert.Contains("segment 2/10", text, StringComparison.Ordinal);
        Assert.EndsWith($"segment 10/10   {Environment.NewLine}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Finish_NothingShown_WritesNothing()
    {
        new RestoreProgressLine(_output, inPlace: true, _time).Finish();
        new RestoreProgressLine(_output, inPlace: false, _time).Finish();

        Assert.Empty(_output.ToString());
    }
}
