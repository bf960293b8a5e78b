using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Cli;

/// <summary><c>sharplens study --dataset</c> end to end, as a child process, on the demo model.</summary>
public class CliDatasetStudyTests
{
    static string WriteDataset(string dir, Func<PromptPair, int, PromptPair>? edit = null, int n = 3)
    {
        var tok = HfTokenizer.Load(Fixtures.Dir("setcomp-demo"));
        var pairs = SetCompletionTask.Generate(tok, n, seed: 7).Select((p, i) => edit?.Invoke(p, i) ?? p);
        string path = Path.Combine(dir, "pairs.jsonl");
        File.WriteAllText(path, PromptDataset.ToJsonl(pairs));
        return path;
    }

    static PromptPair Swapped(PromptPair p) => p with { Answer = p.Wrong, Wrong = p.Answer, Candidates = null };

    [Fact]
    public void WritesTheDatasetKeysTheReportAndTheExcludedPairs()
    {
        string cwd = Fixtures.TempDir("dstudy");
        string data = WriteDataset(cwd, (p, i) => i == 2 ? Swapped(p) : p);
        var r = CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--only", "attn_mlp_patch,ablation", "--heads", "1.1,2.1",
            "--ablation", "zero,mean,resample", "--resamples", "100", "--seed", "3", "--out", "out");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "out", "results.json")))!.AsObject();
        foreach (var key in new[] { "n_pairs", "n_used", "excluded", "per_pair", "mean", "std", "ci95", "recovery_of_means", "bootstrap" })
            Assert.True(o.ContainsKey(key), key);
        Assert.Equal(3, (int)o["n_pairs"]!);
        Assert.Equal(2, (int)o["n_used"]!);
        Assert.Equal(3, (int)o["excluded"]![0]!["line"]!);
        Assert.Equal(100, (int)o["bootstrap"]!["resamples"]!);
        Assert.Equal(3, (int)o["bootstrap"]!["seed"]!);
        foreach (var kind in new[] { "zero", "mean", "resample" })
            Assert.Equal(2, o["ci95"]![$"{kind}_ablate_attn_clean_logit_diff"]![0]!.AsArray().Count);
        Assert.NotNull(o["recovery_of_means"]!["attn_out_patch_last_recovery"]);
        Assert.Equal(2, o["mean"]!["joint_ablate_head_pair_clean_logit_diff"]!.AsArray().Count);
        // the string key method is metadata, carried once, not "not aggregated"
        Assert.Equal("exact", (string)o["metadata"]!["method"]!);
        Assert.False(o["not_aggregated"]!.AsObject().ContainsKey("method"));
        // console: the counts and the excluded line; report: the dataset page
        Assert.Contains("2 of 3 pairs used", r.Stdout);
        Assert.Contains("excluded line 3", r.Stdout);
        string html = File.ReadAllText(Path.Combine(cwd, "out", "report.html"));
        Assert.Contains("SharpLens dataset study", html);
        Assert.Contains("zero vs mean vs resample", html);
        Assert.Contains("class=\"excluded\"", html);
        Assert.Contains("class=\"ci\"", html);

        // sharplens report re-renders the same page from results.json
        var again = CliRunner.RunIn(cwd, null, "report", Path.Combine("out", "results.json"), "--out", "again");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("SharpLens dataset study", File.ReadAllText(Path.Combine(cwd, "again", "report.html")));
    }

    [Fact]
    public void NoPairPassingIsExit3AndWritesNothing()
    {
        string cwd = Fixtures.TempDir("dstudy");
        string data = WriteDataset(cwd, (p, _) => Swapped(p), n: 2);
        var r = CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--only", "baselines", "--out", "out");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("no pair of the 2 passes its baselines", r.Stderr);
        Assert.False(File.Exists(Path.Combine(cwd, "out", "results.json")));
    }

    [Fact]
    public void OptionsThatDoNotFitAreUsageErrors()
    {
        string cwd = Fixtures.TempDir("dstudy");
        string data = WriteDataset(cwd, n: 1);
        var clean = CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--clean", "x", "--out", "out");
        Assert.Equal(2, clean.ExitCode);
        Assert.Contains("--clean and --dataset exclude each other", clean.Stderr);
        var resample = CliRunner.RunIn(cwd, null, "study", "--ablation", "resample", "--out", "out");
        Assert.Equal(2, resample.ExitCode);
        Assert.Contains("resample ablation needs a dataset", resample.Stderr);
        Assert.Equal(2, CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--ablation", "half", "--out", "out").ExitCode);
        Assert.Equal(2, CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--baseline-rule", "loose", "--out", "out").ExitCode);
        var perBatch = CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--pairs-per-batch", "0", "--out", "out");
        Assert.Equal(2, perBatch.ExitCode);
        Assert.Contains("--pairs-per-batch must be between 1 and 256", perBatch.Stderr);
        // a bad line is an input error naming it
        File.AppendAllText(data, "{\"clean\": 1}\n");
        var bad = CliRunner.RunIn(cwd, null, "study", "--dataset", data, "--out", "out");
        Assert.Equal(3, bad.ExitCode);
        Assert.Contains("line 2", bad.Stderr);
    }

    [Fact]
    public void SinglePairMeanAblationIsOverTheCleanAndCorruptedRuns()
    {
        string cwd = Fixtures.TempDir("dstudy");
        var r = CliRunner.RunIn(cwd, null, "study", "--only", "ablation", "--heads", "1.1", "--ablation", "zero,mean", "--no-report", "--out", "out");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "out", "results.json")))!.AsObject();
        Assert.NotNull(o["mean_ablate_head_clean_logit_diff"]);
        Assert.NotNull(o["zero_ablate_head_clean_logit_diff"]);
        Assert.Null(o["resample_ablate_head_clean_logit_diff"]);
        Assert.Null(o["per_pair"]);
    }
}
