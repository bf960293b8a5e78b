using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using SharpLens.IO;

namespace SharpLens.Hub;

/// <summary>
/// Downloads the files of one model revision into a <see cref="HubCache"/> the way huggingface_hub's
/// <c>hf_hub_download</c> does: a HEAD on <c>{endpoint}/{id}/resolve/{revision}/{file}</c> (following only
/// same-site relative redirects) gives the commit, the ETag and the size; the content is then fetched from
/// that URL, or from the CDN the HEAD redirected to, without the token; it lands in
/// <c>blobs/&lt;etag&gt;.incomplete</c> (resumed with a Range request), is verified, renamed to
/// <c>blobs/&lt;etag&gt;</c> and linked from <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c>.
/// </summary>
internal sealed partial class HubDownloader : IDisposable
{
    /// <summary>How long a transfer may stall without a single byte before it counts as interrupted, at least (a longer
    /// HF_HUB_DOWNLOAD_TIMEOUT lengthens it).</summary>
    static readonly TimeSpan MinStallTimeout = TimeSpan.FromSeconds(60);
    /// <summary>How long to wait for another process that is downloading the same blob.</summary>
    internal static readonly TimeSpan LockWait = TimeSpan.FromHours(1);
    static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(200);
    const int MaxRedirects = 10;
    const long ProgressStep = 1 << 20;

    readonly HttpClient http;
    readonly HubCache cache;
    readonly string endpoint;
    /// <summary>The endpoint as messages show it: without credentials (HF_ENDPOINT may be http://user:pass@host).</summary>
    readonly string shownEndpoint;
    readonly Uri endpointUri;
    readonly string? token;
    readonly string revision;
    readonly HubErrors errors;
    readonly IProgress<DownloadProgress>? progress;
    /// <summary>How long to wait for a connection and the headers of an answer: HEAD requests, then GET requests.</summary>
    readonly TimeSpan headTimeout, getTimeout;
    /// <summary>How long a transfer may go without a byte before it counts as interrupted.</summary>
    readonly TimeSpan stallTimeout;

    /// <summary>What the HEAD request told about one file at one commit.</summary>
    sealed record FileMetadata(string File, string Commit, string Etag, long? Size, Uri DownloadUri, bool SendToken);

    public HubDownloader(HubOptions options, HubCache cache, string revision, IProgress<DownloadProgress>? progress)
    {
        this.cache = cache;
        this.revision = revision;
        this.progress = progress;
        endpoint = options.EffectiveEndpoint;
        shownEndpoint = HubErrors.Redact(endpoint);
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
            throw SharpLensException.Usage($"HF_ENDPOINT '{shownEndpoint}' is not an http(s) URL");
        endpointUri = parsed;
        token = string.IsNullOrWhiteSpace(options.Token) ? null : options.Token.Trim();
        CheckToken(token);
        errors = new HubErrors(shownEndpoint, cache.RepoId, revision, token is not null);
        headTimeout = options.EtagTimeout;
        getTimeout = options.DownloadTimeout ?? HubOptions.DefaultTimeout;
        stallTimeout = getTimeout > MinStallTimeout ? getTimeout : MinStallTimeout;
        http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // redirects are followed by hand to control where the token goes
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = headTimeout > getTimeout ? headTimeout : getTimeout, // each request's own limit is in SendAsync
            UseProxy = true,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("sharplens/1.0");
    }

    public void Dispose() => http.Dispose();

    /// <summary>A token goes into an HTTP header: a line break in it would inject headers (and .NET refuses to send it).
    /// The token itself is never printed.</summary>
    static void CheckToken(string? token)
    {
        if (token is null) return;
        int bad = token.AsSpan().IndexOfAnyExceptInRange('\u0021', '\u007e');
        if (bad >= 0)
            throw SharpLensException.Usage(
                $"the Hugging Face token (HF_TOKEN, or the file of huggingface-cli login) holds {(token[bad] is '\r' or '\n' ? "a line break" : "a space, control or non-ASCII character")} " +
                $"at character {bad + 1}; a token is one word of visible ASCII characters: set it again");
    }

    /// <summary>
    /// Downloads whatever the snapshot of the revision lacks and returns the snapshot directory. The first
    /// request pins the commit; every later file is requested at that commit, so a push during the download
    /// cannot mix two versions. <c>refs/&lt;revision&gt;</c> moves to the commit only once its snapshot is complete, so
    /// a download that fails or is cancelled leaves the ref on the snapshot that was there before.
    /// </summary>
    public async Task<string> DownloadAsync(CancellationToken ct)
    {
        // A bare 404 on the very first file more likely means a wrong endpoint or id than a missing config.json.
        var config = (await HeadAsync("config.json", revision, ct, bare404MeansNoSuchFile: false).ConfigureAwait(false)).Metadata
            ?? throw HubErrors.Gone(new SharpLensException(ExitCode.Network,
                $"model {cache.RepoId}@{revision} has no config.json: is it a transformers model?"));
        string commit = config.Commit;
        if (!cache.HasFile(commit, config.File)) await FetchAsync(config, ct).ConfigureAwait(false);

        foreach (string file in HubCache.RequiredFiles.Skip(1))
            if (!await EnsureAsync(commit, file, ct).ConfigureAwait(false))
                throw new SharpLensException(ExitCode.Network, $"model {cache.RepoId}@{revision} has no {file}, which SharpLens needs");
        foreach (string file in HubCache.OptionalFiles)
            await EnsureAsync(commit, file, ct).ConfigureAwait(false);

        if (!await EnsureAsync(commit, HubCache.SingleWeightsFile, ct).ConfigureAwait(false))
        {
            if (!await EnsureAsync(commit, HubCache.WeightsIndexFile, ct).ConfigureAwait(false))
                throw new SharpLensException(ExitCode.Network,
                    $"model {cache.RepoId}@{revision} has neither {HubCache.SingleWeightsFile} nor {HubCache.WeightsIndexFile}; SharpLens reads safetensors checkpoints only");
            foreach (string shard in cache.ShardsOf(commit))
                if (!await EnsureAsync(commit, shard, ct).ConfigureAwait(false))
                    throw new SharpLensException(ExitCode.Network,
                        $"model {cache.RepoId}@{revision}: {HubCache.WeightsIndexFile} names {shard}, which the repository does not have");
        }
        cache.WriteRef(revision, commit);
        return cache.SnapshotDir(commit);
    }

    /// <summary>Makes sure the snapshot has <paramref name="file"/>; false when the repository does not have it
    /// (remembered in <c>.no_exist</c>, as huggingface_hub does).</summary>
    async Task<bool> EnsureAsync(string commit, string file, CancellationToken ct)
    {
        if (cache.HasFile(commit, file)) return true;
        if (cache.KnownMissing(commit, file)) return false;
        var (metadata, hubSaysAbsent) = await HeadAsync(file, commit, ct).ConfigureAwait(false);
        if (metadata is null)
        {
            // Only the Hub's own "EntryNotFound" is remembered: a bare 404 (a proxy, a mirror) may not mean that.
            if (hubSaysAbsent) cache.MarkMissing(commit, file);
            return false;
        }
        await FetchAsync(metadata, ct).ConfigureAwait(false);
        return true;
    }

    Uri ResolveUrl(string file, string atRevision) =>
        new($"{endpoint}/{cache.RepoId}/resolve/{Uri.EscapeDataString(atRevision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>HEAD of a file: its metadata, or null when the repository has no such file, with whether the Hub said
    /// so itself (X-Error-Code EntryNotFound) rather than with a bare 404.</summary>
    async Task<(FileMetadata? Metadata, bool HubSaysAbsent)> HeadAsync(string file, string atRevision, CancellationToken ct, bool bare404MeansNoSuchFile = true)
    {
        Uri url = ResolveUrl(file, atRevision);
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, url);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            AddTokenIfSameSite(request, url, allowed: true);
            using var response = await SendAsync(request, ct).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            Uri? location = response.Headers.Location;
            if (status is >= 300 and < 400 && location is { IsAbsoluteUri: false })
            {
                url = new Uri(url, location); // a renamed repository: same site, keep going
                continue;
            }
            if (status is >= 300 and < 400 && location is not null) CheckRedirect(location, file);
            if (status >= 400)
            {
                if (HubErrors.IsEntryNotFound(response, bare404MeansNoSuchFile))
                    return (null, HubErrors.ErrorCode(response) == "EntryNotFound");
                throw errors.FromResponse(response, file);
            }

            string commit = HubErrors.Header(response, "X-Repo-Commit")?.Trim()
                ?? throw new SharpLensException(ExitCode.Network,
                    $"{shownEndpoint} sent no X-Repo-Commit header for {file} of {cache.RepoId}: is HF_ENDPOINT a Hugging Face Hub?");
            if (!HubCache.IsCommitHash(commit))
                throw new SharpLensException(ExitCode.Network, $"{shownEndpoint} sent an invalid commit hash '{UntrustedText.Quote(HubErrors.OneLine(commit), 64)}' for {cache.RepoId}");
            string etag = NormalizeEtag(HubErrors.Header(response, "X-Linked-Etag") ?? HubErrors.Header(response, "ETag"))
                ?? throw new SharpLensException(ExitCode.Network, $"{shownEndpoint} sent no ETag for {file} of {cache.RepoId}: cannot cache it reliably");
            // The ETag names the blob and is the only way to check its content: a sha256 (LFS files) or a git blob id.
            if (!Sha256Pattern().IsMatch(etag) && !HubCache.IsGitObjectId(etag))
                throw new SharpLensException(ExitCode.Network,
                    $"{shownEndpoint} sent the ETag '{UntrustedText.Quote(HubErrors.OneLine(etag), 80)}' for {file} of {cache.RepoId}, which is neither a sha256 " +
                    "nor a git blob id: the download could not be checked, so it is refused (is HF_ENDPOINT a Hugging Face Hub?)");
            long? size = long.TryParse(HubErrors.Header(response, "X-Linked-Size"), out long linked) ? linked
                : response.Content.Headers.ContentLength;

            bool redirected = status is >= 300 and < 400 && location is not null;
            // Like huggingface_hub: content behind a redirect (the LFS CDN) is fetched without the token.
            var metadata = redirected
                ? new FileMetadata(file, commit, etag, size, location!, SendToken: false)
                : new FileMetadata(file, commit, etag, size, ResolveUrl(file, commit), SendToken: true); // pinned to the commit
            return (metadata, false);
        }
        throw new SharpLensException(ExitCode.Network, $"too many redirects for {file} of {cache.RepoId} from {shownEndpoint}");
    }

    /// <summary>huggingface_hub's normalisation: drop a weak-validator prefix and the quotes.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (etag is null) return null;
        string value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal)) value = value[2..];
        value = value.Trim('"');
        return value.Length == 0 ? null : value;
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    async Task FetchAsync(FileMetadata metadata, CancellationToken ct)
    {
        if (!File.Exists(cache.BlobPath(metadata.Etag)))
        {
            using var blobLock = await AcquireBlobLockAsync(metadata, ct).ConfigureAwait(false);
            // Another process may have finished the blob while this one waited.
            if (!File.Exists(cache.BlobPath(metadata.Etag))) await DownloadBlobAsync(metadata, ct).ConfigureAwait(false);
        }
        cache.LinkIntoSnapshot(metadata.Commit, metadata.File, metadata.Etag);
    }

    /// <summary>
    /// Takes <c>&lt;cache&gt;/.locks/models--org--name/&lt;etag&gt;.lock</c>, the lock file huggingface_hub uses, so that two
    /// downloads of one blob (two SharpLens runs, or SharpLens and Python) never write the same
    /// <c>.incomplete</c> file at once. On Unix .NET locks with flock, as Python's filelock does.
    /// </summary>
    async Task<FileStream> AcquireBlobLockAsync(FileMetadata metadata, CancellationToken ct)
    {
        string lockPath = cache.LockPath(metadata.Etag);
        HubCache.WriteOrDiskError(() => Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!));
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (UnauthorizedAccessException e)
            {
                throw DiskError(lockPath, e);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(LockPoll, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new SharpLensException(ExitCode.Network,
                    $"another process has been downloading {metadata.File} of {cache.RepoId} for over {LockWait.TotalMinutes:0} minutes (lock {lockPath}): {HubErrors.OneLine(e.Message)}", e);
            }
        }
    }

    async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        TimeSpan timeout = request.Method == HttpMethod.Head ? headTimeout : getTimeout;
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        headersTimeout.CancelAfter(timeout);
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw HubErrors.TimedOut(request.RequestUri!, timeout);
        }
        catch (HttpRequestException e)
        {
            throw HubErrors.Unreachable(request.RequestUri!, e);
        }
    }

    void AddTokenIfSameSite(HttpRequestMessage request, Uri url, bool allowed)
    {
        if (token is not null && allowed && SameSite(url, endpointUri))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>Redirects may only lead to http(s): a <c>file://</c> or <c>ftp://</c> target is the server's error, not ours.</summary>
    void CheckRedirect(Uri target, string file)
    {
        if (target.IsAbsoluteUri && target.Scheme is not ("http" or "https"))
            throw new SharpLensException(ExitCode.Network,
                $"{shownEndpoint} redirected the download of {file} of {cache.RepoId} to {UntrustedText.Quote(HubErrors.Redact(target.OriginalString), 120)}, " +
                "which is not an http(s) URL; refused (is HF_ENDPOINT a Hugging Face Hub?)");
    }

    static bool SameSite(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;
}

