using System.Globalization;
using SharpLens.Hub;

namespace SharpLens.Tests.Hub;

/// <summary>The Hub's two timeouts (HF_HUB_ETAG_TIMEOUT for HEAD requests, HF_HUB_DOWNLOAD_TIMEOUT for downloads), each
/// applied to its own requests.</summary>
public sealed class HubTimeoutTests : FakeHubTestBase
{
    [Fact]
    public void SlowHead_TimesOutAfterTheEtagTimeout_AndFallsBackWhenCached()
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE"); // messages print 0.3, not 0,3
        try
        {
            SlowHead();
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    void SlowHead()
    {
        hub.HeadDelay = TimeSpan.FromSeconds(5);
        var impatient = Online() with { EtagTimeout = TimeSpan.FromSeconds(0.3) };
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, impatient));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"no answer from 127.0.0.1:{hub.Port} within 0.3 s", e.Message);
        Assert.Contains("HF_HUB_ETAG_TIMEOUT", e.Message);

        hub.HeadDelay = TimeSpan.Zero;
        string cached = ModelLocator.Resolve(RepoId, Online());
        hub.HeadDelay = TimeSpan.FromSeconds(5);
        var warnings = new List<string>();
        Assert.Equal(cached, ModelLocator.Resolve(RepoId, impatient, warning: warnings.Add)); // a patient run would get an answer
        Assert.Contains("within 0.3 s", Assert.Single(warnings));
    }

    [Fact]
    public void SlowDownloads_AreBoundByTheDownloadTimeout_NotTheEtagTimeout()
    {
        // Margins wide enough for a loaded machine: HEADs have 2 s, each shard's GET takes 2.5 s.
        hub.CdnDelay = TimeSpan.FromSeconds(2.5);
        var quickHeads = Online() with { EtagTimeout = TimeSpan.FromSeconds(2) };
        Assert.Equal(Path.Combine(RepoDir, "snapshots", Commit), ModelLocator.Resolve(RepoId, quickHeads));

        string other = Path.Combine(cacheDir, "other");
        var impatient = new HubOptions(hub.Endpoint, null, other, Offline: false) { DownloadTimeout = TimeSpan.FromSeconds(1) };
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(RepoId, impatient));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains($"no answer from 127.0.0.1:{hub.Port} within 1 s", e.Message);
    }
}
