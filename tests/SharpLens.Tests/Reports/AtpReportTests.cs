using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpLens.Experiments;
using SharpLens.Reports;

namespace SharpLens.Tests.Reports;

/// <summary>The report's AtP-vs-exact section: one scatter per sweep with both sides, Spearman's ρ, the disagreements named.</summary>
public class AtpReportTests
{
    static string SectionOf(string html) => Regex.Match(html, "<section id=\"atp\">.*?</section>", RegexOptions.Singleline).Value;

    static JsonObject Input()
    {
        var r = ReportInput.Build();
        foreach (var (atp, exact) in AtpResult.Keys) { r.Remove(atp); r.Remove(exact); }
        return r;
    }

    [Fact]
    public void FullSweeps_GetAScatterEach_WithSpearmanAndTheItemsThatDisagree()
    {
        var r = Input();
        r["head_z_patch_all_recovery"] = JsonNode.Parse("[[0.1, 0.9], [0.0, -0.2]]");
        r["atp_head_z_all_recovery"] = JsonNode.Parse("[[0.12, 0.85], [0.5, -0.1]]");
        r["attn_out_patch_all_recovery"] = JsonNode.Parse("[0.3, 0.6]");
        r["atp_attn_out_all_recovery"] = JsonNode.Parse("[0.31, 0.62]");
        var section = SectionOf(ReportWriter.RenderHtml(r));
        Assert.Equal(6, Regex.Matches(section, "<circle [^>]*data-v=").Count);    // 4 heads + 2 layers
        // ranks 2,4,3,1 vs 3,4,2,1: ρ = 1 − 6·2 / (4·15) = 0.8; the outputs agree in rank exactly
        Assert.Contains("Heads&#39; z: Spearman ρ = 0.8", section);
        Assert.Contains("Attention outputs (all positions): Spearman ρ = 1", section);
        Assert.Contains("L1H0 (AtP 0.5, exact 0)", section);
        Assert.DoesNotContain("L0H1 (AtP", section);
        Assert.Contains("Where they disagree: Heads&#39; z", section);
    }

    [Fact]
    public void VerifiedItems_AreComparedWhenTheExactSweepDidNotRun_AndAtpAloneSaysSo()
    {
        var r = Input();
        r["atp_resid_pre_recovery"] = JsonNode.Parse("[[0.0, 0.9], [0.7, 0.1]]");
        r["atp_verify"] = JsonNode.Parse("""{"k": 2, "sweeps": {"resid_pre_patch_recovery": [{"index": [0, 1], "atp": 0.9, "exact": 1.0}, {"index": [1, 0], "atp": 0.7, "exact": 0.2}]}}""");
        var section = SectionOf(ReportWriter.RenderHtml(r));
        Assert.Equal(2, Regex.Matches(section, "<circle [^>]*data-v=").Count);
        Assert.Contains("AtP's top 2 items", section);
        Assert.Contains("L1 pos 0 (AtP 0.7, exact 0.2)", section);
        Assert.Contains("the residual stream", section);

        r.Remove("atp_verify");
        var alone = SectionOf(ReportWriter.RenderHtml(r));
        Assert.DoesNotContain("<circle", alone);
        Assert.Contains("--method atp+verify K", alone);
    }
}
