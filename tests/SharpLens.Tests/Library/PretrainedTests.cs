using SharpLens.Model;
using SharpLens.Tests.Hub;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>FromPretrained by directory and by Hub id; the model's own tokenizer (ToTokens, ToStrTokens, ToSingleToken, Decode).</summary>
public class PretrainedTests : FakeHubTestBase
{
    static readonly System.Text.Json.Nodes.JsonNode Reference = Fixtures.Json("tiny-qwen2", "reference_experiments.json");
    static string Prompt(string run) => Reference["prompts"]![run]!.GetValue<string>();
    static int[] Ids(string run) => Reference["tokens"]![run]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();

    [Fact]
    public void FromPretrained_ADirectory_TokenizesAsTheReference()
    {
        using var m = HookedTransformer.FromPretrained(Fixtures.Dir("tiny-qwen2"));
        Assert.False(m.DefaultPrependBos);   // Qwen tokenizers add no BOS
        Assert.Equal(Ids("clean"), m.ToTokens(Prompt("clean")));
        Assert.Equal(Ids("corrupted"), m.ToTokens(Prompt("corrupted")));
        Assert.Equal(Prompt("clean"), m.Decode(m.ToTokens(Prompt("clean"))));
        var str = m.ToStrTokens(Prompt("clean"));
        Assert.Equal(Ids("clean").Length, str.Length);
        Assert.Equal(Prompt("clean"), string.Concat(str));
        Assert.Equal(Reference["answer_tokens"]!["clean"]!.GetValue<int>(), m.ToSingleToken(Reference["answers"]!["clean"]!.GetValue<string>()));
        // the text overload runs exactly the token overload
        Assert.Equal(m.Run([Ids("clean")]).Data, m.Run(Prompt("clean")).Data);
    }

    [Fact]
    public void ToTokens_PrependBosOverridesTheDefault()
    {
        using var m = HookedTransformer.FromPretrained(Fixtures.Dir("tiny-qwen2"));
        // tokenizer_config.json: bos_token null, eos_token <|im_end|>: TransformerLens' rule uses EOS as BOS
        int eos = m.ToSingleToken("<|im_end|>");
        Assert.Equal(eos, m.EosTokenId);
        Assert.Equal(eos, m.BosTokenId);
        Assert.Equal([eos, .. Ids("clean")], m.ToTokens(Prompt("clean"), prependBos: true));
        Assert.Equal(Ids("clean"), m.ToTokens(Prompt("clean"), prependBos: false));
        Assert.Equal("<|im_end|>", m.ToStrTokens(Prompt("clean"), prependBos: true)[0]);
    }

    [Fact]
    public void ToSingleToken_OfSeveralTokens_ListsThePieces()
    {
        using var m = HookedTransformer.FromPretrained(Fixtures.Dir("tiny-qwen2"));
        string text = " Mango Peach";
        var ids = m.ToTokens(text);
        Assert.True(ids.Length > 1);
        var e = Assert.Throws<SharpLensException>(() => m.ToSingleToken(text));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains($"{ids.Length} tokens", e.Message);
        foreach (int id in ids) Assert.Contains($"\"{m.ToStrTokens([id])[0]}\" ({id})", e.Message);
        Assert.DoesNotContain("--", e.Message);   // the library knows nothing of CLI flags
    }

    [Fact]
    public void FromPretrained_NeitherDirectoryNorHubId_IsAUsageErrorWithoutFlags()
    {
        var e = Assert.Throws<SharpLensException>(() => HookedTransformer.FromPretrained("no/such/dir/\u001b[31m"));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.DoesNotContain("--model", e.Message);
        Assert.DoesNotContain("\u001b", e.Message, StringComparison.Ordinal);   // escaped before it can reach a terminal
    }

    [Fact]
    public void FromPretrained_AHubId_DownloadsThroughTheCacheAndRunsAsTheDirectory()
    {
        using var fromHub = HookedTransformer.FromPretrained(RepoId, Online());
        Assert.StartsWith(cacheDir, fromHub.Directory);
        using var local = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        Assert.Equal(local.Run([Ids("clean")]).Data, fromHub.Run(Prompt("clean")).Data);
        // a second load is served from the cache, offline
        using var offline = HookedTransformer.FromPretrained(RepoId, Offline());
        Assert.Equal(fromHub.Directory, offline.Directory);
    }
}
