using System.CommandLine;
using System.Text.RegularExpressions;
using SharpLens.Cli;
using SharpLens.Experiments;
using SharpLens.Sharding;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Sharding;

/// <summary>A dataset study in shards (study --dataset --shard) merged equals the unsharded dataset study.</summary>
public class DatasetShardTests
{
    /// <summary>Fast options that still need the reference pass (mean and resample ablation, the default of a dataset study).</summary>
    internal static readonly string[] Options = ["--only", "head_patch,ablation,logit_lens", "--resamples", "100", "--seed", "7"];

    /// <summary>A generated set-completion dataset of <paramref name="n"/> pairs in <paramref name="cwd"/>.</summary>
    internal static string MakeDataset(string cwd, int n, int seed = 5)
    {
        var r = CliRunner.RunIn(cwd, null, "dataset", "setcomp", "--n", $"{n}", "--seed", $"{seed}", "--out", "pairs.jsonl");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return Path.Combine(cwd, "pairs.jsonl");
    }

    [Fact]
    public void DatasetShardsMerged_EqualTheUnshardedDatasetStudy()
    {
        string cwd = Fixtures.TempDir("dshard");
        MakeDataset(cwd, 5);
        var full = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. Options, "--no-report", "--out", "full"]);
        Assert.True(full.ExitCode == 0, full.Stderr);
        for (int i = 0; i < 3; i++)
        {
            var r = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. Options, "--shard", $"{i}/3", "--out", $"s{i}"]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            var header = ShardCliTests.Read(Path.Combine(cwd, $"s{i}", "shard.json"))[StudyShard.HeaderKey]!;
            Assert.Equal(StudyShard.DatasetKind, header["kind"]!.GetValue<string>());
            var (start, end) = new ShardSpec(i, 3).Block(5, DatasetStudyOptions.SuggestedPairsPerBatch);   // the default tile
            Assert.Equal($"[{start},{end}]", header["work"]!.ToJsonString());
            Assert.Contains($"pairs {start}–{end - 1} of 5", r.Stdout);
        }
        var merge = CliRunner.RunIn(cwd, null, "merge", "s0", "s1", "s2", "--out", "merged");
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        var unsharded = ShardCliTests.Read(Path.Combine(cwd, "full", "results.json"));
        Assert.True(unsharded["mean"]!.AsObject().ContainsKey("mean_ablate_attn_clean_logit_diff"), "the reference pass did not run");
        ShardCliTests.AssertSameResults(unsharded, ShardCliTests.Read(Path.Combine(cwd, "merged", "results.json")));
        Assert.True(File.Exists(Path.Combine(cwd, "merged", "report.html")));

        // a shard of another dataset (one pair more) or of a single-pair study is refused
        MakeDataset(cwd, 6);
        var other = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. Options, "--shard", "2/3", "--out", "other"]);
        Assert.True(other.ExitCode == 0, other.Stderr);
        var refused = CliRunner.RunIn(cwd, null, "merge", "s0", "s1", "other", "--out", "m2");
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("inputs.dataset.pairs", refused.Stderr);
    }

    [Fact]
    public void ShardsWhoseBlocksWouldCutATile_HoldWholeTiles_AndMergeToTheUnshardedStudy()
    {
        // 10 pairs, tiles of 4, 3 shards: unaligned blocks would be 0–3, 4–6, 7–9 (cutting tile 4–7); aligned: 0–3, 4–7, 8–9
        string cwd = Fixtures.TempDir("dshard-tiles");
        MakeDataset(cwd, 10);
        string[] opts = [.. Options, "--pairs-per-batch", "4"];
        Assert.Equal((4, 7), new ShardSpec(1, 3).Block(10));
        var full = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. opts, "--no-report", "--out", "full"]);
        Assert.True(full.ExitCode == 0, full.Stderr);
        (int, int)[] expected = [(0, 4), (4, 8), (8, 10)];
        for (int i = 0; i < 3; i++)
        {
            var r = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. opts, "--shard", $"{i}/3", "--out", $"s{i}"]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            var header = ShardCliTests.Read(Path.Combine(cwd, $"s{i}", "shard.json"))[StudyShard.HeaderKey]!;
            Assert.Equal($"[{expected[i].Item1},{expected[i].Item2}]", header["work"]!.ToJsonString());
        }
        var merge = CliRunner.RunIn(cwd, null, "merge", "s0", "s1", "s2", "--no-report", "--out", "merged");
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        ShardCliTests.AssertSameResults(ShardCliTests.Read(Path.Combine(cwd, "full", "results.json")),
            ShardCliTests.Read(Path.Combine(cwd, "merged", "results.json")));

        // a shard of another --pairs-per-batch does not fit: refused, saying so
        var other = CliRunner.RunIn(cwd, null, ["study", "--dataset", "pairs.jsonl", .. Options, "--pairs-per-batch", "2", "--shard", "2/3", "--out", "other"]);
        Assert.True(other.ExitCode == 0, other.Stderr);
        var refused = CliRunner.RunIn(cwd, null, "merge", "s0", "s1", "other", "--out", "m2");
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains("different --pairs-per-batch", refused.Stderr);
        Assert.Contains("inputs.options.pairs_per_batch", refused.Stderr);
    }
}

/// <summary>
/// deploy/k8s-indexed-job.yaml as Kubernetes runs it: each pod's args with $(JOB_COMPLETION_INDEX) expanded, for every
/// index below `completions` (paths pointed at a small dataset and the demo model; the CLI in-process to keep it fast).
/// </summary>
[Collection("Console")]
public class IndexedJobManifestTests
{
    [Fact]
    public void TheManifestsArgs_ForEveryIndex_MergeToTheUnshardedStudy()
    {
        string text = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "deploy", "k8s-indexed-job.yaml"));
        int completions = int.Parse(Regex.Match(text, @"^\s*completions:\s*(\d+)", RegexOptions.Multiline).Groups[1].Value);
        Assert.Contains("completionMode: Indexed", text);
        var args = Regex.Match(text, @"args:\n((?:\s+- .*\n)+)").Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Trim()[2..]).ToList();
        Assert.Contains($"--shard=$(JOB_COMPLETION_INDEX)/{completions}", args);   // the N of --shard is the Job's completions

        string cwd = Fixtures.TempDir("indexed");
        string dataset = DatasetShardTests.MakeDataset(cwd, 3);
        string[] Pod(int index) => args
            .Select(a => a.Replace("$(JOB_COMPLETION_INDEX)", $"{index}").Replace("/data/pairs.jsonl", dataset)
                .Replace("/data/out", Path.Combine(cwd, "out")).Replace("/models/Qwen1.5-1.8B-Chat", Fixtures.DemoModelDir))
            .Concat(DatasetShardTests.Options).ToArray();
        for (int i = 0; i < completions; i++) Assert.Equal(0, Invoke(Pod(i)));
        var shards = Enumerable.Range(0, completions).Select(i => Path.Combine(cwd, "out", $"shard-{i}")).ToArray();
        Assert.Equal(0, Invoke(["merge", .. shards, "--no-report", "--out", Path.Combine(cwd, "merged")]));
        Assert.Equal(0, Invoke(["study", "--dataset", dataset, "--model", Fixtures.DemoModelDir, .. DatasetShardTests.Options, "--no-report",
            "--out", Path.Combine(cwd, "full")]));
        ShardCliTests.AssertSameResults(ShardCliTests.Read(Path.Combine(cwd, "full", "results.json")),
            ShardCliTests.Read(Path.Combine(cwd, "merged", "results.json")));
    }

    static int Invoke(string[] args)
    {
        var old = Console.Out;
        Console.SetOut(TextWriter.Null);
        try { return CliHost.Invoke(CliApp.BuildRoot(), args); }
        finally { Console.SetOut(old); }
    }
}
