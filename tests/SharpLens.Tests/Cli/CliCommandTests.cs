using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>The commands of issues 2 and 3 as a user runs them.</summary>
public class CliCommandTests
{
    [Fact]
    public void TheCommandCompilesLoopsOptimizedAtOnce()
    {
        // Loading a 151,936-token tokenizer runs 10^5-iteration loops in code called once; unoptimized first
        // compilation of such loops cost 0.6–1 s of a `run` on the 1.8B-shaped model (measured; docs/benchmarks.md).
        var config = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(CliProcess.Dll, ".runtimeconfig.json")))!;
        Assert.False(config["runtimeOptions"]!["configProperties"]!["System.Runtime.TieredCompilation.QuickJitForLoops"]!.GetValue<bool>());
    }

    [Fact]
    public void TokenizeJsonGivesIdsAndTokenTexts()
    {
        var r = CliRunner.Run("tokenize", "--model", Fixtures.Dir("qwen1.5-tokenizer"), "--text", PromptSet.SeedClean, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(r.Stdout)!;
        var golden = Fixtures.Json("qwen1.5-tokenizer", "golden_tokens.json")[PromptSet.SeedClean]!.AsArray().Select(x => x!.GetValue<int>());
        Assert.Equal(golden, o["ids"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal(25, o["tokens"]!.AsArray().Count);
        Assert.Equal(" Mango", o["tokens"]![11]!.GetValue<string>());
    }

    [Fact]
    public void TokenizeTableShowsPositionsTokensAndIds()
    {
        var r = CliRunner.Run("tokenize", "--model", Fixtures.Dir("qwen-tokenizer"), "--text", " Mango and 1");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("90863", r.Stdout);
        Assert.Contains("' Mango'", r.Stdout);
    }

    /// <summary>A SentencePiece tokenizer's BOS (its TemplateProcessing) is shown, and left out with --no-special-tokens.</summary>
    [Fact]
    public void TokenizeShowsTheBosThePostProcessorAdds()
    {
        string dir = Fixtures.Dir("tiny-mistral");
        var golden = Fixtures.Json("tiny-mistral", "golden_tokens_with_special.json")[PromptSet.SeedClean]!.AsArray().Select(x => x!.GetValue<int>());
        var r = CliRunner.Run("tokenize", "--model", dir, "--text", PromptSet.SeedClean, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(r.Stdout)!;
        Assert.Equal(golden, o["ids"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal("<s>", o["tokens"]![0]!.GetValue<string>());
        r = CliRunner.Run("tokenize", "--model", dir, "--text", PromptSet.SeedClean, "--json", "--no-special-tokens");
        Assert.Equal(golden.Skip(1), JsonNode.Parse(r.Stdout)!["ids"]!.AsArray().Select(x => x!.GetValue<int>()));
    }

    [Fact]
    public void RunJsonMatchesReferenceLogits()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_activations.json");
        var r = CliRunner.Run("run", "--model", Fixtures.Dir("tiny-qwen2"), "--text", reference["prompt"]!.GetValue<string>(), "--top", "5", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(r.Stdout)!;
        var expected = reference["logits"]!.AsArray()[^1]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        var actual = o["logits_last"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        Assert.Equal(576, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-3, $"logit {i}");
        var top = o["top"]!.AsArray();
        Assert.Equal(5, top.Count);
        int best = Array.IndexOf(expected, expected.Max());
        Assert.Equal(best, top[0]!["id"]!.GetValue<int>());
        double p0 = top[0]!["prob"]!.GetValue<double>();
        Assert.InRange(p0, 0, 1);
        Assert.True(top[1]!["logit"]!.GetValue<double>() <= top[0]!["logit"]!.GetValue<double>());
    }

    [Fact]
    public void StudyOnTheEmbeddedDefaultWritesResultsMatchingTheReference()
    {
        string cwd = Fixtures.TempDir("study");
        var r = CliRunner.RunIn(cwd, null, "study", "--control", Fixtures.Json("setcomp-demo", "reference_experiments.json")["prompts"]!["unrelated"]!.GetValue<string>());
        Assert.True(r.ExitCode == 0, r.Stderr);
        string path = Path.Combine(cwd, "sharplens-out", "results.json");
        Assert.True(File.Exists(path));
        Assert.True(File.Exists(Path.Combine(cwd, "sharplens-out", "report.html")));
        var results = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var reference = Fixtures.Json("setcomp-demo", "reference_experiments.json");
        foreach (var key in new[] { "clean_logit_diff", "corrupted_logit_diff", "resid_pre_patch_recovery", "head_z_patch_last_recovery",
                     "control_resid_pre_patch_last_recovery", "zero_ablate_head_clean_logit_diff", "dla_clean" })
            ReferenceExperimentTests.AssertMatches(key, reference[key]!, results[key]);
        // metadata and derived keys
        Assert.Equal("hf", results["processing"]!.GetValue<string>());
        Assert.Equal([18], results["differing_positions"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal(4, results["candidates"]!["tokens"]!.AsArray().Count);
        Assert.Equal(4, results["dla_candidates_clean"]!["tokens"]!.AsArray().Count);
        Assert.Equal(4, results["top_heads"]!.AsArray().Count);
        Assert.Equal("user", results["control_source"]!.GetValue<string>());
        Assert.Contains("Control prompt (from --control)", r.Stdout);
        Assert.Contains("Residual stream patching", r.Stdout);
    }

    [Fact]
    public void StudyNamesTheDefaultControl()
    {
        string cwd = Fixtures.TempDir("study");
        var r = CliRunner.RunIn(cwd, null, "study", "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("Control prompt (default)", r.Stdout);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "o", "results.json")))!;
        Assert.Equal("default", results["control_source"]!.GetValue<string>());
        Assert.StartsWith("The quick", results["prompts"]!["control"]!.GetValue<string>());
        Assert.False(File.Exists(Path.Combine(cwd, "o", "report.html")));
    }

    [Fact]
    public void ReportCommandRerendersFromSavedResults()
    {
        string cwd = Fixtures.TempDir("study");
        Assert.Equal(0, CliRunner.RunIn(cwd, null, "study", "--no-report").ExitCode);
        string results = Path.Combine(cwd, "sharplens-out", "results.json");
        var r = CliRunner.RunIn(cwd, null, "report", results, "--out", "again");
        Assert.True(r.ExitCode == 0, r.Stderr);
        string html = File.ReadAllText(Path.Combine(cwd, "again", "report.html"));
        Assert.Contains("Mango", html);
    }
}
