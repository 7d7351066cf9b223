using System.Diagnostics;

namespace Ferry.TestKit.Sqlite;

/// <summary>
/// The sqlite3 command-line shell (the system's SQLite, independent of Ferry's): what tests compare databases with,
/// <c>.dump</c> of the source against <c>.dump</c> of a restore.
/// </summary>
public static class Sqlite3
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Runs one command against <paramref name="database"/> and returns its output; throws when it fails or hangs.</summary>
    public static string Run(string database, string command)
    {
        using var process = Start(database, command);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Deadline))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sqlite3 {database} '{command}' did not finish within {Deadline}");
        }

        if (process.ExitCode != 0) throw new InvalidOperationException($"sqlite3 {database} '{command}' exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }

    /// <summary>The <c>.dump</c> of <paramref name="database"/>: equal dumps mean equal databases.</summary>
    public static async Task<string> DumpAsync(string database)
    {
        using var process = Start(database, ".dump");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(Deadline);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sqlite3 {database} .dump did not finish within {Deadline}");
        }

        if (process.ExitCode != 0) throw new InvalidOperationException($"sqlite3 {database} .dump exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }

    private static Process Start(string database, string command)
    {
        var info = new ProcessStartInfo("sqlite3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(database);
        info.ArgumentList.Add(command);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start sqlite3");
    }
}
