using System.Diagnostics;

namespace Ferry.TestKit.Sqlite;

/// <summary>
/// A python3 script run as a separate process and driven line by line: each command written to its stdin is
/// answered by one line, "ok …" or "err …". The plumbing under the test writer (<see cref="PythonWriter"/>) and the
/// benchmark's writer; a script answers "quit" by closing its database and exiting.
/// </summary>
public sealed class PythonScript : IDisposable
{
    private readonly Process _process;
    private readonly TimeSpan _quitTimeout;

    private PythonScript(Process process, TimeSpan quitTimeout)
    {
        _process = process;
        _quitTimeout = quitTimeout;
    }

    public int ProcessId => _process.Id;

    public static PythonScript Start(string script, IEnumerable<string> arguments, TimeSpan? quitTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var info = new ProcessStartInfo("python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start python3");
        return new PythonScript(process, quitTimeout ?? TimeSpan.FromSeconds(10));
    }

    /// <summary>The next line the script writes; throws with its stderr when it exited instead.</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var line = await _process.StandardOutput.ReadLineAsync(deadline.Token).ConfigureAwait(false);
        return line ?? throw new InvalidOperationException(
            "python script exited: " + await _process.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Sends one command and returns what follows "ok" (empty for a bare "ok"); throws on "err".</summary>
    public async Task<string> SendAsync(string command, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        await _process.StandardInput.WriteLineAsync(command.AsMemory(), cancellationToken).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
        var reply = await ReadLineAsync(timeout, cancellationToken).ConfigureAwait(false);
        if (reply == "ok") return "";
        if (reply.StartsWith("ok ", StringComparison.Ordinal)) return reply[3..];
        throw new InvalidOperationException($"python script failed '{command}': {reply}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(_quitTimeout)) _process.Kill(entireProcessTree: true);
            }
        }
        catch (IOException)
        {
            // The pipe is gone because the process died already; nothing left to stop.
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        finally
        {
            _process.Dispose();
        }
    }
}
