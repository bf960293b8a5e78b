using System.Text.Json.Nodes;
using SharpLens.Sharding;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Sharding;

/// <summary>`study --shard` and `sharplens merge` end to end on the demo model: the merge equals the unsharded run.</summary>
public class ShardCliTests
{
    /// <summary>A subset that keeps the test fast yet crosses the dependencies between experiments (the head-pair layer
    /// from attention patching, the path-patching sender from head patching, both in other shards).</summary>
    internal const string Only = "resid_patch,attn_mlp_patch,head_patch,head_pair_patch,ablation,dla,path_patch,logit_lens";

    internal static JsonObject Read(string file) => JsonNode.Parse(File.ReadAllText(file))!.AsObject();

    /// <summary>The merged results equal the unsharded ones: the same keys, numbers within 1e-6 relative (timings aside).</summary>
    internal static void AssertSameResults(JsonObject unsharded, JsonObject merged)
    {
        Assert.Equal(unsharded.Select(kv => kv.Key).Order(), merged.Select(kv => kv.Key).Order());
        foreach (var (key, value) in unsharded)
        {
            if (key == "timings")
            {
                Assert.Equal(value!.AsObject().Select(kv => kv.Key).Order(), merged[key]!.AsObject().Select(kv => kv.Key).Order());
                continue;
            }
            Assert.True(JsonDiff.FirstDifference(value, merged[key], 1e-6, key) is not { } d, $"merged ≠ unsharded at {JsonDiff.FirstDifference(value, merged[key], 1e-6, key)}");
        }
    }

    [Fact]
    public void ShardsMerged_EqualTheUnshardedStudy_AndMakeItsReport()
    {
        string cwd = Fixtures.TempDir("shard");
        var full = CliRunner.RunIn(cwd, null, "study", "--only", Only, "--no-report", "--out", "full");
        Assert.True(full.ExitCode == 0, full.Stderr);
        for (int i = 0; i < 3; i++)
        {
            var r = CliRunner.RunIn(cwd, null, "study", "--only", Only, "--shard", $"{i}/3", "--out", $"s{i}");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains($"shard {i}/3", r.Stdout);
            Assert.Equal(["shard.json"], Directory.GetFileSystemEntries(Path.Combine(cwd, $"s{i}")).Select(Path.GetFileName));   // never a results.json
            var header = Read(Path.Combine(cwd, $"s{i}", "shard.json"))[StudyShard.HeaderKey]!;
            Assert.Equal(i, header["index"]!.GetValue<int>());
            Assert.Equal(3, header["count"]!.GetValue<int>());
        }
        // a shard is not a results.json: report says so
        var report = CliRunner.RunIn(cwd, null, "report", Path.Combine("s1", "shard.json"));
        Assert.Equal(3, report.ExitCode);
        Assert.Contains("shard 1/3 of a sharded study", report.Stderr);

        var merge = CliRunner.RunIn(cwd, null, "merge", "s2", "s0", Path.Combine("s1", "shard.json"), "--out", "merged");
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        Assert.Contains("merged 3 shards", merge.Stdout);
        AssertSameResults(Read(Path.Combine(cwd, "full", "results.json")), Read(Path.Combine(cwd, "merged", "results.json")));
        Assert.True(File.Exists(Path.Combine(cwd, "merged", "report.html")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(cwd, "merged", "figures"), "*.png"));
    }

    [Fact]
    public void Merge_RefusesIncompleteOrForeignSets_WithAClearMessage()
    {
        string cwd = Fixtures.TempDir("shard-bad");
        foreach (var (args, dir) in new[]
        {
            (new[] { "--shard", "0/2" }, "a0"), (new[] { "--shard", "1/2" }, "a1"),
            (new[] { "--shard", "1/2", "--processing", "tl" }, "tl1"),   // another option: another study
        })
        {
            var r = CliRunner.RunIn(cwd, null, ["study", "--only", "head_patch,dla", .. args, "--out", dir]);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        var missing = CliRunner.RunIn(cwd, null, "merge", "a0", "--out", "m");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("shard 1/2 of 2 is missing", missing.Stderr);
        var twice = CliRunner.RunIn(cwd, null, "merge", "a0", "a1", "a1", "--out", "m");
        Assert.Equal(3, twice.ExitCode);
        Assert.Contains("shard 1/2 is given twice", twice.Stderr);
        var foreign = CliRunner.RunIn(cwd, null, "merge", "a0", "tl1", "--out", "m");
        Assert.Equal(3, foreign.ExitCode);
        Assert.Contains("shards of different studies", foreign.Stderr);
        Assert.Contains("inputs.options.processing", foreign.Stderr);
        var empty = CliRunner.RunIn(cwd, null, "merge", "nowhere", "--out", "m");
        Assert.Equal(3, empty.ExitCode);
        Assert.Contains("nowhere: no such folder", empty.Stderr);
        Directory.CreateDirectory(Path.Combine(cwd, "unfinished"));
        var unfinished = CliRunner.RunIn(cwd, null, "merge", "a0", "unfinished", "--out", "m");
        Assert.Equal(3, unfinished.ExitCode);
        Assert.Contains("has no shard.json", unfinished.Stderr);
        var intoShard = CliRunner.RunIn(cwd, null, "merge", "a0", "a1", "--out", "a1");
        Assert.Equal(2, intoShard.ExitCode);
        Assert.Contains("holds one of the shards", intoShard.Stderr);
        Assert.False(Directory.Exists(Path.Combine(cwd, "m")), "a refused merge wrote its --out");
        foreach (var e in new[] { missing, twice, foreign, empty, unfinished, intoShard })
        {
            Assert.DoesNotContain("   at ", e.Stderr);   // no stack trace
            Assert.Single(e.Stderr.Trim().Split('\n'));
        }
        var ok = CliRunner.RunIn(cwd, null, "merge", "a1", "a0", "--no-report", "--out", "m");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.False(File.Exists(Path.Combine(cwd, "m", "report.html")));
    }

    [Theory]
    [InlineData("2/2", "shard 2 does not exist among 2")]
    [InlineData("1/0", "at least 1")]
    [InlineData("x", "expected I/N")]
    [InlineData("slurm", "SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not both set")]
    public void Study_BadShard_ExitsTwo_BeforeAnyWork(string spec, string message)
    {
        string cwd = Fixtures.TempDir("shard-spec");
        var env = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = "", ["SLURM_ARRAY_TASK_COUNT"] = "" };
        var r = CliRunner.RunIn(cwd, env, "study", "--shard", spec, "--out", "o");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(cwd, "o")));
    }

    [Fact]
    public void Study_ShardSlurm_ReadsTheArrayTask()
    {
        string cwd = Fixtures.TempDir("shard-slurm");
        var env = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = "2", ["SLURM_ARRAY_TASK_COUNT"] = "2", ["SLURM_ARRAY_TASK_MIN"] = "1" };
        var r = CliRunner.RunIn(cwd, env, "study", "--only", "dla,logit_lens", "--shard", "slurm", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var header = Read(Path.Combine(cwd, "o", "shard.json"))[StudyShard.HeaderKey]!;
        Assert.Equal("1/2", $"{header["index"]}/{header["count"]}");
        Assert.Equal("[\"baselines\",\"logit_lens\"]", header["work"]!.ToJsonString());
    }
}
