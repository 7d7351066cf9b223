using System.Diagnostics;
using System.Globalization;

namespace Ferry.TestKit.Browser;

/// <summary>
/// Debian's <c>chromium</c>, headless (as root it needs <c>--no-sandbox</c>): the DOM a browser builds from a page
/// (<c>--dump-dom</c>), or a PNG of what it shows (<c>--screenshot</c>). Each run has its own profile directory, and a
/// deadline after which chromium and every process it started are killed.
/// </summary>
public static class HeadlessChromium
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The serialised DOM of <paramref name="url"/> after the page loaded (and its scripts ran).</summary>
    public static async Task<string> DumpDomAsync(Uri url)
    {
        var (stdout, _) = await RunAsync(["--dump-dom", url.AbsoluteUri]);
        if (!stdout.Contains("<html", StringComparison.OrdinalIgnoreCase)) throw new InvalidOperationException($"chromium --dump-dom {url} printed no document: {stdout}");
        return stdout;
    }

    /// <summary>Writes a PNG of <paramref name="url"/> as a window of <paramref name="width"/> × <paramref name="height"/> shows it.</summary>
    public static async Task ScreenshotAsync(Uri url, string path, int width, int height)
    {
        File.Delete(path);
        var (_, stderr) = await RunAsync(
            [$"--screenshot={path}", string.Create(CultureInfo.InvariantCulture, $"--window-size={width},{height}"), "--hide-scrollbars", url.AbsoluteUri]);
        if (!File.Exists(path)) throw new InvalidOperationException($"chromium --screenshot wrote no {path}: {stderr}");
    }

    private static async Task<(string Stdout, string Stderr)> RunAsync(IReadOnlyList<string> args)
    {
        var binary = Tools.Find("chromium") ?? throw new InvalidOperationException("chromium is not on PATH; scripts/test.sh installs Debian's chromium (these tests are never skipped)");
        using var profile = new TempDirectory("chromium");
        var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Nothing but the page: no first-run work, extensions, component updates or other background requests.
        string[] flags =
        [
            "--headless", "--no-sandbox", "--disable-gpu", $"--user-data-dir={profile.Path}", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ];
        foreach (var arg in (string[])[.. flags, .. args])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start chromium");
        using var deadline = new CancellationTokenSource(Deadline);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            // Past the deadline: kill chromium and its renderers, and say so (a deadline is not a cancellation).
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"chromium {string.Join(' ', args)} did not finish within {Deadline.TotalSeconds:0} s and was killed: {await stderr}");
        }

        var output = (await stdout, await stderr);
        if (process.ExitCode != 0) throw new InvalidOperationException($"chromium {string.Join(' ', args)} exited {process.ExitCode}: {output.Item2}");
        return output;
    }
}
