using System.Globalization;
using System.Text.Json.Nodes;
using SharpLens.Reports;

namespace SharpLens.Tests.Reports;

/// <summary>The findings of the circuit questions (noising, head inputs, path patching, logit lens) and of a dataset study
/// (how general each finding is), each generated from the numbers: changing a number changes the sentence.</summary>
public class CircuitAndDatasetFindingsTests
{
    static string F2(double x) => Math.Round(x, 2) == 0 ? "0.00" : x.ToString("0.00;−0.00", CultureInfo.InvariantCulture);

    static (int l, int h) Top(JsonObject r, int i = 0) => ((int)r["top_heads"]![i]![0]!, (int)r["top_heads"]![i]![1]!);

    static Finding One(JsonObject r, string anchor, string startsWith) =>
        Assert.Single(StudyFindings.Of(r), f => f.Anchor == anchor && f.Text.StartsWith(startsWith, StringComparison.Ordinal));

    [Fact]
    public void Top_heads_say_what_patching_noising_and_ablation_say_with_the_two_by_two_verdict()
    {
        var r = ReportInput.Build();
        var (l, h) = Top(r);
        r["head_z_patch_all_recovery"]![l]![h] = 0.7;
        r["noise_head_z_all_fraction"]![l]![h] = 0.2;
        r["zero_ablate_head_clean_fraction"]![l]![h] = 0.9;
        string text = One(r, "heads", "Top heads:").Text;
        Assert.Contains($"L{l}H{h}: patching recovers", text);
        Assert.Contains("(all positions 0.70); noised, the clean run keeps 0.20 of its logit diff, zeroed 0.90 — necessary and sufficient", text);
        r["noise_head_z_all_fraction"]![l]![h] = 0.8;
        r["head_z_patch_all_recovery"]![l]![h] = 0.1;
        Assert.Contains("keeps 0.80 of its logit diff, zeroed 0.90 — neither", One(r, "heads", "Top heads:").Text);
        // a top head that moves nothing is summarised, not described
        var (l3, h3) = Top(r, 3);
        r["head_z_patch_last_recovery"]![l3]![h3] = 0.01;
        r["head_z_patch_all_recovery"]![l3]![h3] = -0.01;
        r["noise_head_z_all_fraction"]![l3]![h3] = 0.99;
        text = One(r, "heads", "Top heads:").Text;
        Assert.DoesNotContain($"L{l3}H{h3}: patching", text);
        Assert.Matches($@"L{l3}H{h3} (and L\dH\d )?do(es)? little", text);
    }

    [Fact]
    public void Head_inputs_name_the_input_that_carries_each_top_heads_signal()
    {
        var r = ReportInput.Build();
        var (l, h) = Top(r);
        foreach (var k in new[] { "q", "k", "v", "pattern" }) r[$"head_{k}_patch_all_recovery"]![l]![h] = 0.01;
        r["head_v_patch_all_recovery"]![l]![h] = 0.9;
        Assert.Contains($"L{l}H{h} through what it moves: v recovers 0.90 (q 0.01, k 0.01, pattern 0.01)", One(r, "head-inputs", "Head inputs").Text);
        r["head_pattern_patch_all_recovery"]![l]![h] = -0.95;
        Assert.Contains($"L{l}H{h} through where it looks: pattern recovers −0.95", One(r, "head-inputs", "Head inputs").Text);
    }

    [Fact]
    public void Path_patching_names_the_sender_its_strongest_receivers_and_the_residual_route()
    {
        var r = ReportInput.Build();
        var q = r["path_patch_to_q_recovery"]!.AsArray();
        int last = q.Count - 1;
        q[last]![1] = 0.77;
        r["path_patch_to_resid_final_recovery"] = 0.33;
        var s = r["path_patch_sender"]!.AsArray();
        string text = One(r, "path", "Path patching").Text;
        Assert.StartsWith($"Path patching from L{(int)s[0]!}H{(int)s[1]!}: it is read most by L{last}H1 q", text);
        Assert.Contains("(0.77)", text);
        Assert.Contains("residual stream alone it recovers 0.33", text);
        bool top = r["top_heads"]!.AsArray().Any(t => (int)t![0]! == last && (int)t[1]! == 1);
        Assert.Equal(top, text.Contains($"L{last}H1 q (a top head)"));
    }

    [Fact]
    public void Logit_lens_says_where_in_depth_the_answer_appears()
    {
        var r = ReportInput.Build();
        int n = r["logit_lens_logit_diff_clean"]!.AsArray().Count;
        r["logit_lens_logit_diff_clean"] = new JsonArray(Enumerable.Range(0, n).Select(i => (JsonNode?)(i < 2 ? 0.5 : 2.0 + i)).ToArray());
        r["logit_lens_logit_diff_corrupted"] = new JsonArray(Enumerable.Range(0, n).Select(i => (JsonNode?)(i < 2 ? 0.5 : -1.0 - i)).ToArray());
        Assert.Contains("appears in the residual stream before layer 2", One(r, "logit-lens", "Logit lens").Text);
        Assert.Contains("(+4.00)", One(r, "logit-lens", "Logit lens").Text);
        r["logit_lens_logit_diff_corrupted"] = r["logit_lens_logit_diff_clean"]!.DeepClone();
        Assert.Contains("never prefer opposite answers", One(r, "logit-lens", "Logit lens").Text);
    }

    [Fact]
    public void Dataset_findings_say_how_general_each_top_head_is_from_per_pair_mean_and_ci95()
    {
        const int pairs = 8;
        var r = DatasetReportInput.Build(pairs);
        var f = StudyFindings.Of(r);
        var scope = Assert.Single(f, x => x.Anchor == "baselines");
        Assert.StartsWith($"Dataset: {pairs} of {pairs + 2} pairs pass their baselines (2 excluded: 1 baselines do not hold; 1 answer is not one token)", scope.Text);
        double meanClean = (double)r["mean"]!["clean_logit_diff"]!;
        var ci = r["ci95"]!["clean_logit_diff"]!.AsArray();
        Assert.Contains($"{(meanClean >= 0 ? "+" : "−")}{Math.Abs(meanClean):0.00} on the clean prompts (95% CI", scope.Text);
        Assert.Contains($"{(double)ci[0]!:+0.00;−0.00} to {(double)ci[1]!:+0.00;−0.00}", scope.Text);

        var general = Assert.Single(f, x => x.Text.StartsWith("How general across the pairs:", StringComparison.Ordinal));
        var (l, h) = Top(r);
        double x0 = (double)ReportInput.Build()["head_z_patch_last_recovery"]![l]![h]!;
        int above = Enumerable.Range(0, pairs).Count(i => x0 * DatasetReportInput.Factor(i) > StudyFindings.GeneralityThreshold);
        Assert.Contains($"L{l}H{h} recovers more than 0.20 in {above} of {pairs} pairs ({100.0 * above / pairs:0}%)", general.Text);
        double mean = (double)r["mean"]!["head_z_patch_last_recovery"]![l]![h]!;
        Assert.Equal(x0 * Enumerable.Range(0, pairs).Average(DatasetReportInput.Factor), mean, 9);
        var hc = r["ci95"]!["head_z_patch_last_recovery"]![l]![h]!.AsArray();
        Assert.Contains($"mean {F2(mean)} (95% CI {(double)hc[0]!:+0.00;−0.00} to {(double)hc[1]!:+0.00;−0.00})", general.Text);
        Assert.Contains("is necessary (noised, the clean run keeps at most 0.50) in", general.Text);
        // the single-pair sentences describe the mean
        Assert.Contains(f, x => x.Anchor == "heads" && x.Text.StartsWith($"Top heads: L{l}H{h}: patching recovers {F2(mean)}", StringComparison.Ordinal));
        Assert.Contains(f, x => x.Anchor == "resid");
        // fewer pairs where the head recovers: the share follows
        r["per_pair"]!["head_z_patch_last_recovery"]!.AsArray().Select(p => p!).ToList().ForEach(p => p[l]![h] = 0.0);
        Assert.Contains($"L{l}H{h} recovers more than 0.20 in 0 of {pairs} pairs (0%)", StudyFindings.Of(r).Single(x => x.Text.StartsWith("How general", StringComparison.Ordinal)).Text);
    }

    [Fact]
    public void A_dataset_report_draws_the_mean_figures_and_links_every_finding()
    {
        var r = DatasetReportInput.Build();
        string html = ReportWriter.RenderHtml(r);
        Assert.Contains("How general across the pairs:", html);
        foreach (var id in new[] { "resid", "heads", "necessity", "path", "head-inputs", "logit-lens" })
        {
            int at = html.IndexOf($"<section id=\"{id}\">", StringComparison.Ordinal);
            Assert.True(at >= 0, id);
            string section = html[at..html.IndexOf("</section>", at, StringComparison.Ordinal)];
            Assert.DoesNotContain("Skipped", section);
        }
        // positions are the aligned slots (by offset from the final position), not one prompt's tokens
        Assert.Contains("final−1", html);
        Assert.NotEmpty(ReportWriter.WritePngs(r, Support.Fixtures.TempDir("dataset-png")));
    }
}
