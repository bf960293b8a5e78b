using System.Text.Json.Nodes;
using SharpLens.Cli.Commands;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>`run --cache`, `generate`, the embedded default model for tokenize/run/generate, `--heads L1H0` and
/// case-insensitive option values, as a user runs them.</summary>
public class CliLibraryCommandTests
{
    static IEnumerable<double> Flatten(JsonNode? n) => n switch
    {
        JsonArray a => a.SelectMany(Flatten),
        null => [double.NegativeInfinity],
        _ => [n.GetValue<double>()],
    };

    [Fact]
    public void RunCache_Json_PrintsTheActivationsAsTheReferenceHasThem()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_activations.json");
        string[] hooks = ["blocks.1.attn.hook_pattern", "blocks.2.attn.hook_z", "ln_final.hook_scale"];
        var r = CliRunner.Run("run", "--model", Fixtures.Dir("tiny-qwen2"), "--text", reference["prompt"]!.GetValue<string>(),
            "--cache", string.Join(",", hooks), "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var cache = JsonNode.Parse(r.Stdout)!["cache"]!.AsObject();
        Assert.Equal(hooks.Order(), cache.Select(kv => kv.Key).Order());
        foreach (var hook in hooks)
        {
            var expected = reference["activations"]![hook]!;   // the same {shape, data} form
            Assert.Equal(expected["shape"]!.ToJsonString(), cache[hook]!["shape"]!.ToJsonString());
            var e = Flatten(expected["data"]).ToArray();
            var a = Flatten(cache[hook]!["data"]).ToArray();
            Assert.Equal(e.Length, a.Length);
            double scale = e.Max(Math.Abs);
            for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= Math.Max(1e-3, 1e-4 * scale), $"{hook}[{i}]: {e[i]} vs {a[i]}");
        }
    }

    [Fact]
    public void RunCache_MaskedScoresAreNull_AndTheTableShowsShapes()
    {
        var r = CliRunner.Run("run", "--text", "Peach Orange", "--cache", "blocks.0.attn.hook_attn_scores", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var data = JsonNode.Parse(r.Stdout)!["cache"]!["blocks.0.attn.hook_attn_scores"]!["data"]!.AsArray();
        Assert.Null(data[1]);                                   // head 0, query 0, key 1: masked
        Assert.NotNull(data[0]);
        var table = CliRunner.Run("run", "--text", "Peach Orange", "--cache", "blocks.0.hook_resid_pre");
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("blocks.0.hook_resid_pre", table.Stdout);
        using var m = HookedTransformer.FromPretrained(Fixtures.DemoModelDir);
        Assert.Contains($"[{m.ToTokens("Peach Orange").Length}, {m.Config.DModel}]", table.Stdout);
    }

    [Fact]
    public void RunCache_UnknownHook_ExitsTwoWithTheClosestNames()
    {
        var r = CliRunner.Run("run", "--text", "Peach", "--cache", "blocks.1.attn.hook_patern", "--json");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown hook name \"blocks.1.attn.hook_patern\"", r.Stderr);
        Assert.Contains("blocks.1.attn.hook_pattern", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void TokenizeRunAndGenerate_DefaultToTheEmbeddedModel()
    {
        var golden = Fixtures.Json("setcomp-demo", "golden_tokens.json")[PromptSet.SeedClean]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        var tok = CliRunner.Run("tokenize", "--text", PromptSet.SeedClean, "--json");
        Assert.True(tok.ExitCode == 0, tok.Stderr);
        Assert.Equal(golden, JsonNode.Parse(tok.Stdout)!["ids"]!.AsArray().Select(x => x!.GetValue<int>()));
        var run = CliRunner.Run("run", "--text", PromptSet.SeedClean, "--top", "1", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var m = HookedTransformer.FromPretrained(Fixtures.DemoModelDir);
        Assert.Equal(m.ToSingleToken(PromptSet.SeedAnswer), JsonNode.Parse(run.Stdout)!["top"]![0]!["id"]!.GetValue<int>());
        var gen = CliRunner.Run("generate", "--text", PromptSet.SeedClean, "--max-new-tokens", "5", "--json");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var o = JsonNode.Parse(gen.Stdout)!;
        var expected = m.Generate(golden, 5);
        Assert.Equal(golden, o["ids"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal(expected[golden.Length..], o["new_ids"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal(PromptSet.SeedClean + m.Decode(expected[golden.Length..]), o["text"]!.GetValue<string>());
        Assert.Equal(PromptSet.SeedAnswer, o["new_tokens"]![0]!.GetValue<string>());
    }

    [Fact]
    public void Generate_PlainTextSampledWithASeedIsReproducible_AndBadSettingsExitTwo()
    {
        string[] args = ["generate", "--text", "Man has four fruits,", "--max-new-tokens", "6", "--temperature", "1.3", "--top-k", "20", "--top-p", "0.9", "--seed", "4"];
        var a = CliRunner.Run(args);
        Assert.True(a.ExitCode == 0, a.Stderr);
        Assert.StartsWith("Man has four fruits,", a.Stdout);
        Assert.Equal(a.Stdout, CliRunner.Run(args).Stdout);
        foreach (var (opt, value) in new[] { ("--top-p", "0"), ("--top-k", "0"), ("--temperature", "-1"), ("--max-new-tokens", "-2") })
        {
            var bad = CliRunner.Run("generate", "--text", "Peach", opt, value);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains(opt, bad.Stderr);
        }
    }

    [Fact]
    public void Generate_PrintsControlCharactersEscaped()
    {
        Assert.Equal("a\\u001b[2Jb\nc\td", GenerateCommand.Printable("a\u001b[2Jb\nc\td"));
    }

    [Fact]
    public void Heads_AcceptTheL1H0Form_AndProcessingAnyCase()
    {
        Assert.Equal([(1, 0), (12, 4), (3, 2)], StudyCommand.ParseHeads("L1H0, 12.4,l3h2")!);
        var e = Assert.Throws<SharpLensException>(() => StudyCommand.ParseHeads("L1"));
        Assert.Contains("L12H4", e.Message);
        string cwd = Fixtures.TempDir("study-case");
        var r = CliRunner.RunIn(cwd, null, "study", "--model", Fixtures.Dir("tiny-qwen2"), "--processing", "TL", "--heads", "L0H2,L1H1",
            "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "o", "results.json")))!;
        Assert.Equal("tl", results["processing"]!.GetValue<string>());
        Assert.Equal("[[0,2],[1,1]]", results["top_heads"]!.ToJsonString());
        var bad = CliRunner.Run("study", "--processing", "xx");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("hf, tl", bad.Stderr);
    }
}
