using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Capture;

/// <summary>
/// A file's (device, inode): tells "the same database file" from "a file put in its place" (restored, copied,
/// renamed over). <see cref="Unknown"/> where the platform gives no inode; then only the WAL checks apply.
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    public static readonly FileIdentity Unknown = default;

    // struct stat starts with st_dev and st_ino, both 64-bit, on every 64-bit Linux ABI (x86_64 and the generic
    // one used by arm64); the rest of the struct is never looked at, so a generous buffer is enough.
    private const int StatBufferSize = 256;

    public bool IsKnown => this != Unknown;

    public static FileIdentity Of(string path)
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess) return Unknown;
        var buffer = new byte[StatBufferSize];
        if (NativeMethods.stat(path, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            const int ENOENT = 2;
            if (errno == ENOENT) throw new FileNotFoundException($"{path} does not exist any more", path);
            throw new IOException($"stat {path} failed (errno {errno})", errno);
        }

        return FromStat(buffer);
    }

    public static FileIdentity Of(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess) return Unknown;
        var buffer = new byte[StatBufferSize];
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (NativeMethods.fstat((int)handle.DangerousGetHandle(), buffer) != 0)
            {
                throw new IOException("fstat on the database handle failed", Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }

        return FromStat(buffer);
    }

    private static FileIdentity FromStat(byte[] buffer) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(buffer),
        BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8)));

    private static class NativeMethods
    {
        // glibc exports stat and fstat as symbols since 2.33.
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int stat(string path, byte[] buffer);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int fstat(int fd, byte[] buffer);
    }
}
