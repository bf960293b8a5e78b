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
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) when the directory cannot be created or the file
    /// cannot be written (disk full, permissions); the temporary file is removed and any old file is left as it was.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir); // inside the try: a file in the way or a read-only parent is an output error too
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

    /// <summary>
    /// Creates <paramref name="dir"/> if needed and checks that a file can be created in it, so that a long run is not
    /// lost to an output directory that cannot be written.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) naming the directory and the reason.</exception>
    /// <param name="what">how the message names the directory's role, e.g. "output" (the CLI passes its option)</param>
    public static void EnsureWritableDirectory(string dir, string what = "output")
    {
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".sharplens-probe.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SharpLensException(ExitCode.Output, $"cannot write to {dir} ({e.Message}); choose another {what} directory", e) { Parameter = nameof(dir) };
        }
    }

    static void TryDelete(string p)
    {
        try { File.Delete(p); } catch { /* best effort */ }
    }
}
