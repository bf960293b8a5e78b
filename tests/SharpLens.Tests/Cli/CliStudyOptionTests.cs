using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>`sharplens study` options end to end: --processing tl with explicit --candidates, --pair-layer and --heads;
/// the default control text; default candidates that this tokenizer splits.</summary>
public class CliStudyOptionTests
{
    static JsonObject Results(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!.AsObject();

    [Fact]
    public void TlStudyWithExplicitOptions_WritesWhatWasAskedFor()
    {
        string cwd = Fixtures.TempDir("study-tl");
        var r = CliRunner.RunIn(cwd, null, "study", "--model", Fixtures.Dir("tiny-qwen2"), "--processing", "tl",
            "--candidates", " Peach| Mango| Orange", "--pair-layer", "1", "--heads", "0.2,1.1", "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var results = Results(Path.Combine(cwd, "o"));
        Assert.Equal("tl", results["processing"]!.GetValue<string>());
        Assert.Equal(1, results["head_pair_layer"]!.GetValue<int>());
        Assert.Equal("[[0,2],[1,1]]", results["top_heads"]!.ToJsonString());
        Assert.Equal(3, results["candidates"]!["tokens"]!.AsArray().Count);
        Assert.Equal(3, results["dla_candidates_clean"]!["tokens"]!.AsArray().Count);

        // tl changes ablation and DLA only: the hf run's patching rows are the same.
        var hf = CliRunner.RunIn(cwd, null, "study", "--model", Fixtures.Dir("tiny-qwen2"), "--no-report", "--out", "hf");
        Assert.True(hf.ExitCode == 0, hf.Stderr);
        var plain = Results(Path.Combine(cwd, "hf"));
        Assert.Equal(plain["resid_pre_patch_recovery"]!.ToJsonString(), results["resid_pre_patch_recovery"]!.ToJsonString());
        Assert.NotEqual(plain["dla_clean"]!.ToJsonString(), results["dla_clean"]!.ToJsonString());
    }

    [Fact]
    public void DefaultControl_IsTheQuickBrownFoxCutToThePromptLength()
    {
        string cwd = Fixtures.TempDir("study-ctl");
        var r = CliRunner.RunIn(cwd, null, "study", "--model", Fixtures.Dir("tiny-qwen2"), "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var results = Results(Path.Combine(cwd, "o"));
        var tok = SharpLens.Tokenization.HfTokenizer.Load(Fixtures.Dir("tiny-qwen2"));
        int length = results["tokens"]!["clean"]!.AsArray().Count;
        // EXPERIMENTS.md: the sentence joined by single spaces as often as needed, cut to the prompt's token length.
        string repeated = string.Join(' ', Enumerable.Repeat("The quick brown fox jumps over the lazy dog.", 20));
        int[] expected = tok.Encode(repeated).Take(length).ToArray();
        var control = results["tokens"]!["control"]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        Assert.Equal(expected, control);
    }

    [Fact]
    public void DefaultCandidates_LeaveOutAFruitThisTokenizerSplits()
    {
        string model = Fixtures.TempDir("split-grape");
        foreach (var f in Directory.GetFiles(Fixtures.Dir("tiny-qwen2"))) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        string tokPath = Path.Combine(model, "tokenizer.json");
        var tokenizer = JsonNode.Parse(File.ReadAllText(tokPath))!;
        var merges = tokenizer["model"]!["merges"]!.AsArray();
        var grape = merges.Single(m => string.Concat(m!.AsArray().Select(x => x!.GetValue<string>())) == "ĠGrape");
        merges.Remove(grape);
        File.WriteAllText(tokPath, tokenizer.ToJsonString());

        string cwd = Fixtures.TempDir("study-split");
        var r = CliRunner.RunIn(cwd, null, "study", "--model", model, "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var tokens = Results(Path.Combine(cwd, "o"))["candidates"]!["strings"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        Assert.Equal(3, tokens.Count);
        Assert.DoesNotContain(" Grape", tokens);
        Assert.Contains(" Mango", tokens);
        Assert.Contains(" Orange", tokens);

        // Asked for explicitly, the split fruit is still an error that shows the pieces.
        var asked = CliRunner.RunIn(cwd, null, "study", "--model", model, "--candidates", " Grape| Mango", "--no-report", "--out", "o2");
        Assert.Equal((int)ExitCode.Input, asked.ExitCode);
        Assert.Contains(" Grape", asked.Stderr);
    }

    [Fact]
    public void ResidualGridCharacters_ShowTheSignWithoutColour()
    {
        double[] values = [-0.9, -0.3, 0, 0.3, 0.7, 1];
        var chars = values.Select(SharpLens.Cli.StudyConsole.Shade).ToArray();
        Assert.Equal(values.Length, chars.Distinct().Count());
        Assert.DoesNotContain(SharpLens.Cli.StudyConsole.Shade(-0.3), new[] { SharpLens.Cli.StudyConsole.Shade(0.3), SharpLens.Cli.StudyConsole.Shade(0.7) });
    }
}
