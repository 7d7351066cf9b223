using System.Runtime.InteropServices;

namespace Ferry.Storage.Internal;

/// <summary>
/// The two POSIX calls .NET does not offer with the semantics Ferry needs.
/// <para>
/// Publishing without replacing: <c>File.Move(src, dst, overwrite: false)</c> on Linux checks <c>lstat(dst)</c>
/// and then calls <c>rename(2)</c> (seen with strace on .NET 10), so a writer that creates <c>dst</c> between the
/// two is silently overwritten. <c>link(2)</c> fails with EEXIST atomically, which is exactly put-if-absent.
/// </para>
/// <para>Durability of a name: a new directory entry is durable only once its directory is fsynced, and .NET
/// can't open a directory as a file.</para>
/// </summary>
internal static class Posix
{
    private const int EEXIST = 17;
    private const int EINTR = 4;
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // Linux value; Ferry runs on Linux.
    private const int O_CLOEXEC = 0x80000;

    /// <summary>Creates <paramref name="newPath"/> as a second name of <paramref name="existingPath"/>; false when it exists.</summary>
    public static bool LinkNoReplace(string existingPath, string newPath)
    {
        if (link(existingPath, newPath) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EEXIST) return false;
        throw Error(errno, $"link {existingPath} -> {newPath}");
    }

    /// <summary>fsyncs a directory so the entries created or removed in it survive a crash.</summary>
    public static void FsyncDirectory(string directory)
    {
        int fd;
        do
        {
            fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EINTR);

        if (fd < 0) throw Error(Marshal.GetLastPInvokeError(), $"open directory {directory}");
        try
        {
            if (fsync(fd) != 0) throw Error(Marshal.GetLastPInvokeError(), $"fsync directory {directory}");
        }
        finally
        {
            // A failed close of a read-only directory descriptor loses nothing; the fsync result above is what counts.
            _ = close(fd);
        }
    }

    /// <summary>An IOException carrying the errno in HResult, which is what ErrorClassifier reads.</summary>
    private static IOException Error(int errno, string operation) =>
        new($"{operation}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);

    [DllImport("libc", SetLastError = true)]
    private static extern int link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string pathname, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
