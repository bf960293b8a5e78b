using System.Text.Json.Nodes;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>
/// <c>sharplens study</c> answers AtP on the families whose backward came last (Qwen3's q/k norms, Gemma 2's post-norms
/// and soft-caps): <c>--method atp</c> and the exact study (its AtP bonus, here alone with <c>--only atp</c>) write the
/// <c>atp_*</c> keys, matching reference_next.json, instead of <c>atp_unavailable</c>.
/// </summary>
public class CliFamilyAtpTests
{
    [Theory]
    [InlineData("tiny-qwen3", "atp")]
    [InlineData("tiny-qwen3-small-head", "exact")]
    [InlineData("tiny-gemma2", "atp")]
    [InlineData("tiny-gemma2-variant", "exact")]
    public void Study_WritesTheReferenceAtpKeys(string fixture, string method)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var next = Fixtures.Json(fixture, "reference_next.json");
        string cwd = Fixtures.TempDir("family-atp");
        string[] only = method == "exact" ? ["--only", "atp"] : [];
        var r = CliRunner.RunIn(cwd, null,
        [
            "study", "--model", Fixtures.Dir(fixture),
            "--clean", reference["prompts"]!["clean"]!.GetValue<string>(), "--corrupted", reference["prompts"]!["corrupted"]!.GetValue<string>(),
            "--answer", reference["answers"]!["clean"]!.GetValue<string>(), "--wrong", reference["answers"]!["corrupted"]!.GetValue<string>(),
            "--method", method, .. only, "--no-report", "--out", "o",
        ]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "o", "results.json")))!.AsObject();
        Assert.False(o.ContainsKey("atp_unavailable"), o["atp_unavailable"]?.ToJsonString());
        foreach (var key in new[] { "atp_head_q_all_recovery", "atp_head_k_all_recovery", "atp_head_v_all_recovery", "atp_head_pattern_all_recovery" })
            Assert.True(o.ContainsKey(key), $"no {key}");
        foreach (var key in new[] { "atp_resid_pre_recovery", "atp_attn_out_all_recovery", "atp_mlp_out_all_recovery", "atp_head_z_all_recovery" })
            Compare(next[key]!, o[key]!, $"{fixture} {key}");
    }

    static void Compare(JsonNode expected, JsonNode actual, string where)
    {
        if (expected is JsonArray e)
        {
            var a = actual.AsArray();
            Assert.Equal(e.Count, a.Count);
            for (int i = 0; i < e.Count; i++) Compare(e[i]!, a[i]!, $"{where}[{i}]");
            return;
        }
        double r = expected.GetValue<double>(), x = actual.GetValue<double>();
        Assert.True(Math.Abs(r - x) <= 2e-3 + 1e-4 * Math.Abs(r), $"{where}: reference {r:g6}, got {x:g6}");
    }
}
