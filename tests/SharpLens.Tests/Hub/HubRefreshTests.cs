using SharpLens.Hub;

namespace SharpLens.Tests.Hub;

/// <summary>
/// A model already in the cache, run again online: as huggingface_hub, a branch is checked for a newer commit (one HEAD),
/// which is fetched reusing the cached blobs; a failed or cancelled refresh leaves the cache on its complete snapshot,
/// which is then used with a warning — unless the Hub says the revision is gone.
/// </summary>
public sealed class HubRefreshTests : FakeHubTestBase
{
    [Fact]
    public void SecondResolve_OnlyAsksWhereTheBranchPoints()
    {
        string first = ModelLocator.Resolve(RepoId, Online());
        hub.ClearRequests();
        string second = ModelLocator.Resolve(RepoId, Online());
        Assert.Equal(first, second);
        var request = Assert.Single(hub.Requests);
        Assert.Equal(("HEAD", $"/{RepoId}/resolve/main/config.json"), (request.Method, request.Path));

        // A commit hash never moves: its complete snapshot needs no request at all.
        hub.ClearRequests();
        Assert.Equal(first, ModelLocator.Resolve($"{RepoId}@{Commit}", Online()));
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void NewCommitOnTheBranch_IsFetched_ReusingTheBlobsAlreadyCached()
    {
        string old = ModelLocator.Resolve(RepoId, Online());
        const string newCommit = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        var newFiles = new Dictionary<string, byte[]>(files) { ["config.json"] = [.. files["config.json"], (byte)'\n'] };
        var repo = hub.AddRepo(RepoId, newFiles, newCommit);
        hub.ClearRequests();
        var warnings = new List<string>();

        string snapshot = ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add);

        Assert.Equal(Path.Combine(RepoDir, "snapshots", newCommit), snapshot);
        Assert.Equal(newCommit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
        Assert.Equal(newFiles["config.json"], File.ReadAllBytes(Path.Combine(snapshot, "config.json")));
        Assert.Equal(files[Shards[1]], File.ReadAllBytes(Path.Combine(snapshot, Shards[1])));
        Assert.Equal(files["config.json"], File.ReadAllBytes(Path.Combine(old, "config.json"))); // the old snapshot stays whole
        var gets = hub.Requests.Where(r => r.Method == "GET").Select(r => r.Path).ToList();
        Assert.Equal([$"/{RepoId}/resolve/{newCommit}/config.json"], gets); // the shards' blobs were linked, not fetched
        Assert.Empty(warnings);
    }

    [Fact]
    public void RefreshCancelled_LeavesTheRefOnTheCompleteSnapshot()
    {
        string cached = ModelLocator.Resolve(RepoId, Online());
        byte[] newShard = (byte[])files[Shards[0]].Clone();
        newShard[^1] ^= 0x01;
        hub.AddRepo(RepoId, new Dictionary<string, byte[]>(files) { [Shards[0]] = newShard }, "dddddddddddddddddddddddddddddddddddddddd");
        using var cts = new CancellationTokenSource();
        var cancelOnNewShard = new SyncProgress(p => { if (p.File == Shards[0]) cts.Cancel(); });

        Assert.ThrowsAny<OperationCanceledException>(() => ModelLocator.Resolve(RepoId, Online(), cancelOnNewShard, cts.Token));

        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
        Assert.Equal(cached, ModelLocator.Resolve(RepoId, Offline()));
    }

    [Fact]
    public void RevisionGoneFromTheHub_IsAnErrorEvenWithACompleteCache()
    {
        const string v1Commit = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
        var repo = hub.AddRepo(RepoId, files, Commit);
        repo.Commits[v1Commit] = files;
        repo.Branches["v1"] = v1Commit;
        ModelLocator.Resolve($"{RepoId}@v1", Online());
        repo.Branches.Remove("v1");
        var warnings = new List<string>();

        // As huggingface_hub raises RevisionNotFoundError: the branch was deleted, not the network lost.
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve($"{RepoId}@v1", Online(), warning: warnings.Add));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("revision 'v1' not found", e.Message);
        Assert.Empty(warnings);
        Assert.Equal(Path.Combine(RepoDir, "snapshots", v1Commit), ModelLocator.Resolve($"{RepoId}@v1", Offline()));

        // So does a branch whose new commit has no config.json.
        ModelLocator.Resolve(RepoId, Online());
        var noConfig = new Dictionary<string, byte[]>(files);
        noConfig.Remove("config.json");
        hub.AddRepo(RepoId, noConfig, "ffffffffffffffffffffffffffffffffffffffff");
        var missing = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add));
        Assert.Contains("has no config.json", missing.Message);
        Assert.Empty(warnings);
        hub.AddRepo(RepoId, files, Commit);

        // A bad HF_ENDPOINT stays a usage error too, cache or not.
        ModelLocator.Resolve(RepoId, Online());
        var badEndpoint = new HubOptions("ftp://example.org", null, cacheDir, Offline: false);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, badEndpoint)).Code);
    }

    [Fact]
    public void NoExistMarkersThatCannotBeWritten_CostARequestNotTheRun()
    {
        string cached = ModelLocator.Resolve(RepoId, Online());
        string noExist = Path.Combine(RepoDir, ".no_exist");
        Directory.Delete(noExist, recursive: true);
        File.WriteAllText(noExist, ""); // a file where the marker directory goes: creating it fails, as on a read-only cache
        hub.ClearRequests();
        var warnings = new List<string>();

        Assert.Equal(cached, ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add));
        Assert.Empty(warnings);
        Assert.Contains(hub.Requests, r => r.Method == "HEAD" && r.Path.EndsWith("/generation_config.json"));
        Assert.Contains(hub.Requests, r => r.Method == "HEAD" && r.Path.EndsWith("/model.safetensors"));
    }

    [Fact]
    public void HubUnreachableOrRefusing_UsesTheCachedSnapshotWithAWarning()
    {
        string cached = ModelLocator.Resolve(RepoId, Online());
        var warnings = new List<string>();

        int closedPort;
        using (var probe = new FakeHub()) closedPort = probe.Port; // connection refused
        var down = new HubOptions($"http://127.0.0.1:{closedPort}", null, cacheDir, Offline: false);
        Assert.Equal(cached, ModelLocator.Resolve(RepoId, down, warning: warnings.Add));
        string warning = Assert.Single(warnings);
        Assert.Contains($"could not update {RepoId}@main from the Hub", warning);
        Assert.Contains($"cannot reach 127.0.0.1:{closedPort}", warning);
        Assert.EndsWith($"using the cached snapshot {Commit}", warning);
        Assert.DoesNotContain('\n', warning);

        // An HTTP error (here the repository became gated) is no reason to refuse a model already cached either.
        hub.AddRepo(RepoId, files, Commit).Token = "hf_secret";
        Assert.Equal(cached, ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add));
        Assert.Contains("is gated or private", warnings[^1]);
    }

    [Fact]
    public void RefreshFailingHalfWay_KeepsTheRefOnTheCompleteSnapshot()
    {
        string cached = ModelLocator.Resolve(RepoId, Online());
        const string newCommit = "cccccccccccccccccccccccccccccccccccccccc";
        byte[] newShard = (byte[])files[Shards[1]].Clone();
        newShard[^1] ^= 0x01;
        hub.AddRepo(RepoId, new Dictionary<string, byte[]>(files) { [Shards[1]] = newShard }, newCommit);
        hub.CorruptCdnBodies = true; // the new shard fails its sha256 check
        var warnings = new List<string>();

        Assert.Equal(cached, ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add));
        Assert.Contains(Shards[1], Assert.Single(warnings));
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
        Assert.Equal(cached, ModelLocator.Resolve(RepoId, Offline()));

        // A cache that cannot take the new blob (disk full) is no reason either.
        hub.CorruptCdnBodies = false;
        if (File.Exists("/dev/full")) // Linux: writes to it fail with ENOSPC
        {
            string incomplete = Path.Combine(RepoDir, "blobs", FakeHub.Sha256(newShard) + ".incomplete");
            File.CreateSymbolicLink(incomplete, "/dev/full");
            Assert.Equal(cached, ModelLocator.Resolve(RepoId, Online(), warning: warnings.Add));
            Assert.Contains("disk full", warnings[^1]);
            Assert.Equal(Commit, File.ReadAllText(Path.Combine(RepoDir, "refs", "main")));
            File.Delete(incomplete);
        }

        // Once the Hub serves it intact, the next run moves to the new commit.
        hub.CorruptCdnBodies = false;
        Assert.Equal(Path.Combine(RepoDir, "snapshots", newCommit), ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(newShard, File.ReadAllBytes(Path.Combine(RepoDir, "snapshots", newCommit, Shards[1])));
    }
}
