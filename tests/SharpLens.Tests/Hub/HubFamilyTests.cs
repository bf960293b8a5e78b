using SharpLens.Hub;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary>
/// Each family's real Hub id (issue 21) served by the fake Hub with that family's fixture in the repository's file
/// layout (single <c>model.safetensors</c> or shards with their index, tokenizer.json, plus files a real repository
/// ships that SharpLens does not need: README.md, Gemma's and Mistral's <c>tokenizer.model</c>): exactly the files a
/// model needs are downloaded, gated repositories (Gemma, Mistral) need the token, and the snapshot loads and
/// reproduces the fixture's reference tokens (with the family's BOS) and logits.
/// </summary>
public sealed class HubFamilyTests : FakeHubTestBase
{
    static readonly string[] ModelFiles = ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json"];

    [Theory]
    [InlineData("openai-community/gpt2", "tiny-gpt2", false)]
    [InlineData("EleutherAI/pythia-410m", "tiny-gpt-neox", false)]
    [InlineData("google/gemma-2-2b", "tiny-gemma2", true)]
    [InlineData("mistralai/Mistral-7B-v0.1", "tiny-mistral", true)]
    [InlineData("Qwen/Qwen3-0.6B", "tiny-qwen3", false)]
    [InlineData("microsoft/Phi-3-mini-4k-instruct", "tiny-phi3", false)]
    public void FamilyHubId_DownloadsWhatTheModelNeeds_AndLoads(string id, string fixture, bool gated)
    {
        string dir = Fixtures.Dir(fixture);
        var needed = Directory.GetFiles(dir).Select(f => Path.GetFileName(f))
            .Where(n => ModelFiles.Contains(n) || n.EndsWith(".safetensors", StringComparison.Ordinal))
            .ToDictionary(n => n, n => File.ReadAllBytes(Path.Combine(dir, n)));
        var repoFiles = new Dictionary<string, byte[]>(needed) { ["README.md"] = File.ReadAllBytes(Path.Combine(dir, "README.md")) };
        if (gated) repoFiles["tokenizer.model"] = [0x0a, 0x0b, 0x0c];
        var repo = hub.AddRepo(id, repoFiles, Commit);
        if (gated)
        {
            repo.Token = "hf_secret";
            var denied = Assert.Throws<SharpLensException>(() => ModelLocator.Resolve(id, Online()));
            Assert.Contains("HF_TOKEN", denied.Message);
        }

        string snapshot = ModelLocator.Resolve(id, Online(gated ? "hf_secret" : null));

        Assert.Equal(needed.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(snapshot).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(hub.Requests, r => r.Method == "GET" && (r.Path.EndsWith("/tokenizer.model") || r.Path.EndsWith("/README.md")));
        using var model = HookedTransformer.Load(snapshot);
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        int[] tokens = reference["tokens"]!["clean"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(tokens, model.ToTokens(reference["prompts"]!["clean"]!.GetValue<string>()));
        var act = Fixtures.Json(fixture, "reference_activations.json");
        var lastRow = act["logits"]!.AsArray()[^1]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        var logits = model.Run([tokens]);
        int vocab = lastRow.Length, last = tokens.Length - 1;
        double scale = lastRow.Max(Math.Abs);
        for (int v = 0; v < vocab; v++)
            Assert.True(Math.Abs(logits.Data[last * vocab + v] - lastRow[v]) <= 1e-3 * scale, $"logit {v}");
    }
}
