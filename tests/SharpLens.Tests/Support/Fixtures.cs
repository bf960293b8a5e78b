using System.IO.Compression;
using System.Text.Json.Nodes;

namespace SharpLens.Tests.Support;

/// <summary>
/// The vendored fixtures (repo's fixtures/ and models/). Files stored as NAME.gz are unpacked once per
/// test run into a temporary directory that mirrors the fixture, so code under test sees the
/// Hugging Face layout it expects.
/// </summary>
public static class Fixtures
{
    static readonly object Gate = new();
    static readonly Dictionary<string, string> Materialized = new();

    /// <summary>Everything this test run writes: <c>sharplens-tests-&lt;pid&gt;</c> under the temporary folder, removed at
    /// exit; a run that was killed leaves its folder to the next run, which removes those of processes no longer alive.</summary>
    static readonly string Root = Path.Combine(Path.GetTempPath(), RootPrefix + Environment.ProcessId);
    const string RootPrefix = "sharplens-tests-";

    static Fixtures()
    {
        RemoveFoldersOfEndedRuns();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteQuietly(Root);
    }

    static void RemoveFoldersOfEndedRuns()
    {
        foreach (var d in Directory.GetDirectories(Path.GetTempPath(), RootPrefix + "*"))
            if (int.TryParse(Path.GetFileName(d)[RootPrefix.Length..], out int pid) && pid != Environment.ProcessId && !IsRunning(pid))
                DeleteQuietly(d);
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }       // no such process
        catch (InvalidOperationException) { return false; }
    }

    static void DeleteQuietly(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The embedded default model, as shipped.</summary>
    public static string DemoModelDir => Path.Combine(RepoRoot, "models", "setcomp-demo");

    /// <summary>A directory with every file of fixture <paramref name="name"/> uncompressed
    /// (for setcomp-demo: the model files of models/setcomp-demo plus its references).</summary>
    public static string Dir(string name)
    {
        lock (Gate)
        {
            if (Materialized.TryGetValue(name, out var done)) return done;
            string dst = Path.Combine(Root, "fixtures", name);
            Directory.CreateDirectory(dst);
            var sources = new List<string> { Path.Combine(RepoRoot, "fixtures", name) };
            if (name == "setcomp-demo") sources.Add(DemoModelDir);
            foreach (var src in sources)
                foreach (var f in Directory.GetFiles(src))
                {
                    if (f.EndsWith(".gz"))
                    {
                        using var gz = new GZipStream(File.OpenRead(f), CompressionMode.Decompress);
                        using var o = File.Create(Path.Combine(dst, Path.GetFileNameWithoutExtension(f)));
                        gz.CopyTo(o);
                    }
                    else File.Copy(f, Path.Combine(dst, Path.GetFileName(f)), overwrite: true);
                }
            Materialized[name] = dst;
            return dst;
        }
    }

    public static JsonNode Json(string fixture, string file) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Dir(fixture), file)))!;

    /// <summary>A fresh empty temporary directory for one test.</summary>
    public static string TempDir(string tag = "t")
    {
        string d = Path.Combine(Root, $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SharpLens.sln"))) return d.FullName;
        throw new InvalidOperationException("repo root (SharpLens.sln) not found above " + AppContext.BaseDirectory);
    }
}
