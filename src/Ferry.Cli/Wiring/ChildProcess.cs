using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Ferry.Errors;

namespace Ferry.Cli.Wiring;

/// <summary>
/// The application <c>ferry replicate --exec</c> runs: started directly (no shell), with Ferry's standard input,
/// output and error, its environment and working directory. Signals are forwarded with <see cref="Signal"/>.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int ESRCH = 3;
    private readonly Process _process;

    private ChildProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
        Exited = WaitAsync();
    }

    public int Id => _process.Id;

    public string CommandLine { get; }

    /// <summary>Completes with the exit code when the application exits: 128 + N when signal N ended it, as shells say.</summary>
    public Task<int> Exited { get; }

    /// <summary>Starts <paramref name="commandLine"/>, split by <see cref="Split"/>; <c>FERRY:Exec:StartFailed</c> when it can't be.</summary>
    public static ChildProcess Start(string commandLine)
    {
        var words = Split(commandLine);
        var info = new ProcessStartInfo(words[0]) { UseShellExecute = false };
        foreach (var word in words.Skip(1)) info.ArgumentList.Add(word);
        try
        {
            var process = Process.Start(info) ?? throw new Win32Exception("the process did not start");
            return new ChildProcess(process, commandLine);
        }
        catch (Win32Exception e)
        {
            throw new FerryException(ErrorCodes.ExecStartFailed, $"could not start '{words[0]}' for --exec: {e.Message}",
                new ErrorContext(Operation: "start the application"), e);
        }
    }

    /// <summary>
    /// Splits a command line into words as a POSIX shell does for plain quoting, and nothing more: blanks separate
    /// words; '…' keeps everything literally; "…" keeps everything but \" \\ \$ \` (unescaped); a backslash outside
    /// quotes keeps the next character. No variables, globs, pipes or redirections: for those, run
    /// <c>sh -c '…'</c> (with <c>exec</c> in front of the application, so the signals reach it).
    /// </summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < commandLine.Length; i++)
        {
            var c = commandLine[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord) words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                    continue;
                case '\'':
                    var close = commandLine.IndexOf('\'', i + 1);
                    if (close < 0) throw Malformed(commandLine, "a ' is not closed");
                    word.Append(commandLine, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    i++;
                    for (; i < commandLine.Length && commandLine[i] != '"'; i++)
                    {
                        if (commandLine[i] == '\\' && i + 1 < commandLine.Length && commandLine[i + 1] is '"' or '\\' or '$' or '`') i++;
                        word.Append(commandLine[i]);
                    }

                    if (i >= commandLine.Length) throw Malformed(commandLine, "a \" is not closed");
                    break;
                case '\\':
                    if (++i >= commandLine.Length) throw Malformed(commandLine, "it ends with a \\");
                    word.Append(commandLine[i]);
                    break;
                default:
                    word.Append(c);
                    break;
            }

            inWord = true;
        }

        if (inWord) words.Add(word.ToString());
        if (words.Count == 0) throw Malformed(commandLine, "it names no command");
        return words;
    }

    /// <summary>Sends <paramref name="signal"/> to the application; nothing when it has exited already.</summary>
    public void Signal(PosixSignal signal)
    {
        var number = signal switch
        {
            PosixSignal.SIGINT => 2,
            PosixSignal.SIGTERM => 15,
            PosixSignal.SIGQUIT => 3,
            PosixSignal.SIGHUP => 1,
            _ => throw new ArgumentOutOfRangeException(nameof(signal), signal, "not a signal Ferry forwards"),
        };
        if (kill(_process.Id, number) != 0 && Marshal.GetLastPInvokeError() != ESRCH)
        {
            // Not fatal: the application keeps running and Ferry waits for it as before; say why it was not told.
            Console.Error.WriteLine($"ferry: could not send {signal} to the application (pid {_process.Id}): errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Dispose() => _process.Dispose();

    private async Task<int> WaitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }

    private static FerryException Malformed(string commandLine, string why) =>
        new(ErrorCodes.ConfigInvalidArgument, $"--exec '{commandLine}' can't be split into a command and its arguments: {why}");

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
