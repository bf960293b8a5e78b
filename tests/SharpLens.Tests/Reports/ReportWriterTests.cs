using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpLens.Reports;
using SharpLens.Tests.Support;
using SkiaSharp;

namespace SharpLens.Tests.Reports;

public class ReportWriterTests
{
    static readonly string[] SectionIds = { "summary", "meta", "tokens", "baselines", "resid", "attn-mlp", "heads", "head-pair", "control", "ablation", "attention", "dla", "ov", "path", "head-inputs", "necessity", "logit-lens", "atp", "timings" };

    [Fact]
    public void Html_is_self_contained()
    {
        string html = ReportWriter.RenderHtml(ReportInput.Build());
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*[""']?\s*(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex(@"https?://", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex(@"<(link|iframe|img|object|embed)\b", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex(@"<script[^>]*\bsrc\s*=", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html);
        Assert.DoesNotMatch(new Regex(@"url\(", RegexOptions.IgnoreCase), html);
    }

    [Fact]
    public void Html_contains_every_section_with_captions_and_legends()
    {
        string html = ReportWriter.RenderHtml(ReportInput.Build());
        foreach (var id in SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.DoesNotContain("class=\"note\"", html); // full input: nothing skipped
        foreach (var title in new[] { "Tokenization", "Baselines", "Residual stream patching", "Attention vs MLP output patching", "Attention head patching",
                     "Head pairs", "Superadditivity", "Control patch vs real patch", "Zero ablation", "Attention from the final token", "Direct logit attribution", "OV circuit copying" })
            Assert.Contains(title, html);
        int figures = Regex.Matches(html, "<figure class=\"fig\"").Count;
        Assert.Equal(figures, Regex.Matches(html, "<figcaption>").Count);
        // 1 resid + 2 attn/mlp + 2 head grids + 2 pair + 1 control + 2 ablation bars + 2 head ablation + 4 top heads + 2×2 DLA + 2 OV
        // + 3 path patching (exact, direct, difference) + 2 head inputs + 1 necessity + 1 logit lens
        Assert.Equal(29 + 4, figures);   // + AtP vs exact: the four swept keys with both sides
        Assert.Contains("Patching <code>blocks.L.hook_resid_pre</code> at one position at a time, from the clean run into the corrupted run; colour = recovery", html);
        Assert.True(Regex.Matches(html, "class=\"legend\"").Count >= 10);
        Assert.Contains("class=\"diff\"", html); // differing position highlighted in the token table
    }

    [Fact]
    public void Html_escapes_token_strings_and_shows_whitespace()
    {
        var r = ReportInput.Build();
        string html = ReportWriter.RenderHtml(r);
        Assert.DoesNotContain(ReportInput.Malicious, html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);
        Assert.Equal(3, Regex.Matches(html, "<script", RegexOptions.IgnoreCase).Count); // the data block, the attention viewer's data and the page script
        Assert.Contains("⏎", html);
        Assert.Contains("·Mango", html); // " Mango" with its space made visible
    }

    [Fact]
    public void Html_carries_the_input_values()
    {
        var r = ReportInput.Build();
        string html = ReportWriter.RenderHtml(r);
        var m = Regex.Match(html, "<script type=\"application/json\" id=\"sharplens-results\">(.*?)</script>", RegexOptions.Singleline);
        Assert.True(m.Success);
        Assert.True(JsonNode.DeepEquals(r, JsonNode.Parse(m.Groups[1].Value)));
        string V(double v) => Math.Round(v, 6).ToString("0.######", CultureInfo.InvariantCulture);
        var resid = r["resid_pre_patch_recovery"]!.AsArray();
        Assert.Contains($"data-v=\"{V((double)resid[1]![18]!)}\"", html);
        Assert.Contains($"data-v=\"{V((double)r["head_z_patch_all_recovery"]![1]![0]!)}\"", html);
        Assert.Contains($"data-v=\"{V((double)r["dla_candidates_clean"]!["mlp"]![1]![0]!)}\"", html);
        Assert.Contains($"data-v=\"{V((double)r["pattern_last_row_clean"]![1]![0]![12]!)}\"", html);
        Assert.Contains($"data-v=\"{V((double)r["zero_ablate_attn_corrupted_logit_diff"]![1]!)}\"", html);
        Assert.Contains(Math.Round((double)r["clean_logit_diff"]!, 3).ToString(CultureInfo.InvariantCulture), html);
        Assert.Contains("Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1", html);
    }

    [Fact]
    public void Missing_optional_keys_skip_sections_with_a_note()
    {
        var r = ReportInput.Build();
        foreach (var k in new[] { "token_strings", "head_pair_superadditivity", "dla_candidates_clean", "dla_candidates_corrupted", "dla_corrupted",
                     "zero_ablate_head_clean_fraction", "ov_copy_rank", "top_heads", "timings", "control_resid_pre_patch_last_recovery", "model" })
            r.Remove(k);
        string html = ReportWriter.RenderHtml(r);
        foreach (var id in SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.Contains("Skipped: the results have no <code>ov_copy_rank</code>", html);
        Assert.Contains("Skipped: the results have no <code>timings</code>", html);
        Assert.Contains("Derived here from the pair matrix", html);
        Assert.Contains("#427", html); // token ids stand in for missing token strings

        var empty = ReportWriter.RenderHtml(new JsonObject());
        Assert.Equal(SectionIds.Length, Regex.Matches(empty, "<section id=").Count);
        Assert.Empty(ReportWriter.WritePngs(new JsonObject(), Fixtures.TempDir("report-empty")));
    }

    [Fact]
    public void Bare_reference_experiments_of_another_model_render_with_derived_keys()
    {
        // tiny-qwen2's reference holds only the experiment keys: no token strings, candidates, fractions or top heads.
        var r = Fixtures.Json("tiny-qwen2", "reference_experiments.json").AsObject();
        string html = ReportWriter.RenderHtml(r);
        foreach (var id in SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.Contains("Derived here from the pair matrix", html);
        Assert.Contains("Heads, corrupted run", html); // head fractions derived from raw logit diffs and baselines
        Assert.Contains("(<code>dla_clean</code>)", html); // falls back to the answer/wrong DLA
        Assert.Contains("<h3>L", html); // top heads derived from head patching
        var pngs = ReportWriter.WritePngs(r, Fixtures.TempDir("report-tiny"));
        Assert.Equal(14, pngs.Count); // no top_heads or vocabulary size: no attention or OV figures
    }

    [Fact]
    public void Malformed_keys_do_not_break_the_report()
    {
        var r = ReportInput.Build();
        r["resid_pre_patch_recovery"] = "not an array";
        r["head_z_patch_last_recovery"] = new JsonArray(new JsonArray());
        r["pattern_last_row_clean"] = new JsonArray(new JsonArray(new JsonArray()));
        r["top_heads"] = new JsonArray(new JsonArray(99, 99));
        r["ov_copy_rank"] = new JsonArray(new JsonArray(new JsonArray()));
        r["dla_candidates_clean"]!["mlp"] = new JsonArray(new JsonArray(1.0));
        r["head_top_token_strings_clean"] = new JsonArray();
        string html = ReportWriter.RenderHtml(r);
        foreach (var id in SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.Contains("Skipped: the results have no <code>resid_pre_patch_recovery</code>", html);
        Assert.NotEmpty(ReportWriter.WritePngs(r, Fixtures.TempDir("report-bad")));
    }

    [Fact]
    public void Cancelled_before_writing_leaves_no_files()
    {
        string dir = Path.Combine(Fixtures.TempDir("report-cancel"), "out");
        Assert.ThrowsAny<OperationCanceledException>(() => ReportWriter.WriteAll(ReportInput.Build(), dir, new CancellationToken(canceled: true)));
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Null_matrices_skip_their_figures_instead_of_failing_the_report()
    {
        var r = ReportInput.Build();
        foreach (var key in new[] { "head_z_patch_all_recovery", "resid_pre_patch_recovery" })
            r[key] = new JsonArray(r[key]!.AsArray().Select(row => (JsonNode?)new JsonArray(row!.AsArray().Select(_ => (JsonNode?)null).ToArray())).ToArray());
        string dir = Fixtures.TempDir("report-null");
        var names = ReportWriter.WriteAll(r, dir).Select(Path.GetFileName).ToHashSet();
        Assert.DoesNotContain("head_z_patch_all_recovery.png", names);
        Assert.DoesNotContain("resid_pre_patch_recovery.png", names);
        Assert.Contains("head_z_patch_last_recovery.png", names);
        Assert.Contains("report.html", names);
    }

    [Fact]
    public void Tl_processing_shows_the_attention_bias_column()
    {
        var r = ReportInput.Build();
        r["processing"] = "tl";
        r["dla_candidates_clean"] = r["dla_clean_tl"]!.DeepClone();
        string html = ReportWriter.RenderHtml(r);
        Assert.Contains("TransformerLens semantics", html);
        Assert.Contains(">attn bias</text>", html);
        double bias = (double)r["dla_clean_tl"]!["attn_bias"]![1]![0]!;
        Assert.Contains($"data-v=\"{Math.Round(bias, 6).ToString("0.######", CultureInfo.InvariantCulture)}\"", html);
        Assert.Equal(21, ReportWriter.WritePngs(r, Fixtures.TempDir("report-tl")).Count);
    }

    [Fact]
    public void WriteAll_writes_the_page_and_every_png_atomically()
    {
        string dir = Fixtures.TempDir("report");
        var paths = ReportWriter.WriteAll(ReportInput.Build(), dir);
        Assert.Equal(Path.Combine(dir, "report.html"), paths[0]);
        var names = paths.Skip(1).Select(Path.GetFileName).ToHashSet();
        foreach (var n in new[] { "resid_pre_patch_recovery", "attn_mlp_patch_last_recovery", "attn_mlp_patch_all_recovery", "head_z_patch_last_recovery",
                     "head_z_patch_all_recovery", "head_pair_z_patch_last_recovery", "head_pair_superadditivity", "control_vs_real_patch",
                     "zero_ablation_logit_diff", "zero_ablation_fraction", "dla_clean", "dla_corrupted",
                     "zero_ablation_head_clean_fraction", "zero_ablation_head_corrupted_fraction",
                     "attention_final_token_clean", "attention_final_token_corrupted", "ov_copy_rank",
                     "path_patch_receivers", "head_input_patch_recovery", "necessity_sufficiency", "logit_lens" })
            Assert.Contains(n + ".png", names);
        foreach (var p in paths) Assert.True(new FileInfo(p).Length > 1000, p);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));
        Assert.Equal(paths.Count, Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void Pngs_have_the_right_size_and_real_content()
    {
        string dir = Fixtures.TempDir("report-png");
        var paths = ReportWriter.WritePngs(ReportInput.Build(), dir);
        Assert.Equal(21, paths.Count);
        foreach (var p in paths)
        {
            using var bmp = SKBitmap.Decode(p);
            Assert.NotNull(bmp);
            Assert.Equal((1200, 700), (bmp.Width, bmp.Height));
            var (distinct, red, blue) = Census(bmp);
            Assert.True(distinct >= 40, $"{Path.GetFileName(p)}: only {distinct} colours");
            if (Path.GetFileName(p).StartsWith("head_") || Path.GetFileName(p).StartsWith("resid_") || Path.GetFileName(p).StartsWith("zero_ablation_head"))
            {
                Assert.True(red > 200, $"{Path.GetFileName(p)}: {red} red pixels");
                Assert.True(blue > 200, $"{Path.GetFileName(p)}: {blue} blue pixels");
            }
        }
    }

    /// <summary>Distinct colours and counts of strongly red / strongly blue pixels (the diverging scale's ends).</summary>
    internal static (int distinct, int red, int blue) Census(SKBitmap bmp)
    {
        var set = new HashSet<uint>();
        int red = 0, blue = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var c = bmp.GetPixel(x, y);
                set.Add((uint)c);
                if (c.Red > 150 && c.Green < 110 && c.Blue < 110) red++;
                if (c.Blue > 140 && c.Red < 120 && c.Blue > c.Green + 20) blue++;
            }
        return (set.Count, red, blue);
    }
}
