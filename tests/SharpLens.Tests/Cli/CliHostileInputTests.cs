using SharpLens.Tests.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>
/// The CLI facing a lying Hub, a hostile checkpoint or tokenizer: one line on stderr, the category's exit code, and
/// nothing from a file or a server reaching the terminal unescaped.
/// </summary>
public class CliHostileInputTests
{
    static Dictionary<string, string> HubEnv(FakeHub hub) =>
        new() { ["HF_ENDPOINT"] = hub.Endpoint, ["HF_HUB_CACHE"] = Fixtures.TempDir("hfcache") };

    static void AssertOneLineError(CliRunner.Result r, int code)
    {
        Assert.True(r.ExitCode == code, $"exit {r.ExitCode}, expected {code}; stderr: {r.Stderr}");
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));
    }

    [Fact]
    public void ADownloadLongerThanAnnounced_IsANetworkError_NotAProgressBarCrash()
    {
        using var hub = new FakeHub { CdnExtraBytes = 3 << 20 };
        hub.AddRepo("tiny/qwen2", FakeHub.TinyQwenFiles(), new string('a', 40));
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), HubEnv(hub), "tokenize", "--model", "tiny/qwen2", "--text", "hi");
        AssertOneLineError(r, 6);
        Assert.Contains("sent more than the", r.Stderr);
    }

    [Fact]
    public void AnHfTokenWithALineBreak_IsAUsageError()
    {
        using var hub = new FakeHub();
        hub.AddRepo("tiny/qwen2", FakeHub.TinyQwenFiles(), new string('a', 40));
        var env = HubEnv(hub);
        env["HF_TOKEN"] = "hf_secret\r\nX-Injected: yes";
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "tiny/qwen2", "--text", "hi");
        AssertOneLineError(r, 2);
        Assert.Contains("holds a line break", r.Stderr);
        Assert.DoesNotContain("hf_secret", r.Stderr);
        Assert.Empty(hub.Requests);
    }

    [Fact]
    public void CredentialsInHfEndpoint_AreNotPrinted()
    {
        using var hub = new FakeHub();
        var env = HubEnv(hub);
        env["HF_ENDPOINT"] = hub.Endpoint.Replace("http://", "http://alice:s3cret@");
        var r = CliRunner.RunIn(Fixtures.TempDir("cwd"), env, "tokenize", "--model", "tiny/missing", "--text", "hi");
        AssertOneLineError(r, 6);
        Assert.Contains("http://***@127.0.0.1", r.Stderr);
        Assert.DoesNotContain("s3cret", r.Stderr);
    }
}
