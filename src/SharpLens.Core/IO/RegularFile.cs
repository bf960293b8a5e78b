using System.Runtime.InteropServices;

namespace SharpLens.IO;

/// <summary>What a path names, as the kernel says (following symbolic links).</summary>
public enum FileKind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Unknown }

/// <summary>
/// Only regular files are read: a FIFO (named pipe) blocks the reader until some writer opens it, and a device such as
/// <c>/dev/zero</c> never ends. Both are refused before they are opened, with the category's exit code.
/// </summary>
public static class RegularFile
{
    /// <summary>The largest prompt file read (<c>--text-file</c>, <c>--clean-file</c>, …): 16 MiB, far beyond any context window.</summary>
    public const long PromptLimitBytes = 16L << 20;

    /// <summary>The kind of <paramref name="path"/> and its size in bytes (0 unless regular). One <c>statx</c> call on
    /// Linux; elsewhere directories and files are told apart by .NET and anything else is <see cref="FileKind.Unknown"/>.</summary>
    public static (FileKind Kind, long Size) Stat(string path)
    {
        if (OperatingSystem.IsLinux() && StatLinux(path) is { } st) return st;
        if (Directory.Exists(path)) return (FileKind.Directory, 0);
        var fi = new FileInfo(path);
        return fi.Exists ? (FileKind.Unknown, fi.Length) : (FileKind.Missing, 0);
    }

    /// <summary>
    /// Throws (<paramref name="code"/>) unless <paramref name="path"/> is a regular file; returns its size. A missing file
    /// is left to the caller's own message (returns -1).
    /// </summary>
    /// <param name="what">how the message names the file, e.g. <c>--clean-file /tmp/p.txt</c></param>
    public static long Require(string path, string what, ExitCode code)
    {
        var (kind, size) = Stat(path);
        return kind switch
        {
            FileKind.Regular or FileKind.Unknown => size,
            FileKind.Missing => -1,
            _ => throw new SharpLensException(code, $"{what}: is {Describe(kind)}, not a regular file; only regular files are read"),
        };
    }

    /// <summary>
    /// The bytes of a prompt file: a regular file no larger than <see cref="PromptLimitBytes"/>, refused at once otherwise
    /// (exit 3); never reads more than the limit even if the file grows meanwhile.
    /// </summary>
    public static byte[] ReadPrompt(string path, string what)
    {
        long size = Require(path, what, ExitCode.Input);
        if (size > PromptLimitBytes) throw TooLarge(what, size);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        var buffer = new byte[Math.Max(size, 0) + 1];
        int n = 0, read;
        while ((read = fs.Read(buffer, n, buffer.Length - n)) > 0)
        {
            n += read;
            if (n == buffer.Length)
            {
                if (n > PromptLimitBytes) throw TooLarge(what, n);
                Array.Resize(ref buffer, (int)Math.Min(PromptLimitBytes + 1, (long)n * 2));
            }
        }
        return buffer[..n];
    }

    static SharpLensException TooLarge(string what, long size) => SharpLensException.Input(
        $"{what}: {size / 1e6:0.#} MB is over the {PromptLimitBytes >> 20} MB limit for prompt files; a prompt is text for the model's context");

    static string Describe(FileKind kind) => kind switch
    {
        FileKind.Directory => "a directory",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        _ => "not a file",
    };

    // statx(2): the one stat call whose buffer has the same layout on every Linux architecture.
    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    static extern int statx(int dirfd, string path, int flags, uint mask, byte[] buffer);

    static bool _noStatx;

    static (FileKind, long)? StatLinux(string path)
    {
        if (_noStatx) return null;
        var buf = new byte[256];
        try
        {
            const int AtFdCwd = -100;
            const uint StatxType = 0x1, StatxSize = 0x200;
            if (statx(AtFdCwd, path, 0, StatxType | StatxSize, buf) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno is 2 or 20 ? (FileKind.Missing, 0) : null; // ENOENT, ENOTDIR; anything else: let the reader say
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _noStatx = true;
            return null;
        }
        int mode = BitConverter.ToUInt16(buf, 28) & 0xF000;
        long size = BitConverter.ToInt64(buf, 40);
        FileKind kind = mode switch
        {
            0x8000 => FileKind.Regular, 0x4000 => FileKind.Directory, 0x1000 => FileKind.Fifo, 0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice, 0xC000 => FileKind.Socket, _ => FileKind.Unknown,
        };
        return (kind, kind == FileKind.Regular ? size : 0);
    }
}
