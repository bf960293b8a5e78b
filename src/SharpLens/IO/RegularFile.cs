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
    public static byte[] ReadPrompt(string path, string what) => ReadBounded(path, PromptLimitBytes, what,
        size => $"{(size is { } s ? $"{s / 1e6:0.#} MB" : "it")} is over the {PromptLimitBytes >> 20} MB limit for prompt files; a prompt is text for the model's context");

    /// <summary>
    /// The bytes of a user's input file (a dataset, a prompt): a regular file of at most <paramref name="maxBytes"/>,
    /// refused before it is opened when it is a directory, FIFO, socket or device, and refused without being read whole
    /// when it is larger (a file that grows meanwhile stops at the limit too).
    /// </summary>
    /// <param name="what">how messages name the file, e.g. <c>"dataset pairs.jsonl"</c></param>
    /// <param name="tooLarge">the message after "WHAT: " for a file over the limit, given its size when known</param>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when the file is missing, unreadable, not a regular
    /// file, or larger than <paramref name="maxBytes"/>.</exception>
    public static byte[] ReadBounded(string path, long maxBytes, string what, Func<long?, string>? tooLarge = null)
    {
        tooLarge ??= size => $"{(size is { } s ? $"{s:N0} bytes" : "more bytes")} than the limit of {maxBytes:N0} bytes; split it into smaller files";
        long size = Require(path, what, ExitCode.Input);
        if (size < 0) throw SharpLensException.Input($"{what}: no such file");
        if (size > maxBytes) throw SharpLensException.Input($"{what}: {tooLarge(size)}");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
            var buffer = new byte[Math.Min(maxBytes, size) + 1];
            int n = 0, read;
            while ((read = fs.Read(buffer, n, buffer.Length - n)) > 0)
            {
                n += read;
                if (n > maxBytes) throw SharpLensException.Input($"{what}: {tooLarge(null)}");
                if (n == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(maxBytes + 1, (long)n * 2));
            }
            return buffer[..n];
        }
        catch (FileNotFoundException) { throw SharpLensException.Input($"{what}: no such file"); }
        catch (DirectoryNotFoundException) { throw SharpLensException.Input($"{what}: no such file"); }
        catch (UnauthorizedAccessException e) { throw SharpLensException.Input($"{what}: cannot read ({e.Message})"); }
        catch (IOException e) { throw SharpLensException.Input($"{what}: cannot read ({e.Message})"); }
    }

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
