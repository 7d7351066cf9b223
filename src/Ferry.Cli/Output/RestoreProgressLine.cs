using Ferry.Cli.Commands;
using Ferry.Restore;

namespace Ferry.Cli;

/// <summary>
/// How far a restore is, as segments are applied. On a terminal (<c>inPlace</c>) one line rewritten in place, at most
/// every <see cref="InPlaceInterval"/> and always at the last segment, so a chain of thousands of small segments does
/// not spend its time writing to the terminal. Redirected (a log, a job's output) a plain line at most every
/// <see cref="LineInterval"/>: a long restore shows it is alive, a short one prints nothing but its summary.
/// </summary>
internal sealed class RestoreProgressLine(TextWriter writer, bool inPlace, TimeProvider time) : IProgress<RestoreProgress>
{
    public static readonly TimeSpan InPlaceInterval = TimeSpan.FromMilliseconds(100);

    public static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    private long _lastShown = time.GetTimestamp();
    private bool _shownInPlace;

    public void Report(RestoreProgress value)
    {
        var now = time.GetTimestamp();
        var last = value.SegmentsDone == value.SegmentsTotal;
        if (inPlace)
        {
            if (_shownInPlace && !last && time.GetElapsedTime(_lastShown, now) < InPlaceInterval) return;
            _shownInPlace = true;
            _lastShown = now;
            writer.Write($"\r{Describe(value)}   ");
            return;
        }

        if (time.GetElapsedTime(_lastShown, now) < LineInterval) return;
        _lastShown = now;
        writer.WriteLine(Describe(value));
    }

    /// <summary>Ends the line rewritten in place, so a summary or an error starts on a line of its own.</summary>
    public void Finish()
    {
        if (_shownInPlace) writer.WriteLine();
    }

    private static string Describe(RestoreProgress value)
    {
        var percent = value.BytesTotal == 0 ? 100 : value.BytesDone * 100 / value.BytesTotal;
        return $"restoring: {percent,3}%  {StorageCommands.Bytes(value.BytesDone)} of {StorageCommands.Bytes(value.BytesTotal)}, "
            + $"segment {value.SegmentsDone}/{value.SegmentsTotal}";
    }
}
