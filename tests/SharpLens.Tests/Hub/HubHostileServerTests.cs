using SharpLens.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary>
/// A Hub (or something posing as one) that lies about sizes, redirects out of http(s), sends unverifiable ETags or
/// terminal escapes, and a disk that fills up: each is one clear error, nothing past the announced size is written,
/// and no partial file is left holding the space.
/// </summary>
public sealed class HubHostileServerTests : FakeHubTestBase
{
    string BlobsDir => Path.Combine(RepoDir, "blobs");

    string[] IncompleteFiles() =>
        Directory.Exists(BlobsDir) ? Directory.GetFiles(BlobsDir, "*.incomplete") : [];

    [Fact]
    public void AnAnnouncedSizeBeyondTheFreeSpace_IsRefusedBeforeTheDownload_WithBothFigures()
    {
        const long petabyte = 1_000_000_000_000_000;
        hub.AnnouncedLfsSize = petabyte;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Output, e.Code);
        Assert.Contains("not enough disk space", e.Message);
        Assert.Contains($"({petabyte} bytes)", e.Message);
        long free = HubDownloader.FreeBytes(BlobsDir)!.Value;
        Assert.Matches(@"has [0-9.]+ [GM]B \(\d+ bytes\) free", e.Message);
        Assert.True(free < petabyte);
        Assert.DoesNotContain(hub.Requests, r => r.Method == "GET" && r.Path.StartsWith("/cdn-lfs/"));
        Assert.Empty(IncompleteFiles());
    }

    [Fact]
    public void ABodyLongerThanAnnounced_StopsAtTheAnnouncedSize()
    {
        hub.CdnExtraBytes = 3 << 20;
        var reports = new List<DownloadProgress>();
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online(), new SyncProgress(reports.Add)));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"sent more than the {files[Shards[0]].Length} bytes it announced for {Shards[0]}", e.Message);
        Assert.All(reports, r => Assert.True(r.Total is null || r.Received <= r.Total, $"{r.File}: {r.Received} of {r.Total}"));
        Assert.Empty(IncompleteFiles());
        Assert.False(File.Exists(Path.Combine(BlobsDir, FakeHub.Sha256(files[Shards[0]]))));
    }

    [SkippableFact]
    public void AFullDisk_RemovesTheIncompleteFile()
    {
        // /dev/full fails every write with ENOSPC: the partial file of the first shard is made to point at it.
        Skip.IfNot(File.Exists("/dev/full"), "needs /dev/full (Linux)");
        string partial = Path.Combine(BlobsDir, FakeHub.Sha256(files[Shards[0]]) + ".incomplete");
        Directory.CreateDirectory(BlobsDir);
        File.CreateSymbolicLink(partial, "/dev/full");

        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Output, e.Code);
        Assert.Contains("disk full", e.Message);
        Assert.Null(new FileInfo(partial).LinkTarget);
        Assert.False(File.Exists(partial));
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://127.0.0.1/model.safetensors")]
    public void ARedirectOutOfHttp_IsANetworkError(string target)
    {
        hub.LfsRedirect = target;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"to {target}, which is not an http(s) URL", e.Message);
    }

    [Theory]
    [InlineData("hf_abc\r\nX-Injected: 1")]
    [InlineData("hf_abc\ndef")]
    public void ATokenWithALineBreak_IsAUsageError_ThatDoesNotPrintIt(string token)
    {
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online(token)));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains("holds a line break at character 7", e.Message);
        Assert.DoesNotContain("hf_abc", e.Message);
        Assert.Empty(hub.Requests);
    }

    [Theory]
    [InlineData("abc-123")]
    [InlineData("0123456789abcdef0123456789abcdef")] // an md5, as a plain web server sends
    public void AnEtagThatIsNeitherASha256NorAGitBlobId_IsRefused(string etag)
    {
        hub.SmallFileEtag = etag;
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"the ETag '{etag}' for config.json", e.Message);
        Assert.Contains("neither a sha256 nor a git blob id", e.Message);
        Assert.False(Directory.Exists(Path.Combine(RepoDir, "snapshots")));
    }

    [Fact]
    public void ControlCharactersInAnErrorMessageHeader_AreEscaped()
    {
        hub.FailingFiles["config.json"] = (500, "boom \u001b]0;pwned\u0007\u001b[31mred\u009b");
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains(@"(boom \x1b]0;pwned\x07\x1b[31mred", e.Message);
        Assert.DoesNotContain('\u001b', e.Message);
        Assert.DoesNotContain('\u0007', e.Message);
    }

    [Fact]
    public void CredentialsInTheEndpoint_AreNotPrinted()
    {
        string endpoint = hub.Endpoint.Replace("http://", "http://alice:s3cret@");
        var options = new HubOptions(endpoint, null, cacheDir, Offline: false);
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("tiny-org/no-such-model", options));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("not found on http://***@127.0.0.1:", e.Message);
        Assert.DoesNotContain("s3cret", e.Message);
        Assert.DoesNotContain("alice", e.Message);
        Assert.DoesNotContain("s3cret", options.ToString());
    }

    [Theory]
    [InlineData("ftp://alice:s3cret@hub.example")]
    [InlineData("http://alice:s3cret@[not a host")]
    public void CredentialsInAMalformedEndpoint_AreNotPrinted(string endpoint)
    {
        var e = Assert.Throws<SharpLensException>(() =>
            ModelLocator.Resolve(RepoId, new HubOptions(endpoint, null, cacheDir, Offline: false)));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains("://***@", e.Message);
        Assert.DoesNotContain("s3cret", e.Message);
    }

    [Fact]
    public void AShardNameWithControlCharacters_IsRefused_AndPrintedEscaped()
    {
        var index = System.Text.Json.Nodes.JsonNode.Parse(files["model.safetensors.index.json"])!;
        index["weight_map"]!["model.norm.weight"] = "evil\u001b[2J.safetensors";
        files["model.safetensors.index.json"] = System.Text.Encoding.UTF8.GetBytes(index.ToJsonString());
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, Online()));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains(@"names an invalid shard file 'evil\x1b[2J.safetensors'", e.Message);
        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains("evil"));
    }
}
