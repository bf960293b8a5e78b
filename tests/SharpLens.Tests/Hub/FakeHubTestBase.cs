using SharpLens.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary>What the tests against <see cref="FakeHub"/> share: a loopback Hub serving the tiny-qwen2 checkpoint as
/// <see cref="RepoId"/> at <see cref="Commit"/> on <c>main</c>, and an empty cache directory of their own.</summary>
public abstract class FakeHubTestBase : IDisposable
{
    protected const string RepoId = "tiny-org/tiny-qwen2";
    protected const string Commit = "1f2e3d4c5b6a79880123456789abcdef01234567";
    protected static readonly string[] Shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

    protected readonly FakeHub hub = new();
    protected readonly Dictionary<string, byte[]> files = FakeHub.TinyQwenFiles();
    protected readonly string cacheDir = Fixtures.TempDir("hub-cache");

    protected FakeHubTestBase() => hub.AddRepo(RepoId, files, Commit);

    public void Dispose()
    {
        hub.Dispose();
        GC.SuppressFinalize(this);
    }

    protected HubOptions Online(string? token = null) => new(hub.Endpoint, token, cacheDir, Offline: false);
    protected HubOptions Offline() => new(hub.Endpoint, null, cacheDir, Offline: true);
    protected string RepoDir => Path.Combine(cacheDir, "models--tiny-org--tiny-qwen2");

    protected static string Etag(string file, byte[] content) =>
        file.EndsWith(".safetensors") ? FakeHub.Sha256(content) : FakeHub.GitBlobId(content);

    /// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool and race the assertions).</summary>
    protected sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
