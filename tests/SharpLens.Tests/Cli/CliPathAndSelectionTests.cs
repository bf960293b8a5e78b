using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>`sharplens path` against the study, `--sender`, and `--only` / `--skip` end to end on the demo model.</summary>
public class CliPathAndSelectionTests
{
    static JsonObject Results(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "results.json")))!.AsObject();

    [Fact]
    public void Path_WritesTheStudysPathPatchingKeys_ForTheSameSender()
    {
        string cwd = Fixtures.TempDir("path");
        var study = CliRunner.RunIn(cwd, null, "study", "--sender", "1.1", "--no-report", "--out", "study");
        Assert.True(study.ExitCode == 0, study.Stderr);
        var path = CliRunner.RunIn(cwd, null, "path", "--sender", "1.1", "--out", "path");
        Assert.True(path.ExitCode == 0, path.Stderr);
        var s = Results(Path.Combine(cwd, "study"));
        var p = Results(Path.Combine(cwd, "path"));
        var keys = p.Select(kv => kv.Key).Where(k => k.StartsWith("path_patch", StringComparison.Ordinal)).ToList();
        Assert.Equal(10, keys.Count);   // sender, senders, to resid_final, q, k, v, mlp, direct to q, k, v
        Assert.Contains("path_patch_direct_to_v_recovery", keys);
        foreach (var key in keys) Assert.True(JsonNode.DeepEquals(s[key], p[key]), $"{key} differs between path and study");
        Assert.Equal("[1,1]", p["path_patch_sender"]!.ToJsonString());
        Assert.Equal(s["clean_logit_diff"]!.GetValue<double>(), p["clean_logit_diff"]!.GetValue<double>());
        Assert.Null(p["resid_pre_patch_recovery"]);   // path patching alone
        Assert.Contains("direct − exact", path.Stdout);
        Assert.Contains("Path patching from L1H1", path.Stdout);
    }

    [Fact]
    public void Path_PatchesSeveralSendersTogether_AndRejectsBadSenders()
    {
        string cwd = Fixtures.TempDir("path2");
        var r = CliRunner.RunIn(cwd, null, "path", "--sender", "1.0, 1.1", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = Results(Path.Combine(cwd, "o"));
        Assert.Equal("[[1,0],[1,1]]", o["path_patch_senders"]!.ToJsonString());
        Assert.Null(o["path_patch_sender"]);
        Assert.Contains("L1H0 + L1H1", r.Stdout);

        foreach (var bad in new[] { "4.0", "1.x", "1.0,1.0", "" })
        {
            var e = CliRunner.RunIn(cwd, null, "path", "--sender", bad, "--out", "bad");
            Assert.True(e.ExitCode == 2, $"--sender \"{bad}\": exit {e.ExitCode}, {e.Stderr}");
            Assert.Contains("--sender", e.Stderr);
            Assert.False(Directory.Exists(Path.Combine(cwd, "bad")));
        }
    }

    [Fact]
    public void OnlyAndSkip_ChooseExperimentsByName()
    {
        string cwd = Fixtures.TempDir("only");
        var r = CliRunner.RunIn(cwd, null, "study", "--only", "noising,logit_lens", "--out", "only");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = Results(Path.Combine(cwd, "only"));
        Assert.NotNull(o["clean_logit_diff"]);                       // baselines always run
        Assert.NotNull(o["noise_head_z_all_fraction"]);
        Assert.NotNull(o["logit_lens_logit_diff_corrupted"]);
        foreach (var absent in new[] { "resid_pre_patch_recovery", "head_z_patch_last_recovery", "dla_clean", "path_patch_to_q_recovery", "head_q_patch_all_recovery", "ov_copy_rank" })
            Assert.Null(o[absent]);
        Assert.True(File.Exists(Path.Combine(cwd, "only", "report.html")));   // the report skips what is missing
        Assert.Contains("Logit lens", r.Stdout);

        var skip = CliRunner.RunIn(cwd, null, "study", "--skip", "path_patch,head_input_patch,resid_patch", "--no-report", "--out", "skip");
        Assert.True(skip.ExitCode == 0, skip.Stderr);
        var k = Results(Path.Combine(cwd, "skip"));
        Assert.Null(k["path_patch_to_q_recovery"]);
        Assert.Null(k["head_pattern_patch_all_recovery"]);
        Assert.Null(k["resid_pre_patch_recovery"]);
        Assert.NotNull(k["head_z_patch_last_recovery"]);
        Assert.NotNull(k["noise_attn_out_all_fraction"]);

        var bad = CliRunner.RunIn(cwd, null, "study", "--only", "resid_patch,path_patching", "--out", "bad");
        Assert.Equal(2, bad.ExitCode);
        foreach (var name in StudyExperiments.All) Assert.Contains(name, bad.Stderr);
        Assert.Contains("\"path_patching\" is not an experiment", bad.Stderr);
        Assert.False(Directory.Exists(Path.Combine(cwd, "bad")));
    }

    [Fact]
    public void SkippedDependencies_StillGiveTheDefaultSenderAndPairLayer()
    {
        string cwd = Fixtures.TempDir("deps");
        var r = CliRunner.RunIn(cwd, null, "study", "--only", "path_patch,head_pair_patch", "--no-report", "--out", "o");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = Results(Path.Combine(cwd, "o"));
        Assert.Equal("[1,0]", o["path_patch_sender"]!.ToJsonString());   // the demo README's strongest head
        Assert.Equal(1, o["head_pair_layer"]!.GetValue<int>());
        Assert.Null(o["head_z_patch_last_recovery"]);
        Assert.Null(o["attn_out_patch_last_recovery"]);
    }
}
