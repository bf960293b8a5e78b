using System.Text.RegularExpressions;

namespace SharpLens.IO;

/// <summary>
/// Temporary files and folders carry the id of the process that wrote them (<c>.results.json.&lt;pid&gt;.&lt;guid&gt;.tmp</c>,
/// <c>.sharplens-staging-&lt;pid&gt;-&lt;guid&gt;</c>, make-random's <c>.&lt;out&gt;.tmp-&lt;pid&gt;-&lt;guid&gt;</c>): a run killed by
/// SIGKILL cannot remove its own, so the next run into the same place removes those whose process is gone.
/// </summary>
public static partial class LeftoverFiles
{
    /// <summary>The names this code writes temporaries under, with the writer's pid as group "pid".</summary>
    [GeneratedRegex(@"^\.(?:sharplens-(?:staging|old)-(?<pid>\d+)-[0-9a-f]{32}.*|.+\.(?<pid>\d+)\.[0-9a-f]{32}\.tmp|.+\.tmp-(?<pid>\d+)-[0-9a-f]{32}(?:\.old)?)$")]
    private static partial Regex TempName();

    /// <summary>The pid a temporary name carries, or null when <paramref name="name"/> is not one of ours.</summary>
    public static int? PidOf(string name)
    {
        var m = TempName().Match(name);
        return m.Success && int.TryParse(m.Groups["pid"].Value, out int pid) ? pid : null;
    }

    /// <summary>
    /// Removes the temporaries in <paramref name="dir"/> (not below it) whose process has ended; with
    /// <paramref name="only"/>, only names that start with it. Best effort: what cannot be removed is left.
    /// </summary>
    public static void RemoveDead(string dir, string? only = null)
    {
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(dir, only == null ? ".*" : only + "*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (string path in entries)
        {
            if (PidOf(Path.GetFileName(path)) is not int pid || pid == Environment.ProcessId || IsAlive(pid)) continue;
            try
            {
                if (Directory.Exists(path) && !IsLink(path)) Directory.Delete(path, recursive: true);
                else File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    static bool IsLink(string path) => new FileInfo(path).LinkTarget != null;

    /// <summary>Whether process <paramref name="pid"/> exists (on Linux: /proc/PID; a reused pid keeps a file, never the reverse).</summary>
    public static bool IsAlive(int pid)
    {
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
