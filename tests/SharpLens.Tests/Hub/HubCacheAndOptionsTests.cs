using System.Security.Cryptography;
using SharpLens.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary>Model argument parsing, environment variables, and caches written by Python's huggingface_hub.</summary>
public sealed class HubCacheAndOptionsTests
{
    [Theory]
    [InlineData("Qwen/Qwen1.5-1.8B-Chat", true)]
    [InlineData("Qwen/Qwen1.5-1.8B-Chat@main", true)]
    [InlineData("org/name@refs/pr/1", true)]
    [InlineData("org/name@0123456789abcdef0123456789abcdef01234567", true)]
    [InlineData("meta-llama/Llama_3.2-1B", true)]
    [InlineData("gpt2", false)]
    [InlineData("a/b/c", false)]
    [InlineData("/abs/path", false)]
    [InlineData("./rel/path", false)]
    [InlineData("org/na--me", false)]
    [InlineData("org/-name", false)]
    [InlineData("org/name@", false)]
    [InlineData("org/name@../../etc", false)]
    [InlineData("org\\name", false)]
    [InlineData("", false)]
    public void LooksLikeHubId_FollowsTheHubNamingRules(string model, bool expected) =>
        Assert.Equal(expected, ModelLocator.LooksLikeHubId(model));

    [Fact]
    public void ExistingDirectory_IsReturnedAsIs()
    {
        string dir = Fixtures.Dir("tiny-qwen2");
        var options = new HubOptions(null, null, Fixtures.TempDir("hub-unused"), Offline: true);
        Assert.Equal(Path.GetFullPath(dir), ModelLocator.Resolve(dir, options));
    }

    [Fact]
    public void NeitherDirectoryNorHubId_IsAUsageError()
    {
        var options = new HubOptions(null, null, Fixtures.TempDir("hub-unused"), Offline: true);
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("/no/such/dir", options));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains("'/no/such/dir' is neither an existing directory nor a Hugging Face model id", e.Message);
    }

    /// <summary>A cache laid out exactly as huggingface_hub writes it (relative links, refs/main without newline,
    /// an unrelated older snapshot, a leftover .incomplete and .locks) is used offline as is.</summary>
    [Fact]
    public void CacheWrittenByPython_IsUsedOffline()
    {
        string cache = Fixtures.TempDir("hub-python");
        string repo = Path.Combine(cache, "models--Qwen--Qwen1.5-1.8B-Chat");
        const string commit = "e482ee3f73c375a627a16fdf66fd0c8279743ca6";
        const string olderCommit = "0000000000000000000000000000000000000001";
        string fixture = Fixtures.Dir("tiny-qwen2");
        string[] names = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", commit));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", olderCommit));
        Directory.CreateDirectory(Path.Combine(cache, ".locks", "models--Qwen--Qwen1.5-1.8B-Chat"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        foreach (string name in names)
        {
            byte[] content = name == "generation_config.json" ? "{}"u8.ToArray() : File.ReadAllBytes(Path.Combine(fixture, name));
            string etag = Convert.ToHexStringLower(SHA256.HashData(content)); // any blob name works
            File.WriteAllBytes(Path.Combine(repo, "blobs", etag), content);
            File.CreateSymbolicLink(Path.Combine(repo, "snapshots", commit, name), $"../../blobs/{etag}");
        }
        File.WriteAllBytes(Path.Combine(repo, "blobs", "f00d.incomplete"), new byte[10]);
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", olderCommit, "config.json"), "../../blobs/gone");

        var options = new HubOptions("http://127.0.0.1:9", null, cache, Offline: true);
        string snapshot = ModelLocator.Resolve("Qwen/Qwen1.5-1.8B-Chat", options);
        Assert.Equal(Path.Combine(repo, "snapshots", commit), snapshot);
        Assert.Equal(File.ReadAllBytes(Path.Combine(fixture, "config.json")), File.ReadAllBytes(Path.Combine(snapshot, "config.json")));

        // Online with the endpoint refusing connections: the complete snapshot is used, with a warning.
        var warnings = new List<string>();
        Assert.Equal(snapshot, ModelLocator.Resolve("Qwen/Qwen1.5-1.8B-Chat", options with { Offline = false }, warning: warnings.Add));
        Assert.Contains("cannot reach 127.0.0.1:9", Assert.Single(warnings));
        Assert.Equal(snapshot, ModelLocator.Resolve($"Qwen/Qwen1.5-1.8B-Chat@{commit}", options));

        // The older snapshot's link is broken: asking for it offline names what is missing.
        var e = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve($"Qwen/Qwen1.5-1.8B-Chat@{olderCommit}", options));
        Assert.Equal(ExitCode.Network, e.Code);
        Assert.Contains("lacks config.json, tokenizer.json, model.safetensors", e.Message);

        // A link loop in a snapshot counts as a missing file, not as an internal error.
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", olderCommit, "tokenizer.json"), "tokenizer.json");
        var loop = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve($"Qwen/Qwen1.5-1.8B-Chat@{olderCommit}", options));
        Assert.Equal(ExitCode.Network, loop.Code);
        Assert.Contains("tokenizer.json", loop.Message);

        // A ref must hold a commit hash: anything else (a path) is refused, not used as a directory name.
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "../../../../etc");
        var badRef = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve("Qwen/Qwen1.5-1.8B-Chat", options));
        Assert.Equal(ExitCode.Checkpoint, badRef.Code);
        Assert.Contains("does not hold a commit hash", badRef.Message);
    }

    static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return name => map.GetValueOrDefault(name);
    }

    [Fact]
    public void CacheDir_FollowsHuggingfaceHubPrecedence()
    {
        var all = new (string, string)[]
        {
            ("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg"), ("HF_HOME", "/hf-home"),
            ("HUGGINGFACE_HUB_CACHE", "/legacy-cache"), ("HF_HUB_CACHE", "/hub-cache"),
        };
        Assert.Equal("/hub-cache", HubOptions.FromEnvironment(Env(all)).CacheDir);
        Assert.Equal("/legacy-cache", HubOptions.FromEnvironment(Env(all[..4])).CacheDir);
        Assert.Equal(Path.Combine("/hf-home", "hub"), HubOptions.FromEnvironment(Env(all[..3])).CacheDir);
        Assert.Equal(Path.Combine("/xdg", "huggingface", "hub"), HubOptions.FromEnvironment(Env(all[..2])).CacheDir);
        Assert.Equal(Path.Combine("/home/u", ".cache", "huggingface", "hub"), HubOptions.FromEnvironment(Env(all[..1])).CacheDir);
        Assert.Equal(Path.Combine("/home/u", "models"), HubOptions.FromEnvironment(Env(("HOME", "/home/u"), ("HF_HUB_CACHE", "~/models"))).CacheDir);
        Assert.Equal(Path.Combine("/home/u", ".cache", "huggingface", "hub"),
            HubOptions.FromEnvironment(Env(("HOME", "/home/u"), ("HF_HUB_CACHE", ""))).CacheDir); // empty = unset
    }

    [Fact]
    public void Timeouts_ComeFromHuggingfaceHubsVariables()
    {
        var defaults = HubOptions.FromEnvironment(Env(("HOME", "/home/u")));
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.EtagTimeout);
        Assert.Null(defaults.DownloadTimeout);

        var set = HubOptions.FromEnvironment(Env(("HOME", "/home/u"), ("HF_HUB_ETAG_TIMEOUT", "2.5"), ("HF_HUB_DOWNLOAD_TIMEOUT", "120")));
        Assert.Equal(TimeSpan.FromSeconds(2.5), set.EtagTimeout);
        Assert.Equal(TimeSpan.FromSeconds(120), set.DownloadTimeout);

        // Library callers get the same check.
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => defaults with { EtagTimeout = TimeSpan.Zero }).Code);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => defaults with { DownloadTimeout = TimeSpan.FromSeconds(-1) }).Code);

        foreach (string bad in new[] { "ten", "0", "-1", "NaN", "1e9" })
        {
            var e = Assert.Throws<SharpLensException>(() => HubOptions.FromEnvironment(Env(("HOME", "/home/u"), ("HF_HUB_ETAG_TIMEOUT", bad))));
            Assert.Equal(ExitCode.Usage, e.Code);
            Assert.Contains($"HF_HUB_ETAG_TIMEOUT='{bad}'", e.Message);
        }
    }

    [Fact]
    public void EndpointTokenAndOffline_ComeFromTheEnvironment()
    {
        string home = Fixtures.TempDir("hub-home");
        var defaults = HubOptions.FromEnvironment(Env(("HOME", home)));
        Assert.Equal("https://huggingface.co", defaults.EffectiveEndpoint);
        Assert.Null(defaults.Token);
        Assert.False(defaults.Offline);

        var set = HubOptions.FromEnvironment(Env(("HOME", home), ("HF_ENDPOINT", "http://127.0.0.1:8080/"),
            ("HF_TOKEN", " hf_abc "), ("HF_HUB_OFFLINE", "1")));
        Assert.Equal("http://127.0.0.1:8080", set.EffectiveEndpoint);
        Assert.Equal("hf_abc", set.Token);
        Assert.True(set.Offline);
        Assert.DoesNotContain("hf_abc", set.ToString());

        foreach (string yes in new[] { "1", "ON", "yes", "True" })
            Assert.True(HubOptions.FromEnvironment(Env(("HOME", home), ("HF_HUB_OFFLINE", yes))).Offline);
        foreach (string no in new[] { "0", "false", "" })
            Assert.False(HubOptions.FromEnvironment(Env(("HOME", home), ("HF_HUB_OFFLINE", no))).Offline);
        Assert.True(HubOptions.FromEnvironment(Env(("HOME", home), ("TRANSFORMERS_OFFLINE", "1"))).Offline);

        // `huggingface-cli login` stores the token in HF_HOME/token.
        string hfHome = Path.Combine(home, "hf");
        Directory.CreateDirectory(hfHome);
        File.WriteAllText(Path.Combine(hfHome, "token"), "hf_from_login\n");
        Assert.Equal("hf_from_login", HubOptions.FromEnvironment(Env(("HOME", home), ("HF_HOME", hfHome))).Token);
        Assert.Equal("hf_env", HubOptions.FromEnvironment(Env(("HOME", home), ("HF_HOME", hfHome), ("HF_TOKEN", "hf_env"))).Token);
    }
}
