using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpLens.Reports;

namespace SharpLens.Tests.Reports;

/// <summary>The report sections of the circuit questions: what they draw, what they say they found, and how they skip.</summary>
public class CircuitReportTests
{
    static double[][] Mat(JsonNode? n) => n!.AsArray().Select(r => r!.AsArray().Select(x => (double)x!).ToArray()).ToArray();
    static double[] Vec(JsonNode? n) => n!.AsArray().Select(x => (double)x!).ToArray();

    static string SectionOf(string html, string id) =>
        Regex.Match(html, $"<section id=\"{id}\">.*?</section>", RegexOptions.Singleline).Value;

    static int Marks(string html) => Regex.Matches(html, "data-v=\"").Count;

    [Fact]
    public void PathSection_IsAReceiverHeatmapOverLayerAndHead_WithTheMlpRow_AndNamesTheStrongestReceiver()
    {
        var r = ReportInput.Build();
        var section = SectionOf(ReportWriter.RenderHtml(r), "path");
        var q = Mat(r["path_patch_to_q_recovery"]); var k = Mat(r["path_patch_to_k_recovery"]); var mlp = Vec(r["path_patch_to_mlp_recovery"]);
        int L = q.Length, H = q[0].Length, G = k[0].Length;
        // exact: L × (H + 2G + 1) cells; direct and direct − exact: L × (H + 2G)
        Assert.Equal(L * (H + 2 * G + 1) + 2 * L * (H + 2 * G), Regex.Matches(section, "<rect [^>]*data-v=").Count);
        foreach (var label in new[] { "q H0", "k G0", "v G0", "MLP" }) Assert.Contains($">{label}</text>", section);
        Assert.Contains("Direct − exact", section);
        // the strongest receiver on the demo model is an MLP, named with its value
        int best = Enumerable.Range(0, L).MaxBy(l => Math.Abs(mlp[l]));
        Assert.Contains($"Strongest receivers of L1H0: MLP L{best} ({ResultsView.F(mlp[best], 3)})", section);
        Assert.Contains(ResultsView.F(r["path_patch_to_resid_final_recovery"]!.GetValue<double>(), 3), section);
    }

    [Fact]
    public void HeadInputSection_PutsQKVAndPatternSideBySidePerTopHead()
    {
        var r = ReportInput.Build();
        var section = SectionOf(ReportWriter.RenderHtml(r), "head-inputs");
        var top = r["top_heads"]!.AsArray();
        // grouped bars: z, q, k, v, pattern for each top head
        var bars = Regex.Matches(section, "<title>(L\\d+H\\d+) · (z \\(output\\)|q|k|v|pattern): ").Select(m => m.Groups[1].Value + m.Groups[2].Value).ToHashSet();
        Assert.Equal(top.Count * 5, bars.Count);
        var pattern = Mat(r["head_pattern_patch_all_recovery"]);
        int l = (int)top[0]![0]!, h = (int)top[0]![1]!;
        Assert.Contains($"L{l}H{h} · pattern: {ResultsView.F(pattern[l][h], 4)}", section);
        Assert.Contains("Largest input per head: L1H0:", section);
    }

    [Fact]
    public void NecessitySection_IsTheTwoByTwo_ForAttentionMlpAndTopHeads()
    {
        var r = ReportInput.Build();
        var section = SectionOf(ReportWriter.RenderHtml(r), "necessity");
        var na = Vec(r["noise_attn_out_all_fraction"]); var da = Vec(r["attn_out_patch_all_recovery"]);
        foreach (var row in new[] { "attn L0", "MLP L3", "L1H0" }) Assert.Contains($"<tr><th>{row}</th>", section);
        // each verdict follows from the two numbers in its row
        for (int layer = 0; layer < na.Length; layer++)
        {
            string verdict = (na[layer] <= 0.5, da[layer] >= 0.5) switch
            {
                (true, true) => "necessary and sufficient", (true, false) => "necessary, not sufficient",
                (false, true) => "sufficient, not necessary", _ => "neither",
            };
            Assert.Matches($"<tr><th>attn L{layer}</th><td[^>]*>{Regex.Escape(ResultsView.F(da[layer], 3))}</td><td[^>]*>{Regex.Escape(ResultsView.F(na[layer], 3))}</td><td[^>]*>[^<]*</td><td>{verdict}</td>", section);
        }
        var nh = Mat(r["noise_head_z_all_fraction"]);
        Assert.Contains(ResultsView.F(1 - nh[1][0], 4), section);   // the necessity bar of L1H0
    }

    [Fact]
    public void LogitLensSection_IsALineOverDepthForBothRuns()
    {
        var r = ReportInput.Build();
        var section = SectionOf(ReportWriter.RenderHtml(r), "logit-lens");
        var c = Vec(r["logit_lens_logit_diff_clean"]); var k = Vec(r["logit_lens_logit_diff_corrupted"]);
        Assert.Equal(2, Regex.Matches(section, "<polyline").Count);
        Assert.Equal(c.Length + k.Length, Marks(section));
        Assert.Contains($"final · clean run: {ResultsView.F(c[^1], 4)}", section);
        int split = Enumerable.Range(0, c.Length).First(i => c[i] > 0 && k[i] < 0);
        Assert.Contains($"first separate in sign at L{split} pre", section);
    }

    [Fact]
    public void MissingCircuitKeys_SkipOnlyTheirSections()
    {
        var r = ReportInput.Build();
        foreach (var key in r.Select(kv => kv.Key).Where(k => k.StartsWith("noise_") || k.StartsWith("path_patch")).ToList()) r.Remove(key);
        string html = ReportWriter.RenderHtml(r);
        Assert.Contains("class=\"note\"", SectionOf(html, "path"));
        Assert.Contains("class=\"note\"", SectionOf(html, "necessity"));
        Assert.DoesNotContain("class=\"note\"", SectionOf(html, "logit-lens"));
        Assert.DoesNotContain("class=\"note\"", SectionOf(html, "head-inputs"));
        r["logit_lens_logit_diff_clean"] = "not an array";
        Assert.Contains("class=\"note\"", SectionOf(ReportWriter.RenderHtml(r), "logit-lens"));
    }
}
