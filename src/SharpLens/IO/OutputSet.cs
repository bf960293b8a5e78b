namespace SharpLens.IO;

/// <summary>
/// One run's outputs in an output directory (<c>results.json</c> or a shard's <c>shard.json</c>, <c>report.html</c>, <c>figures/</c>) as one
/// consistent set. The directory is locked for the run (a second run into it is refused at once), files are written
/// into a fresh staging folder beside them, and <see cref="Commit"/> swaps them in with renames, removing what is
/// left of an older set. A run killed before the swap leaves the older set as it was; its staging folder, which
/// carries the dead pid, is removed by the next run into the directory.
/// </summary>
public sealed class OutputSet : IDisposable
{
    public const string ResultsFile = "results.json";
    public const string ReportFile = "report.html";
    public const string FiguresFolder = "figures";
    /// <summary>The partial result of one shard of a sharded study (<c>study --shard</c>), in place of results.json.</summary>
    public const string ShardFile = "shard.json";

    /// <summary>Every entry of a set, in the order a commit swaps them (figures before the page that shows them).</summary>
    public static IReadOnlyList<string> AllEntries { get; } = [FiguresFolder, ResultsFile, ShardFile, ReportFile];

    readonly bool _created;
    DirectoryLock? _lock;

    /// <summary>The output directory (full path).</summary>
    public string Directory { get; }

    /// <summary>The staging folder: write each entry at <c>Path.Combine(Staging, name)</c>, then <see cref="Commit"/>.</summary>
    public string Staging { get; }

    OutputSet(string dir, string staging, bool created, DirectoryLock? dirLock)
    {
        Directory = dir;
        Staging = staging;
        _created = created;
        _lock = dirLock;
    }

    /// <summary>
    /// Creates <paramref name="dir"/> if needed, locks it, removes temporaries of dead runs, and checks that the entries
    /// this run will replace (<paramref name="replaces"/>, default all) can be replaced — before any work is done.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) when the directory cannot be created or written,
    /// another run holds it, or an entry is in the way (a directory named results.json, a file named figures).</exception>
    /// <param name="what">how messages name the directory's role ("choose another output directory"); the CLI passes its option</param>
    public static OutputSet Open(string dir, IEnumerable<string>? replaces = null, string what = "output")
    {
        string full = Path.GetFullPath(dir);
        bool existed = System.IO.Directory.Exists(full);
        DirectoryLock? held = null;
        try
        {
            System.IO.Directory.CreateDirectory(full);
            held = DirectoryLock.TryAcquire(full) ?? throw new SharpLensException(ExitCode.Output,
                $"{full} is in use: another sharplens run is writing its outputs there; wait for it to finish or choose another {what} directory");
            LeftoverFiles.RemoveDead(full);
            foreach (string entry in replaces ?? AllEntries) CheckReplaceable(full, entry, what);
            string staging = Path.Combine(full, $".sharplens-staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
            System.IO.Directory.CreateDirectory(staging);
            return new OutputSet(full, staging, !existed, held);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            held?.Dispose();
            RemoveIfEmpty(full, existed);
            throw new SharpLensException(ExitCode.Output, $"cannot write to {full} ({e.Message}); choose another {what} directory", e);
        }
        catch
        {
            held?.Dispose();
            RemoveIfEmpty(full, existed);
            throw;
        }
    }

    static void CheckReplaceable(string dir, string entry, string role)
    {
        string path = Path.Combine(dir, entry);
        var (kind, _) = RegularFile.Stat(path);
        bool wantDir = entry == FiguresFolder;
        if (kind == FileKind.Missing || kind == (wantDir ? FileKind.Directory : FileKind.Regular) || kind == FileKind.Unknown && !wantDir) return;
        string what = kind == FileKind.Directory ? "a directory" : wantDir ? "not a directory" : "not a regular file";
        throw new SharpLensException(ExitCode.Output,
            $"{path} is {what}, so this run's {entry} cannot take its place; move it away or choose another {role} directory");
    }

    /// <summary>
    /// Swaps the staged entries into the directory and removes the other entries of <paramref name="replaces"/> there
    /// (stale files of an older set); returns the paths of every file now in place, in <see cref="AllEntries"/> order.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) when a rename or removal fails.</exception>
    public List<string> Commit(IEnumerable<string> replaces)
    {
        var written = new List<string>();
        try
        {
            var staged = AllEntries.Where(e => Path.Exists(Path.Combine(Staging, e))).ToList();
            foreach (string stale in replaces.Except(staged)) Remove(Path.Combine(Directory, stale));
            foreach (string entry in staged)
            {
                string from = Path.Combine(Staging, entry), to = Path.Combine(Directory, entry);
                if (System.IO.Directory.Exists(from))
                {
                    Remove(to);
                    System.IO.Directory.Move(from, to);
                    written.AddRange(System.IO.Directory.GetFiles(to).Order(StringComparer.Ordinal));
                }
                else
                {
                    File.Move(from, to, overwrite: true);
                    written.Add(to);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SharpLensException(ExitCode.Output, $"cannot write {Directory} ({e.Message})", e);
        }
        return written;
    }

    /// <summary>Removes a set entry: a folder is first renamed out of the way, so no half-removed one is ever seen.</summary>
    void Remove(string path)
    {
        if (System.IO.Directory.Exists(path) && new DirectoryInfo(path).LinkTarget == null)
        {
            string trash = Path.Combine(Directory, $".sharplens-old-{Environment.ProcessId}-{Guid.NewGuid():N}");
            System.IO.Directory.Move(path, trash);
            System.IO.Directory.Delete(trash, recursive: true);
        }
        else if (Path.Exists(path) || new FileInfo(path).LinkTarget != null) File.Delete(path);
    }

    /// <summary>Removes the staging folder (and the directory, if this run created it and left it empty), then unlocks.</summary>
    public void Dispose()
    {
        try { if (System.IO.Directory.Exists(Staging)) System.IO.Directory.Delete(Staging, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _lock?.Dispose();
        _lock = null;
        RemoveIfEmpty(Directory, !_created);
    }

    static void RemoveIfEmpty(string dir, bool existedBefore)
    {
        try
        {
            if (!existedBefore && System.IO.Directory.Exists(dir) && !System.IO.Directory.EnumerateFileSystemEntries(dir).Any())
                System.IO.Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
