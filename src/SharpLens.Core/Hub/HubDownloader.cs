using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

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
    /// <summary>How long to wait for a connection, or for the headers of an answer.</summary>
    internal static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    /// <summary>How long a transfer may stall without a single byte before it counts as interrupted.</summary>
    internal static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);
    /// <summary>How long to wait for another process that is downloading the same blob.</summary>
    internal static readonly TimeSpan LockWait = TimeSpan.FromHours(1);
    static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(200);
    const int MaxRedirects = 10;
    const long ProgressStep = 1 << 20;

    readonly HttpClient http;
    readonly HubCache cache;
    readonly string endpoint;
    readonly Uri endpointUri;
    readonly string? token;
    readonly string revision;
    readonly HubErrors errors;
    readonly IProgress<DownloadProgress>? progress;

    /// <summary>What the HEAD request told about one file at one commit.</summary>
    sealed record FileMetadata(string File, string Commit, string Etag, long? Size, Uri DownloadUri, bool SendToken);

    public HubDownloader(HubOptions options, HubCache cache, string revision, IProgress<DownloadProgress>? progress)
    {
        this.cache = cache;
        this.revision = revision;
        this.progress = progress;
        endpoint = options.EffectiveEndpoint;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
            throw SharpLensException.Usage($"HF_ENDPOINT '{endpoint}' is not an http(s) URL");
        endpointUri = parsed;
        token = string.IsNullOrWhiteSpace(options.Token) ? null : options.Token.Trim();
        errors = new HubErrors(endpoint, cache.RepoId, revision, token is not null);
        http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // redirects are followed by hand to control where the token goes
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = RequestTimeout,
            UseProxy = true,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("sharplens/1.0");
    }

    public void Dispose() => http.Dispose();

    /// <summary>
    /// Downloads whatever the snapshot of the revision lacks and returns the snapshot directory. The first
    /// request pins the commit; every later file is requested at that commit, so a push during the download
    /// cannot mix two versions.
    /// </summary>
    public async Task<string> DownloadAsync(CancellationToken ct)
    {
        var config = await HeadAsync("config.json", revision, ct).ConfigureAwait(false)
            ?? throw new SharpLensException(ExitCode.Network, $"model {cache.RepoId}@{revision} has no config.json: is it a transformers model?");
        string commit = config.Commit;
        cache.WriteRef(revision, commit);
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
        return cache.SnapshotDir(commit);
    }

    /// <summary>Makes sure the snapshot has <paramref name="file"/>; false when the repository does not have it
    /// (remembered in <c>.no_exist</c>, as huggingface_hub does).</summary>
    async Task<bool> EnsureAsync(string commit, string file, CancellationToken ct)
    {
        if (cache.HasFile(commit, file)) return true;
        if (cache.KnownMissing(commit, file)) return false;
        var metadata = await HeadAsync(file, commit, ct).ConfigureAwait(false);
        if (metadata is null)
        {
            cache.MarkMissing(commit, file);
            return false;
        }
        await FetchAsync(metadata, ct).ConfigureAwait(false);
        return true;
    }

    Uri ResolveUrl(string file, string atRevision) =>
        new($"{endpoint}/{cache.RepoId}/resolve/{Uri.EscapeDataString(atRevision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>HEAD of a file; null when the repository has no such file.</summary>
    async Task<FileMetadata?> HeadAsync(string file, string atRevision, CancellationToken ct)
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
            if (status >= 400)
            {
                if (HubErrors.IsEntryNotFound(response)) return null;
                throw errors.FromResponse(response, file);
            }

            string commit = HubErrors.Header(response, "X-Repo-Commit")?.Trim()
                ?? throw new SharpLensException(ExitCode.Network,
                    $"{endpoint} sent no X-Repo-Commit header for {file} of {cache.RepoId}: is HF_ENDPOINT a Hugging Face Hub?");
            if (!HubCache.IsCommitHash(commit))
                throw new SharpLensException(ExitCode.Network, $"{endpoint} sent an invalid commit hash '{HubErrors.OneLine(commit)}' for {cache.RepoId}");
            string etag = NormalizeEtag(HubErrors.Header(response, "X-Linked-Etag") ?? HubErrors.Header(response, "ETag"))
                ?? throw new SharpLensException(ExitCode.Network, $"{endpoint} sent no ETag for {file} of {cache.RepoId}: cannot cache it reliably");
            if (!SafeEtagPattern().IsMatch(etag))
                throw new SharpLensException(ExitCode.Network, $"{endpoint} sent an unusable ETag for {file} of {cache.RepoId}");
            long? size = long.TryParse(HubErrors.Header(response, "X-Linked-Size"), out long linked) ? linked
                : response.Content.Headers.ContentLength;

            bool redirected = status is >= 300 and < 400 && location is not null;
            // Like huggingface_hub: content behind a redirect (the LFS CDN) is fetched without the token.
            return redirected
                ? new FileMetadata(file, commit, etag, size, location!, SendToken: false)
                : new FileMetadata(file, commit, etag, size, url, SendToken: true);
        }
        throw new SharpLensException(ExitCode.Network, $"too many redirects for {file} of {cache.RepoId} from {endpoint}");
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

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex SafeEtagPattern();

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
        HubCache.WriteOrNetworkError(() => Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!));
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

    /// <summary>
    /// Fills <c>blobs/&lt;etag&gt;.incomplete</c> (resuming what an earlier attempt left), checks its size and,
    /// for LFS files, its sha256, then renames it into place. A bad file is deleted, never linked.
    /// </summary>
    async Task DownloadBlobAsync(FileMetadata metadata, CancellationToken ct)
    {
        string blob = cache.BlobPath(metadata.Etag);
        string partial = blob + ".incomplete";
        HubCache.WriteOrNetworkError(() => Directory.CreateDirectory(cache.BlobsDir));
        bool verifySha256 = Sha256Pattern().IsMatch(metadata.Etag);

        // A second round only happens when the partial data had to be thrown away (unsatisfiable range).
        for (int round = 0; round < 2; round++)
        {
            long existing = LengthOf(partial);
            if (metadata.Size is { } expected && existing > expected)
            {
                DeleteQuietly(partial);
                existing = 0;
            }
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            if (existing > 0 && verifySha256) HashExisting(partial, hash);

            if (!(metadata.Size is { } full && full > 0 && existing == full))
            {
                using var response = await GetAsync(metadata, existing, ct).ConfigureAwait(false);
                int status = (int)response.StatusCode;
                bool append;
                if (status == 206)
                {
                    if (ContentRangeStart(response) != existing)
                    {
                        DeleteQuietly(partial);
                        continue;
                    }
                    append = true;
                }
                else if (status == 200)
                {
                    append = false; // the server ignored Range: start over
                    if (existing > 0) hash.GetHashAndReset();
                    existing = 0;
                }
                else if (status == 416)
                {
                    DeleteQuietly(partial);
                    continue;
                }
                else throw errors.FromResponse(response, metadata.File);

                await CopyBodyAsync(response, partial, append, existing, hash, metadata, ct).ConfigureAwait(false);
            }

            long length = LengthOf(partial);
            if (metadata.Size is { } size && length != size)
            {
                if (length < size) throw HubErrors.Interrupted(metadata.File, length, size, "the server sent less than announced");
                DeleteQuietly(partial);
                throw new SharpLensException(ExitCode.Network,
                    $"download of {metadata.File} is corrupt: {length} bytes instead of {size}; it was discarded, run again");
            }
            if (verifySha256)
            {
                string actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (actual != metadata.Etag)
                {
                    DeleteQuietly(partial);
                    throw new SharpLensException(ExitCode.Network,
                        $"checksum mismatch for {metadata.File} of {cache.RepoId}: expected sha256 {metadata.Etag}, got {actual}; the download was discarded, run again");
                }
            }
            HubCache.WriteOrNetworkError(() =>
            {
                if (File.Exists(blob)) File.Delete(partial); // another process finished it first
                else File.Move(partial, blob);
            });
            return;
        }
        throw new SharpLensException(ExitCode.Network, $"the server cannot resume {metadata.File} of {cache.RepoId}; run again");
    }

    /// <summary>GET of the content, following redirects by hand; the token only goes to the Hub's own site.</summary>
    async Task<HttpResponseMessage> GetAsync(FileMetadata metadata, long resumeFrom, CancellationToken ct)
    {
        Uri url = metadata.DownloadUri;
        bool sendToken = metadata.SendToken;
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (resumeFrom > 0) request.Headers.Range = new RangeHeaderValue(resumeFrom, null);
            AddTokenIfSameSite(request, url, sendToken);
            var response = await SendAsync(request, ct).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                var next = new Uri(url, location);
                sendToken &= SameSite(next, url);
                url = next;
                continue;
            }
            return response;
        }
        throw new SharpLensException(ExitCode.Network, $"too many redirects for {metadata.File} of {cache.RepoId}");
    }

    async Task CopyBodyAsync(HttpResponseMessage response, string partial, bool append, long existing,
        IncrementalHash hash, FileMetadata metadata, CancellationToken ct)
    {
        long received = existing;
        long? total = metadata.Size ?? (response.Content.Headers.ContentLength is { } rest ? existing + rest : null);
        progress?.Report(new DownloadProgress(metadata.File, received, total));
        long nextReport = received + ProgressStep;
        var buffer = new byte[1 << 16];

        FileStream file;
        try
        {
            file = new FileStream(partial, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DiskError(partial, e);
        }

        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            while (true)
            {
                stall.CancelAfter(StallTimeout);
                int read;
                try
                {
                    read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw HubErrors.Interrupted(metadata.File, received, total, $"no data for {StallTimeout.TotalSeconds:0} s");
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw HubErrors.Interrupted(metadata.File, received, total, e.Message, e);
                }
                if (read == 0) break;
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw DiskError(partial, e);
                }
                hash.AppendData(buffer, 0, read);
                received += read;
                if (received >= nextReport)
                {
                    progress?.Report(new DownloadProgress(metadata.File, received, total));
                    nextReport = received + ProgressStep;
                }
            }
        }
        finally
        {
            try { file.Dispose(); }
            catch (IOException e) { throw DiskError(partial, e); }
        }
        progress?.Report(new DownloadProgress(metadata.File, received, total));
    }

    static SharpLensException DiskError(string path, Exception e) =>
        new(ExitCode.Network, $"cannot write {path} (disk full or not writable?): {HubErrors.OneLine(e.Message)}", e);

    async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        headersTimeout.CancelAfter(RequestTimeout);
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw HubErrors.TimedOut(request.RequestUri!, RequestTimeout);
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

    static bool SameSite(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    static long? ContentRangeStart(HttpResponseMessage response) => response.Content.Headers.ContentRange?.From;

    static void HashExisting(string path, IncrementalHash hash)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = stream.Read(buffer)) > 0) hash.AppendData(buffer, 0, read);
    }

    /// <summary>Size of a file, following a symlink to what it points at; 0 when absent.</summary>
    static long LengthOf(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return 0;
        if (info.LinkTarget is null) return info.Length;
        return info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target ? target.Length : 0;
    }

    static void DeleteQuietly(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
