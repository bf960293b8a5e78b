using System.Text.RegularExpressions;

namespace SharpLens.Hub;

/// <summary>
/// Turns the <c>--model</c> argument into a local directory holding a Hugging Face checkpoint: a directory is
/// used as is; a Hub id (<c>org/name</c> or <c>org/name@revision</c>) is looked up in the huggingface_hub cache
/// and whatever is missing is downloaded into it, in the layout Python's huggingface_hub shares.
/// </summary>
public static partial class ModelLocator
{
    const int MaxRepoIdLength = 96;

    /// <summary>
    /// The directory to load <paramref name="model"/> from.
    /// </summary>
    /// <param name="model">An existing directory, or a Hub id <c>org/name</c> / <c>org/name@revision</c> (branch, tag or commit; default <c>main</c>).</param>
    /// <param name="options">Endpoint, token, cache directory, offline mode and timeouts; null reads them with
    /// <see cref="HubOptions.FromEnvironment()"/> once <paramref name="model"/> turns out not to be a directory (a directory
    /// needs no Hub settings, so a malformed one cannot fail it).</param>
    /// <param name="progress">Told about each file while it downloads.</param>
    /// <param name="ct">Cancels a download; the partial data is kept and resumed next time.</param>
    /// <param name="warning">Told, in one line, when a branch or tag could not be brought up to date from the Hub and the
    /// complete snapshot already in the cache is used instead.</param>
    /// <returns>The directory itself, or the cache snapshot directory <c>models--org--name/snapshots/&lt;commit&gt;</c>.</returns>
    /// <exception cref="SharpLensException"><see cref="ExitCode.Usage"/> when <paramref name="model"/> is neither a directory
    /// nor a Hub id; <see cref="ExitCode.Network"/> for every Hub, network, cache or integrity failure.</exception>
    /// <remarks>
    /// As with huggingface_hub: a commit hash whose snapshot is complete is used without the network; a branch or tag
    /// is looked up on the Hub (one HEAD request) and a newer commit is fetched — only the files that changed are
    /// downloaded, the others are linked to the blobs already cached. When that lookup or download fails (no network, a
    /// timeout, an HTTP error such as a repository turned gated, a cache it cannot write to) the complete snapshot the
    /// cache has for the revision is used, with a warning — unless the Hub says the revision, or its config.json, no
    /// longer exists, which is an error as in Python.
    /// </remarks>
    public static string Resolve(string model, HubOptions? options, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default,
        Action<string>? warning = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length > 0 && Directory.Exists(model)) return Path.GetFullPath(model);
        if (!TryParseHubId(model, out string repoId, out string revision))
            throw SharpLensException.Usage(
                $"model '{model}' is neither an existing directory nor a Hugging Face model id like Qwen/Qwen1.5-1.8B-Chat or org/name@revision",
                nameof(model));

        options ??= HubOptions.FromEnvironment();
        var cache = new HubCache(options.CacheDir, repoId);
        string? commit = cache.CachedCommit(revision);
        bool complete = commit is not null && cache.MissingFiles(commit).Count == 0;
        // A commit never changes, and offline the Hub is not asked: a complete snapshot is the answer.
        if (complete && (options.Offline || HubCache.IsCommitHash(revision))) return cache.SnapshotDir(commit!);
        if (options.Offline) throw OfflineMiss(cache, repoId, revision, commit, options.CacheDir);

        string snapshot;
        try
        {
            using var downloader = new HubDownloader(options, cache, revision, progress);
            // Run off the caller's synchronization context so the blocking wait cannot deadlock.
            snapshot = Task.Run(() => downloader.DownloadAsync(ct), ct).GetAwaiter().GetResult();
        }
        catch (SharpLensException e) when (complete && e.Code is (ExitCode.Network or ExitCode.Output) && !HubErrors.IsGone(e))
        {
            warning?.Invoke($"could not update {repoId}@{revision} from the Hub ({e.Message}); using the cached snapshot {commit}");
            return cache.SnapshotDir(commit!);
        }
        var stillMissing = cache.MissingFiles(Path.GetFileName(snapshot));
        if (stillMissing.Count > 0)
            throw new SharpLensException(ExitCode.Network,
                $"download of {repoId}@{revision} left {string.Join(", ", stillMissing)} missing in {snapshot}");
        return snapshot;
    }

    static SharpLensException OfflineMiss(HubCache cache, string repoId, string revision, string? commit, string cacheDir)
    {
        string message = commit is null
            ? $"HF_HUB_OFFLINE=1 and model {repoId}@{revision} is not in the cache {cacheDir} (no {cache.RefPath(revision)}); "
              + "unset HF_HUB_OFFLINE to download it"
            : $"HF_HUB_OFFLINE=1 and the cached snapshot of {repoId}@{revision} (commit {commit}) lacks "
              + $"{string.Join(", ", cache.MissingFiles(commit))}; unset HF_HUB_OFFLINE to download the rest";
        return new SharpLensException(ExitCode.Network, message);
    }

    /// <summary>
    /// Whether <paramref name="model"/> has the shape of a Hub model id: <c>org/name</c>, optionally followed by
    /// <c>@revision</c>; names use letters, digits, <c>_ - .</c>, without <c>--</c> or <c>..</c>, as the Hub requires.
    /// Says nothing about whether the model exists.
    /// </summary>
    public static bool LooksLikeHubId(string model) => TryParseHubId(model, out _, out _);

    /// <summary>Splits <c>org/name@revision</c>; the revision defaults to <c>main</c>.</summary>
    internal static bool TryParseHubId(string model, out string repoId, out string revision)
    {
        repoId = "";
        revision = "main";
        if (string.IsNullOrEmpty(model)) return false;
        int at = model.IndexOf('@');
        string id = at < 0 ? model : model[..at];
        if (at >= 0)
        {
            revision = model[(at + 1)..];
            if (!IsValidRevision(revision)) return false;
        }
        if (id.Length > MaxRepoIdLength || id.Contains("--") || id.Contains("..")) return false;
        string[] parts = id.Split('/');
        if (parts.Length != 2 || !parts.All(p => NamePattern().IsMatch(p))) return false;
        repoId = id;
        return true;
    }

    /// <summary>A branch, tag or commit that is safe to use as a path under <c>refs/</c> (may contain <c>/</c>, like <c>refs/pr/1</c>).</summary>
    static bool IsValidRevision(string revision) =>
        revision.Length is > 0 and <= 255 && RevisionPattern().IsMatch(revision)
        && revision.Split('/').All(segment => segment.Length > 0 && segment != "." && segment != "..");

    [GeneratedRegex("^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9_.\\-/+]+$")]
    private static partial Regex RevisionPattern();
}
