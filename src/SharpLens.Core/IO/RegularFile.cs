using System.Runtime.InteropServices;

namespace SharpLens.IO;

/// <summary>
/// Reading a user's input file that must be a regular file of bounded size: a directory, a FIFO (whose open would wait
/// for a writer forever), a socket or a device is refused before it is opened, and a file larger than the limit is
/// refused without being read whole (a device or a growing file stops at the limit too).
/// </summary>
public static class RegularFile
{
    /// <summary>The bytes of <paramref name="path"/>, at most <paramref name="maxBytes"/>.</summary>
    /// <param name="what">how messages name the file, e.g. <c>"dataset pairs.jsonl"</c></param>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when the file is missing, unreadable, not a regular
    /// file, or larger than <paramref name="maxBytes"/>.</exception>
    public static byte[] ReadBounded(string path, long maxBytes, string what)
    {
        if (Directory.Exists(path)) throw SharpLensException.Input($"{what}: is a directory, not a file");
        if (!File.Exists(path)) throw SharpLensException.Input($"{what}: no such file");
        if (Kind(path) is { } kind && kind != "regular file")
            throw SharpLensException.Input($"{what}: is a {kind}, not a regular file");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            if (fs.CanSeek && fs.Length > maxBytes) throw TooLarge(what, fs.Length, maxBytes);
            using var buffer = new MemoryStream();
            var chunk = new byte[1 << 16];
            int read;
            while ((read = fs.Read(chunk)) > 0)
            {
                if (buffer.Length + read > maxBytes) throw TooLarge(what, null, maxBytes);
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
        catch (FileNotFoundException) { throw SharpLensException.Input($"{what}: no such file"); }
        catch (DirectoryNotFoundException) { throw SharpLensException.Input($"{what}: no such file"); }
        catch (UnauthorizedAccessException e) { throw SharpLensException.Input($"{what}: cannot read ({e.Message})"); }
        catch (IOException e) { throw SharpLensException.Input($"{what}: cannot read ({e.Message})"); }
    }

    static SharpLensException TooLarge(string what, long? size, long max) => SharpLensException.Input(
        $"{what}: {(size is { } s ? $"{s:N0} bytes" : "more bytes")} than the limit of {max:N0} bytes; split it into smaller files");

    /// <summary>"regular file", "directory", "FIFO", "socket", "character device", "block device"; null where the type
    /// cannot be asked (not Linux, or statx missing), in which case only directories are told apart.</summary>
    internal static string? Kind(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        // statx's buffer layout is the same on every Linux architecture (unlike struct stat): stx_mode is the u16 at 28.
        Span<byte> buf = stackalloc byte[256];
        int rc;
        try { rc = Statx(-100 /* AT_FDCWD */, path, 0 /* follow links */, 0x2 /* STATX_MODE */, ref MemoryMarshal.GetReference(buf)); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return null; }
        if (rc != 0) return null;
        int mode = BitConverter.ToUInt16(buf[28..30]);
        return (mode & 0xF000) switch
        {
            0x8000 => "regular file",
            0x4000 => "directory",
            0x1000 => "FIFO",
            0xC000 => "socket",
            0x2000 => "character device",
            0x6000 => "block device",
            _ => "special file",
        };
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, ref byte buffer);
}
