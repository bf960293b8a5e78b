using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace SharpLens.Hub;

/// <summary>The transfer half of <see cref="HubDownloader"/>: resumable GET into <c>.incomplete</c>, verification, rename.</summary>
internal sealed partial class HubDownloader
{
    /// <summary>Transfers cut short in a row, each bringing no new byte, after which a download gives up (huggingface_hub's
    /// <c>http_get</c>: 5).</summary>
    internal const int MaxRetriesWithoutData = 5;
    /// <summary>The pause before a cut-short transfer is resumed (huggingface_hub: 1 s).</summary>
    internal static readonly TimeSpan RetryPause = TimeSpan.FromSeconds(1);
    /// <summary>Test hook: replaces <see cref="RetryPause"/> for the calling flow.</summary>
    internal static readonly AsyncLocal<TimeSpan?> RetryPauseOverride = new();

    /// <summary>
    /// Fills <c>blobs/&lt;etag&gt;.incomplete</c> (resuming what an earlier attempt left), checks its size and,
    /// its sha256 (LFS files) or git blob id (small files), then renames it into place. A bad file is deleted, never linked.
    /// A transfer cut short (connection lost, no data for 60 s, or a longer HF_HUB_DOWNLOAD_TIMEOUT) is resumed from where it stopped, as
    /// huggingface_hub does: after a pause, with a Range request, until <see cref="MaxRetriesWithoutData"/> attempts in a
    /// row have brought nothing; then the partial data stays for the next run.
    /// </summary>
    async Task DownloadBlobAsync(FileMetadata metadata, CancellationToken ct)
    {
        string blob = cache.BlobPath(metadata.Etag);
        string partial = blob + ".incomplete";
        HubCache.WriteOrDiskError(() => Directory.CreateDirectory(cache.BlobsDir));
        bool verifySha256 = Sha256Pattern().IsMatch(metadata.Etag);
        // Progress is the partial file growing past its longest so far (a server that ignores Range and keeps cutting
        // restarts from 0 every time: that is no progress).
        long longest = LengthOf(partial);
        int retriesWithoutData = 0;

        // A second round only happens when the partial data had to be thrown away (unsatisfiable range); a resumed
        // transfer repeats its round (from what the partial file holds, hashed again).
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
                if (metadata.Size is { } announced) EnsureFreeSpace(metadata, announced - existing);
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

                try
                {
                    await CopyBodyAsync(response, partial, append, existing, hash, metadata, ct).ConfigureAwait(false);
                }
                catch (TransferCutShort cut)
                {
                    retriesWithoutData = cut.Received > longest ? 0 : retriesWithoutData + 1;
                    longest = Math.Max(longest, cut.Received);
                    if (retriesWithoutData >= MaxRetriesWithoutData)
                        throw HubErrors.Interrupted(metadata.File, cut.Received, cut.Total,
                            $"{cut.Reason}; {MaxRetriesWithoutData} resumed attempts brought no data", cut.InnerException);
                    await Task.Delay(RetryPauseOverride.Value ?? RetryPause, ct).ConfigureAwait(false);
                    round--;
                    continue;
                }
            }

            long length = LengthOf(partial);
            if (metadata.Size is { } size && length != size)
            {
                if (length < size) throw HubErrors.Interrupted(metadata.File, length, size, "the server sent less than announced");
                DeleteQuietly(partial);
                throw new SharpLensException(ExitCode.Network,
                    $"download of {metadata.File} is corrupt: {length} bytes instead of {size}; it was discarded, run again");
            }
            string? mismatch = verifySha256
                ? Mismatch("sha256", metadata.Etag, Convert.ToHexStringLower(hash.GetHashAndReset()))
                : HubCache.IsGitObjectId(metadata.Etag) ? Mismatch("git blob id", metadata.Etag, GitBlobId(partial)) : null;
            if (mismatch is not null)
            {
                DeleteQuietly(partial);
                throw new SharpLensException(ExitCode.Network,
                    $"checksum mismatch for {metadata.File} of {cache.RepoId}: {mismatch}; the download was discarded, run again");
            }
            HubCache.WriteOrDiskError(() =>
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
                CheckRedirect(next, metadata.File);
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
        bool discard = false; // a full disk, or a body longer than announced: the partial file is removed, not kept to resume
        try
        {
            using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            while (true)
            {
                stall.CancelAfter(stallTimeout);
                int read;
                try
                {
                    read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new TransferCutShort(received, total, $"no data for {HubErrors.Seconds(stallTimeout)} s", null);
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw new TransferCutShort(received, total, e.Message, e);
                }
                if (read == 0) break;
                if (metadata.Size is { } announced && received + read > announced)
                {
                    discard = true;
                    throw LongerThanAnnounced(metadata, announced);
                }
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    discard = true; // it would only hold on to the space that other programs need
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
            if (discard)
            {
                CloseQuietly(file);
                DeleteQuietly(partial);
            }
            else
            {
                try { file.Dispose(); }
                catch (IOException e)
                {
                    CloseQuietly(file);
                    DeleteQuietly(partial);
                    throw DiskError(partial, e);
                }
            }
        }
        progress?.Report(new DownloadProgress(metadata.File, received, total));
    }

    /// <summary>A body longer than the size the HEAD announced: the server is wrong or hostile, and what it sends
    /// beyond the size is never written (it could fill the disk).</summary>
    SharpLensException LongerThanAnnounced(FileMetadata metadata, long announced) =>
        new(ExitCode.Network,
            $"{shownEndpoint} sent more than the {announced} bytes it announced for {metadata.File} of {cache.RepoId}; " +
            "the download was stopped at that size and discarded, run again");

    /// <summary>Refuses a download the disk cannot hold, before a byte is written (a 3.7 GB shard that fills the disk half
    /// way would leave nothing usable and a full disk).</summary>
    void EnsureFreeSpace(FileMetadata metadata, long needed)
    {
        if (needed <= 0 || FreeBytes(cache.BlobsDir) is not { } free || needed <= free) return;
        throw new SharpLensException(ExitCode.Output,
            $"not enough disk space to download {metadata.File} of {cache.RepoId}: it needs {Loading.MemoryBudget.Format(needed)} " +
            $"but {cache.BlobsDir} has {Loading.MemoryBudget.Format(free)} free; free some space or set HF_HUB_CACHE to another disk");
    }

    /// <summary>Free bytes on the file system holding <paramref name="dir"/> for this user; null when unknown.</summary>
    internal static long? FreeBytes(string dir)
    {
        try
        {
            var drive = new DriveInfo(OperatingSystem.IsWindows() ? Path.GetPathRoot(Path.GetFullPath(dir))! : dir);
            return drive.AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    static void CloseQuietly(FileStream file)
    {
        try { file.Dispose(); } catch (IOException) { } // the buffer cannot be flushed to a full disk: drop it
    }

    /// <summary>A response body that ended early: how long the partial file is, of what total, and why.</summary>
    sealed class TransferCutShort(long received, long? total, string reason, Exception? inner) : Exception(reason, inner)
    {
        public long Received { get; } = received;
        public long? Total { get; } = total;
        public string Reason { get; } = reason;
    }

    static string? Mismatch(string kind, string expected, string actual) =>
        actual == expected ? null : $"expected {kind} {expected}, got {actual}";

    /// <summary>The git blob id of a file, sha1("blob &lt;size&gt;\0" + content): the ETag the Hub gives a small (non-LFS) file.</summary>
    static string GitBlobId(string path)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        hash.AppendData(System.Text.Encoding.ASCII.GetBytes($"blob {LengthOf(path)}\0"));
        HashExisting(path, hash);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    static SharpLensException DiskError(string path, Exception e) =>
        new(ExitCode.Output, $"cannot write {path} (disk full or not writable?): {HubErrors.OneLine(e.Message)}", e);

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
