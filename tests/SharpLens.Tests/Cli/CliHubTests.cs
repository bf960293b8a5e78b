using System.Text.Json.Nodes;
using SharpLens.Tests.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary><c>--model org/name</c> through the CLI: downloaded from a loopback Hub into the shared cache, then used offline
/// and with the Hub unreachable.</summary>
public class CliHubTests
{
    [Fact]
    public void RunWithAHubIdDownloadsThenWorksOffline()
    {
        using var hub = new FakeHub();
        hub.AddRepo("tiny/qwen2", FakeHub.TinyQwenFiles(), new string('a', 40));
        string cache = Fixtures.TempDir("hfcache");
        var env = new Dictionary<string, string> { ["HF_ENDPOINT"] = hub.Endpoint, ["HF_HUB_CACHE"] = cache };
        var online = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "run", "--model", "tiny/qwen2", "--text", "Man has four fruits", "--json");
        Assert.True(online.ExitCode == 0, online.Stderr);
        Assert.True(Directory.Exists(Path.Combine(cache, "models--tiny--qwen2", "snapshots", new string('a', 40))));

        env["HF_HUB_OFFLINE"] = "1";
        env["HF_ENDPOINT"] = "http://127.0.0.1:9";   // nothing listens there: offline must not try
        var offline = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "run", "--model", "tiny/qwen2", "--text", "Man has four fruits", "--json");
        Assert.True(offline.ExitCode == 0, offline.Stderr);
        Assert.Equal(JsonNode.Parse(online.Stdout)!["logits_last"]!.ToJsonString(), JsonNode.Parse(offline.Stdout)!["logits_last"]!.ToJsonString());

        // Online but the Hub unreachable: the cached snapshot, and one warning line that says so.
        env.Remove("HF_HUB_OFFLINE");
        var unreachable = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "run", "--model", "tiny/qwen2", "--text", "Man has four fruits", "--json");
        Assert.True(unreachable.ExitCode == 0, unreachable.Stderr);
        Assert.Equal(online.Stdout, unreachable.Stdout);
        string warning = Assert.Single(unreachable.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("warning:"));
        Assert.Contains("could not update tiny/qwen2@main from the Hub (cannot reach 127.0.0.1:9", warning);
    }

    [Fact]
    public void ABadTimeoutVariable_FailsAHubIdInOneLine_ButNotALocalDirectory()
    {
        var env = new Dictionary<string, string>
        {
            ["HF_HUB_ETAG_TIMEOUT"] = "soon", ["HF_HUB_CACHE"] = Fixtures.TempDir("hfcache"),
            ["HF_ENDPOINT"] = "http://127.0.0.1:9", // nothing listens: if the check broke, no real Hub is asked
        };
        var hubId = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "Qwen/Qwen1.5-1.8B-Chat", "--text", "hi");
        Assert.Equal(2, hubId.ExitCode);
        Assert.Equal("error: HF_HUB_ETAG_TIMEOUT='soon' is not a number of seconds between 0 and 86400", hubId.Stderr.Trim());

        var local = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", Fixtures.Dir("tiny-qwen2"), "--text", "hi");
        Assert.True(local.ExitCode == 0, local.Stderr);
    }

    [Fact]
    public void OfflineWithNothingCachedSaysWhatIsMissing()
    {
        var env = new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = Fixtures.TempDir("hfcache") };
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "Qwen/Qwen1.5-1.8B-Chat", "--text", "hi");
        Assert.Equal(6, r.ExitCode);
        Assert.Contains("Qwen/Qwen1.5-1.8B-Chat", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
