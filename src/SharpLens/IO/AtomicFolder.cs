namespace SharpLens.IO;

/// <summary>
/// Writes a folder completely or not at all: its files go into a temporary folder beside it (named with this process's
/// id; those of dead processes are removed first), which is then renamed into place, replacing an existing folder. A
/// crash, Ctrl-C or full disk leaves the old folder (or none), never half of a new one. The caller decides beforehand
/// whether an existing folder may be replaced.
/// </summary>
internal static class AtomicFolder
{
    /// <summary>Runs <paramref name="writeInto"/> on a fresh temporary folder, then moves that folder to <paramref name="dest"/>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) when a folder or file cannot be written; the
    /// temporary folder is removed and <paramref name="dest"/> is left as it was. Anything else
    /// <paramref name="writeInto"/> throws (cancellation included) also removes the temporary folder.</exception>
    public static void Write(string dest, Action<string> writeInto)
    {
        string parent = Path.GetDirectoryName(dest)!;
        string prefix = $".{Path.GetFileName(dest)}.tmp-";
        LeftoverFiles.RemoveDead(parent, prefix); // a killed run's files (gigabytes, for a checkpoint)
        string tmp = Path.Combine(parent, $"{prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(tmp);
            writeInto(tmp);
            if (Directory.Exists(dest))
            {
                string old = tmp + ".old";
                Directory.Move(dest, old);
                Directory.Move(tmp, dest);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(tmp, dest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw new SharpLensException(ExitCode.Output, $"cannot write {dest}: {e.Message}", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch { /* best effort */ }
    }
}
