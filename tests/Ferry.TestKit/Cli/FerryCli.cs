using System.Diagnostics;
using System.Text;

namespace Ferry.TestKit.Cli;

/// <summary>What one run of the <c>ferry</c> executable printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the real <c>ferry</c> executable (ferry.dll, copied next to the test assembly by its project reference) as
/// a separate process, so tests see exactly what an operator sees: output, exit code, signals.
/// </summary>
public static class FerryCli
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "ferry.dll");

    /// <summary>Runs ferry to completion. <paramref name="home"/> sets FERRY_HOME so no test touches ~/.ferry.</summary>
    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        string home,
        IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null)
    {
        using var process = Start(args, home, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ferry {string.Join(' ', args)} did not exit within {timeout ?? DefaultTimeout}: {await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts ferry and returns the running process (stdout and stderr redirected); the caller owns it.</summary>
    public static Process Start(IEnumerable<string> args, string home, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment["FERRY_HOME"] = home;
        info.Environment.Remove("FERRY_META");
        if (environment is not null)
        {
            foreach (var (name, value) in environment) info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start ferry");
    }
}
