using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ferry.TestKit.Cli;

/// <summary>Real POSIX signals for child processes (Process.Kill only sends SIGKILL).</summary>
public static partial class Signal
{
    public const int Int = 2;
    public const int Term = 15;
    public const int Stop = 19;
    public const int Cont = 18;

    public static void Kill(this Process process, int signal)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (SysKill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
