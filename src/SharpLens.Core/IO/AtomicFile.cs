using System.Text;

namespace SharpLens.IO;

/// <summary>
/// Writes a file completely or not at all: the content goes to a temporary file in the same
/// directory, is flushed, then renamed over the destination. A crash, Ctrl-C or full disk leaves
/// the old file (or none), never half of a new one.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var data = bytes.ToArray();
        Write(path, s => s.Write(data));
    }

    /// <summary>Runs <paramref name="write"/> against a temporary stream, then moves it into place.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (IOException e)
        {
            TryDelete(tmp);
            throw new SharpLensException(ExitCode.Output, $"cannot write {path}: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            TryDelete(tmp);
            throw new SharpLensException(ExitCode.Output, $"cannot write {path}: {e.Message}", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    static void TryDelete(string p)
    {
        try { File.Delete(p); } catch { /* best effort */ }
    }
}
