using System.Runtime.InteropServices;

namespace SharpLens.IO;

/// <summary>
/// An exclusive advisory lock on a directory, held while one run writes its outputs there. On Unix it is
/// <c>flock(2)</c> on the directory itself: nothing is left in the folder, and the kernel releases the lock when the
/// process ends, however it ends (SIGKILL included). Elsewhere it is a hidden lock file opened without sharing.
/// </summary>
public sealed class DirectoryLock : IDisposable
{
    int _fd = -1;
    FileStream? _file;

    DirectoryLock() { }

    /// <summary>The lock on <paramref name="dir"/>, or null when another process (or another lock in this one) holds it.
    /// Where the file system cannot lock (some network file systems), the run goes on unlocked.</summary>
    public static DirectoryLock? TryAcquire(string dir)
    {
        var l = new DirectoryLock();
        if (OperatingSystem.IsWindows())
        {
            try
            {
                l._file = new FileStream(Path.Combine(dir, ".sharplens.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1,
                    FileOptions.DeleteOnClose);
                return l;
            }
            catch (IOException) { return null; }
        }
        const int ORdOnly = 0, OCloExec = 0x80000, LockEx = 2, LockNb = 4;
        l._fd = open(dir, ORdOnly | (OperatingSystem.IsLinux() ? OCloExec : 0));
        if (l._fd < 0) return l; // cannot open the folder for locking: the write checks that follow will say why
        if (flock(l._fd, LockEx | LockNb) == 0) return l;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is 11 or 35) // EWOULDBLOCK (Linux, macOS): held elsewhere
        {
            l.Dispose();
            return null;
        }
        return l;
    }

    public void Dispose()
    {
        if (_fd >= 0) { close(_fd); _fd = -1; }
        _file?.Dispose();
        _file = null;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int open(string path, int flags);

    [DllImport("libc", SetLastError = true)]
    static extern int flock(int fd, int operation);

    [DllImport("libc", SetLastError = true)]
    static extern int close(int fd);
}
