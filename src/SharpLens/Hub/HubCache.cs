using System.Text.Json;
using System.Text.RegularExpressions;
using SharpLens.IO;

namespace SharpLens.Hub;

/// <summary>
/// One model repository inside a huggingface_hub cache directory, in the layout huggingface_hub
/// reads and writes:
/// <code>
/// models--org--name/
///   refs/main                       the commit hash that revision "main" pointed to (no newline)
///   blobs/&lt;etag&gt;                    file contents, named by git blob id (small files) or sha256 (LFS)
///   blobs/&lt;etag&gt;.incomplete         a download in progress, resumable
///   snapshots/&lt;commit&gt;/&lt;file&gt;      relative symlinks to ../../blobs/&lt;etag&gt;
///   .no_exist/&lt;commit&gt;/&lt;file&gt;      empty marker: the file does not exist at that commit
/// .locks/models--org--name/&lt;etag&gt;.lock   held while a blob downloads
/// </code>
/// </summary>
internal sealed partial class HubCache
{
    /// <summary>Files SharpLens cannot work without (besides the weights).</summary>
    internal static readonly string[] RequiredFiles = ["config.json", "tokenizer.json"];
    /// <summary>Files downloaded when the repository has them.</summary>
    internal static readonly string[] OptionalFiles = ["tokenizer_config.json", "generation_config.json"];
    internal const string SingleWeightsFile = "model.safetensors";
    internal const string WeightsIndexFile = "model.safetensors.index.json";

    public HubCache(string cacheDir, string repoId)
    {
        RepoId = repoId;
        RepoDir = Path.Combine(Path.GetFullPath(cacheDir), "models--" + repoId.Replace("/", "--"));
    }

    public string RepoId { get; }
    /// <summary><c>&lt;cache&gt;/models--org--name</c>.</summary>
    public string RepoDir { get; }
    public string BlobsDir => Path.Combine(RepoDir, "blobs");

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex GitObjectIdPattern();

    /// <summary>True for a full 40-character lowercase git object id: a commit hash, or a file's git blob id (the ETag
    /// the Hub gives a small, non-LFS file).</summary>
    public static bool IsGitObjectId(string s) => GitObjectIdPattern().IsMatch(s);

    /// <summary>True for a full 40-character lowercase git commit hash.</summary>
    public static bool IsCommitHash(string revision) => IsGitObjectId(revision);

    public string RefPath(string revision) => Path.Combine(RepoDir, "refs", revision);
    public string SnapshotDir(string commit) => Path.Combine(RepoDir, "snapshots", commit);
    public string SnapshotFile(string commit, string file) => Path.Combine(SnapshotDir(commit), file);
    public string BlobPath(string etag) => Path.Combine(BlobsDir, etag);
    /// <summary><c>&lt;cache&gt;/.locks/models--org--name/&lt;etag&gt;.lock</c>, as huggingface_hub names it.</summary>
    public string LockPath(string etag) => Path.Combine(Path.GetDirectoryName(RepoDir)!, ".locks", Path.GetFileName(RepoDir), etag + ".lock");
    public string NoExistMarker(string commit, string file) => Path.Combine(RepoDir, ".no_exist", commit, file);

    /// <summary>
    /// The commit a revision points to in the cache: the content of <c>refs/&lt;revision&gt;</c>, or the
    /// revision itself when it is a commit hash with a snapshot folder; null when unknown.
    /// </summary>
    public string? CachedCommit(string revision)
    {
        string refPath = RefPath(revision);
        if (File.Exists(refPath))
        {
            string commit = File.ReadAllText(refPath).Trim();
            if (commit.Length > 0 && !IsCommitHash(commit))
                throw SharpLensException.Checkpoint($"{refPath} does not hold a commit hash; delete it and run again");
            if (commit.Length > 0) return commit;
        }
        return IsCommitHash(revision) && Directory.Exists(SnapshotDir(revision)) ? revision : null;
    }

    /// <summary>Records that <paramref name="revision"/> points to <paramref name="commit"/>, as huggingface_hub does
    /// (only for branch and tag names: a commit hash needs no ref).</summary>
    public void WriteRef(string revision, string commit)
    {
        if (revision == commit) return;
        string refPath = RefPath(revision);
        if (File.Exists(refPath) && File.ReadAllText(refPath).Trim() == commit) return;
        WriteOrDiskError(() => AtomicFile.WriteAllText(refPath, commit));
    }

    /// <summary>Whether the snapshot has <paramref name="file"/> (a symlink to an existing blob, or a plain file).</summary>
    public bool HasFile(string commit, string file) => ExistsFollowingLinks(SnapshotFile(commit, file));

    /// <summary>File.Exists is true for a dangling symlink; this is not (a blob deleted by hand means the file is missing).</summary>
    static bool ExistsFollowingLinks(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        try
        {
            return info.LinkTarget is null || info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
        }
        catch (IOException)
        {
            return false; // a link loop: as good as missing (a download replaces the link)
        }
    }

    /// <summary>Whether a download recorded that <paramref name="file"/> does not exist at <paramref name="commit"/>.</summary>
    public bool KnownMissing(string commit, string file) => File.Exists(NoExistMarker(commit, file));

    /// <summary>Writes the empty marker saying that <paramref name="file"/> does not exist at <paramref name="commit"/>,
    /// if it can: a marker only saves a request, so a cache that cannot take it (read-only, full) costs one HEAD next time
    /// instead of failing the run.</summary>
    public void MarkMissing(string commit, string file)
    {
        string marker = NoExistMarker(commit, file);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
            File.WriteAllBytes(marker, []);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Files the snapshot lacks before SharpLens can load it: required files, then the weights
    /// (model.safetensors, or the index and every shard it names). Empty when the snapshot is complete.
    /// </summary>
    public List<string> MissingFiles(string commit)
    {
        var missing = RequiredFiles.Where(f => !HasFile(commit, f)).ToList();
        if (HasFile(commit, SingleWeightsFile)) return missing;
        if (!HasFile(commit, WeightsIndexFile))
        {
            missing.Add($"{SingleWeightsFile} (or {WeightsIndexFile} and its shards)");
            return missing;
        }
        missing.AddRange(ShardsOf(commit).Where(s => !HasFile(commit, s)));
        return missing;
    }

    /// <summary>The distinct shard files named by the snapshot's <c>model.safetensors.index.json</c>, in order of first use.</summary>
    public List<string> ShardsOf(string commit)
    {
        string indexPath = SnapshotFile(commit, WeightsIndexFile);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw SharpLensException.Checkpoint($"{indexPath} has no \"weight_map\" object");
            var shards = new List<string>();
            foreach (var entry in map.EnumerateObject())
            {
                string shard = entry.Value.GetString() ?? "";
                if (!IsSafeRepoPath(shard))
                    throw SharpLensException.Checkpoint($"{indexPath} names an invalid shard file '{UntrustedText.Quote(shard)}'");
                if (!shards.Contains(shard)) shards.Add(shard);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw SharpLensException.Checkpoint($"{indexPath} is not valid JSON: {UntrustedText.Quote(e.Message.ReplaceLineEndings(" "))}");
        }
        catch (InvalidOperationException e)
        {
            throw SharpLensException.Checkpoint($"{indexPath} has a non-string shard name: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>A relative path inside a repository that cannot escape it (nor put control characters in a file name).</summary>
    public static bool IsSafeRepoPath(string path) =>
        path.Length > 0 && !path.Contains('\\') && !path.StartsWith('/') && !path.Contains(':') && !path.Any(char.IsControl)
        && path.Split('/').All(segment => segment.Length > 0 && segment != "." && segment != "..");

    /// <summary>
    /// Points <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> at <c>blobs/&lt;etag&gt;</c> with a relative symlink, like
    /// huggingface_hub; where symlinks are not allowed (Windows without developer mode) the blob is copied.
    /// </summary>
    public void LinkIntoSnapshot(string commit, string file, string etag)
    {
        string link = SnapshotFile(commit, file);
        string blob = BlobPath(etag);
        string relative = Path.GetRelativePath(Path.GetDirectoryName(link)!, blob);
        if (new FileInfo(link).LinkTarget == relative) return; // linked already (by another run, or Python)
        WriteOrDiskError(() =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            // Made under a temporary name and renamed over the link, so that concurrent runs never see it missing.
            string temp = $"{link}.{Guid.NewGuid():N}.tmp";
            try
            {
                try
                {
                    File.CreateSymbolicLink(temp, relative);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
                {
                    File.Copy(blob, temp, overwrite: true);
                }
                File.Move(temp, link, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp) || new FileInfo(temp).LinkTarget is not null) File.Delete(temp);
            }
        });
    }

    /// <summary>Runs a cache write; a failing disk (full, read-only, no permission) becomes one clear Output error.</summary>
    internal static void WriteOrDiskError(Action write)
    {
        try
        {
            write();
        }
        catch (SharpLensException e) when (e.Code == ExitCode.Output)
        {
            throw new SharpLensException(ExitCode.Output, $"cannot write to the Hugging Face cache: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SharpLensException(ExitCode.Output,
                $"cannot write to the Hugging Face cache (disk full or not writable?): {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }
}
