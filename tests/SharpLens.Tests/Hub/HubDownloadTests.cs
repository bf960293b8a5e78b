using SharpLens.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary><see cref="ModelLocator.Resolve"/> against <see cref="FakeHub"/>: layout, caching, resume, integrity, errors.</summary>
public sealed class HubDownloadTests : FakeHubTestBase
{
    [Fact]
    public void FreshDownload_ProducesTheHuggingfaceHubLayout()
    {
        var reports = new List<DownloadProgress>();
        string snapshot = ModelLocator.Resolve(RepoId, Online(), new SyncProgress(reports.Add));

        Assert.Equal(Path.Combine(RepoDir, "snapshots", Commit), snapshot);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main"))); // no newline, like Python
        foreach (var (file, content) in files)
        {
            string link = Path.Combine(snapshot, file);
            var info = new FileInfo(link);
            string etag = Etag(file, content);
            Assert.Equal($"../../blobs/{etag}", info.LinkTarget);
            Assert.Equal(content, File.ReadAllBytes(link));
            Assert.Equal(content, File.ReadAllBytes(Path.Combine(RepoDir, "blobs", etag)));
        }
        Assert.Equal(files.Count, Directory.GetFiles(Path.Combine(RepoDir, "blobs")).Length); // nothing .incomplete left
        Assert.True(File.Exists(Path.Combine(RepoDir, ".no_exist", Commit, "generation_config.json")));
        Assert.True(File.Exists(Path.Combine(RepoDir, ".no_exist", Commit, "model.safetensors")));
        Assert.Contains(reports, r => r.File == Shards[1] && r.Received == files[Shards[1]].Length && r.Total == files[Shards[1]].Length);

        // The LFS content came from the CDN after a 302, other files straight from resolve/.
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn-lfs/"));
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Path == $"/{RepoId}/resolve/{Commit}/tokenizer.json");
        Assert.Contains(hub.Requests, r => r.Method == "HEAD" && r.Path == $"/{RepoId}/resolve/main/config.json");
    }

    [Fact]
    public void SingleFileCheckpoint_DownloadsModelSafetensorsOnly()
    {
        var single = new Dictionary<string, byte[]>
        {
            ["config.json"] = files["config.json"], ["tokenizer.json"] = files["tokenizer.json"],
            ["model.safetensors"] = files[Shards[0]],
        };
        hub.AddRepo("tiny-org/single", single, Commit);
        string snapshot = ModelLocator.Resolve("tiny-org/single", Online());
        Assert.Equal(new[] { "config.json", "model.safetensors", "tokenizer.json" },
            Directory.GetFiles(snapshot).Select(f => Path.GetFileName(f)).Order().ToArray());
        Assert.DoesNotContain(hub.Requests, r => r.Path.EndsWith(".index.json"));
        string noExist = Path.Combine(cacheDir, "models--tiny-org--single", ".no_exist", Commit);
        Assert.True(File.Exists(Path.Combine(noExist, "tokenizer_config.json")));
        Assert.True(File.Exists(Path.Combine(noExist, "generation_config.json")));
    }

    [Fact]
    public void Offline_ResolvesFromTheCacheWithoutTheNetwork()
    {
        string online = ModelLocator.Resolve(RepoId, Online());
        hub.ClearRequests();
        Assert.Equal(online, ModelLocator.Resolve(RepoId, Offline()));
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void Offline_NeverDownloaded_SaysSoInOneLine()
    {
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Offline()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("HF_HUB_OFFLINE=1", e.Message);
        Assert.Contains($"{RepoId}@main is not in the cache", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void Offline_WithAShardMissing_NamesTheMissingFiles()
    {
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        File.Delete(Path.Combine(snapshot, Shards[1]));
        File.Delete(Path.Combine(snapshot, "tokenizer.json"));
        hub.ClearRequests();

        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Offline()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("lacks tokenizer.json, model-00002-of-00002.safetensors", e.Message);
        Assert.Contains(Commit, e.Message);
        Assert.Empty(hub.Requests);

        // Online, only what is missing is fetched again.
        ModelLocator.Resolve(RepoId, Online());
        Assert.DoesNotContain(hub.Requests, r => r.Method == "GET" && r.Path.EndsWith("config.json"));
        Assert.Equal(files[Shards[1]], File.ReadAllBytes(Path.Combine(snapshot, Shards[1])));
    }

    /// <summary>CDN GETs of shard 0's blob so far.</summary>
    List<FakeHub.Request> Shard0Gets() =>
        hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith($"/cdn-lfs/{FakeHub.Sha256(files[Shards[0]])}")).ToList();

    [Fact]
    public void InterruptedTransfer_IsResumedWithRangeInTheSameCall()
    {
        HubDownloader.RetryPauseOverride.Value = TimeSpan.FromMilliseconds(1);
        const int cut = 100_000;
        hub.CutNextCdnBodyAfter = cut;
        string snapshot = ModelLocator.Resolve(RepoId, Online());

        var gets = Shard0Gets();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Header("Range"));
        Assert.Equal($"bytes={cut}-", gets[1].Header("Range"));
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
        Assert.False(File.Exists(Path.Combine(RepoDir, "blobs", FakeHub.Sha256(files[Shards[0]]) + ".incomplete")));
    }

    [Fact]
    public void TransferCutShortAgainAndAgain_GivesUpAfterFiveResumesWithoutData_AndTheNextCallResumes()
    {
        HubDownloader.RetryPauseOverride.Value = TimeSpan.FromMilliseconds(1);
        const int cut = 100_000;
        hub.CutNextCdnBodyAfter = cut;
        hub.CutCdnBodiesAfter = 0;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"interrupted after {cut} of {files[Shards[0]].Length} bytes", e.Message);
        Assert.Contains($"{HubDownloader.MaxRetriesWithoutData} resumed attempts brought no data", e.Message);
        Assert.Contains("run again to resume", e.Message);
        var gets = Shard0Gets();
        Assert.Equal(1 + HubDownloader.MaxRetriesWithoutData, gets.Count);
        Assert.All(gets.Skip(1), g => Assert.Equal($"bytes={cut}-", g.Header("Range")));

        string etag = FakeHub.Sha256(files[Shards[0]]);
        string partial = Path.Combine(RepoDir, "blobs", etag + ".incomplete");
        Assert.Equal(cut, new FileInfo(partial).Length);
        Assert.False(File.Exists(Path.Combine(RepoDir, "blobs", etag)));
        Assert.False(File.Exists(Path.Combine(RepoDir, "snapshots", Commit, Shards[0])));

        hub.CutCdnBodiesAfter = null;
        hub.ClearRequests();
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        var resumed = Assert.Single(Shard0Gets());
        Assert.Equal($"bytes={cut}-", resumed.Header("Range"));
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
        Assert.False(File.Exists(partial));
    }

    [Fact]
    public void ResumesThatBringData_DoNotCountTowardTheLimit()
    {
        HubDownloader.RetryPauseOverride.Value = TimeSpan.FromMilliseconds(1);
        const int piece = 20_000;
        hub.CutCdnBodiesAfter = piece;
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        int pieces = (files[Shards[0]].Length + piece - 1) / piece;
        Assert.True(pieces > HubDownloader.MaxRetriesWithoutData + 1);
        Assert.Equal(pieces, Shard0Gets().Count);
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
    }

    [Fact]
    public void AServerThatIgnoresRangeAndKeepsCutting_IsNotRetriedForever()
    {
        HubDownloader.RetryPauseOverride.Value = TimeSpan.FromMilliseconds(1);
        hub.IgnoreRange = true;
        hub.CutCdnBodiesAfter = 20_000;  // every attempt starts over at 0 and ends at 20,000: no progress after the first
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Contains("resumed attempts brought no data", e.Message);
        Assert.Equal(1 + HubDownloader.MaxRetriesWithoutData, Shard0Gets().Count);
    }

    [Fact]
    public void ResumeAgainstAServerThatIgnoresRange_StartsOver()
    {
        HubDownloader.RetryPauseOverride.Value = TimeSpan.FromMilliseconds(1);
        hub.CutNextCdnBodyAfter = 50_000;
        hub.CutCdnBodiesAfter = 0;
        Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        hub.CutCdnBodiesAfter = null;
        hub.IgnoreRange = true;
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
    }

    [Fact]
    public void CorruptedTransfer_IsRefusedAndLeavesNoBlob()
    {
        hub.CorruptCdnBodies = true;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("checksum mismatch", e.Message);
        Assert.Contains(Shards[0], e.Message);
        string blobs = Path.Combine(RepoDir, "blobs");
        Assert.DoesNotContain(Directory.GetFiles(blobs), f => Path.GetFileName(f).StartsWith(FakeHub.Sha256(files[Shards[0]])));
        Assert.False(File.Exists(Path.Combine(RepoDir, "snapshots", Commit, Shards[0])));

        hub.CorruptCdnBodies = false;
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
    }

    [Fact]
    public void CorruptedSmallFile_IsRefusedByItsGitBlobId()
    {
        hub.CorruptSmallBodies = true;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("checksum mismatch", e.Message);
        Assert.Contains("git blob id", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Path.Combine(RepoDir, "snapshots", Commit, "config.json")));
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(RepoDir, "blobs")), f => !f.EndsWith(".incomplete"));

        hub.CorruptSmallBodies = false;
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        Assert.Equal(files["config.json"], File.ReadAllBytes(Path.Combine(snapshot, "config.json")));
    }

    [Fact]
    public void Bare404_IsNotRememberedAsAMissingFile()
    {
        hub.Bare404Files.Add("tokenizer.json");
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.False(File.Exists(Path.Combine(RepoDir, ".no_exist", Commit, "tokenizer.json")));

        hub.Bare404Files.Clear();  // the proxy recovers: the next run asks again and succeeds
        string snapshot = ModelLocator.Resolve(RepoId, Online());
        Assert.Equal(files["tokenizer.json"], File.ReadAllBytes(Path.Combine(snapshot, "tokenizer.json")));
    }

    [Fact]
    public async Task ConcurrentDownloads_OfOneModel_AllSucceed()
    {
        // A race shows up in some rounds only: several rounds, each into an empty cache.
        for (int round = 0; round < 5; round++)
        {
            var options = Online() with { CacheDir = Fixtures.TempDir("hub-race") };
            var runs = Enumerable.Range(0, 6).Select(_ => Task.Run(() => ModelLocator.Resolve(RepoId, options))).ToArray();
            string[] snapshots = await Task.WhenAll(runs);
            Assert.All(snapshots, s => Assert.Equal(snapshots[0], s));
            foreach (var (file, content) in files)
                Assert.Equal(content, File.ReadAllBytes(Path.Combine(snapshots[0], file)));
            Assert.Empty(Directory.GetFiles(snapshots[0], "*.tmp"));
        }
    }

    [Fact]
    public void UnknownRepo_IsAOneLineNetworkError()
    {
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("nobody/nothing", Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("model nobody/nothing not found", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(Path.Combine(cacheDir, "models--nobody--nothing", "snapshots")));
    }

    [Fact]
    public void GatedRepo_WithoutToken_SaysHowToGetAccess()
    {
        hub.AddRepo("meta-org/gated", files, Commit).Token = "hf_secret";
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("meta-org/gated", Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("gated", e.Message);
        Assert.Contains("HF_TOKEN", e.Message);
        Assert.Contains($"{hub.Endpoint}/meta-org/gated", e.Message);

        var wrongToken = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("meta-org/gated", Online("hf_wrong")));
        Assert.Equal(ExitCode.Network, wrongToken.Code);
        Assert.Contains("HF_TOKEN has not been granted access", wrongToken.Message);
        Assert.DoesNotContain("hf_wrong", wrongToken.Message);
    }

    [Theory]
    [InlineData("\"abc123\"", "abc123")]
    [InlineData("W/\"abc123\"", "abc123")]
    [InlineData("abc123", "abc123")]
    [InlineData("\"\"", null)]
    [InlineData(null, null)]
    public void Etags_AreNormalizedLikeHuggingfaceHub(string? header, string? expected) =>
        Assert.Equal(expected, HubDownloader.NormalizeEtag(header));

    [Fact]
    public void EndpointThatIsNotAHub_IsReportedAsSuch()
    {
        var options = new HubOptions(hub.Endpoint + "/not-a-hub", null, cacheDir, Offline: false);
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, options));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("(HTTP 404)", e.Message);
    }

    [Fact]
    public void Token_IsSentAsBearerToTheHubButNotToTheCdn()
    {
        hub.AddRepo("meta-org/gated", files, Commit).Token = "hf_secret";
        string snapshot = ModelLocator.Resolve("meta-org/gated", Online("hf_secret"));
        Assert.True(File.Exists(Path.Combine(snapshot, Shards[1])));
        var hubRequests = hub.Requests.Where(r => r.Path.StartsWith("/meta-org/gated/")).ToList();
        Assert.NotEmpty(hubRequests);
        Assert.All(hubRequests, r => Assert.Equal("Bearer hf_secret", r.Header("Authorization")));
        var cdnRequests = hub.Requests.Where(r => r.Path.StartsWith("/cdn-lfs/")).ToList();
        Assert.NotEmpty(cdnRequests);
        Assert.All(cdnRequests, r => Assert.Null(r.Header("Authorization")));
    }

    [Fact]
    public void RevisionSyntax_UsesThatBranchAndWritesItsRef()
    {
        const string v1Commit = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        var repo = hub.AddRepo(RepoId, files, Commit);
        var v1Files = new Dictionary<string, byte[]>(files) { ["config.json"] = "{\"model_type\":\"qwen2\",\"v\":1}"u8.ToArray() };
        repo.Commits[v1Commit] = v1Files;
        repo.Branches["v1"] = v1Commit;

        string snapshot = ModelLocator.Resolve($"{RepoId}@v1", Online());
        Assert.Equal(Path.Combine(RepoDir, "snapshots", v1Commit), snapshot);
        Assert.Equal(v1Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "v1")));
        Assert.False(File.Exists(Path.Combine(RepoDir, "refs", "main")));
        Assert.Equal(v1Files["config.json"], File.ReadAllBytes(Path.Combine(snapshot, "config.json")));

        // A commit hash needs no ref file, and the shared blobs are not downloaded twice.
        hub.ClearRequests();
        string byCommit = ModelLocator.Resolve($"{RepoId}@{Commit}", Online());
        Assert.Equal(Path.Combine(RepoDir, "snapshots", Commit), byCommit);
        Assert.False(File.Exists(Path.Combine(RepoDir, "refs", Commit)));
        Assert.DoesNotContain(hub.Requests, r => r.Path.StartsWith("/cdn-lfs/"));
        Assert.Equal(byCommit, ModelLocator.Resolve($"{RepoId}@{Commit}", Offline()));
    }

    [Fact]
    public void UnknownRevision_IsAOneLineNetworkError()
    {
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve($"{RepoId}@no-such-branch", Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("revision 'no-such-branch' not found", e.Message);
    }

    [Fact]
    public void NetworkDown_IsAOneLineNetworkError()
    {
        int closedPort;
        using (var probe = new FakeHub()) closedPort = probe.Port; // listening stopped: connection refused
        var options = new HubOptions($"http://127.0.0.1:{closedPort}", null, cacheDir, Offline: false);
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, options));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"cannot reach 127.0.0.1:{closedPort}", e.Message);
        Assert.Contains("HF_HUB_OFFLINE=1", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void DiskFull_IsAOneLineOutputErrorAndLeavesNoBlob()
    {
        if (!File.Exists("/dev/full")) return; // Linux only: writes to /dev/full fail with ENOSPC
        string etag = FakeHub.Sha256(files[Shards[0]]);
        string blobs = Path.Combine(RepoDir, "blobs");
        Directory.CreateDirectory(blobs);
        File.CreateSymbolicLink(Path.Combine(blobs, etag + ".incomplete"), "/dev/full");

        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Output, e.Code);
        Assert.Contains("disk full", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(Path.Combine(blobs, etag)));
        Assert.False(File.Exists(Path.Combine(RepoDir, "snapshots", Commit, Shards[0])));
    }

    [Fact]
    public async Task BlobLockedByAnotherDownload_IsWaitedFor()
    {
        string etag = FakeHub.Sha256(files[Shards[0]]);
        string lockPath = Path.Combine(cacheDir, ".locks", "models--tiny-org--tiny-qwen2", etag + ".lock");
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var held = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        var resolving = Task.Run(() => ModelLocator.Resolve(RepoId, Online()));
        await Task.Delay(500);
        Assert.False(resolving.IsCompleted);
        held.Dispose();
        string snapshot = await resolving.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(files[Shards[0]], File.ReadAllBytes(Path.Combine(snapshot, Shards[0])));
    }
}
