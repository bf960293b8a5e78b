using System.Text;
using System.Text.Json.Nodes;
using static SharpLens.Reports.HtmlReport;
using static SharpLens.Reports.HtmlSections;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>
/// The report sections of the circuit questions (EXPERIMENTS.md): what reads the sender (path patching), which input of a
/// head carries the signal (q/k/v/pattern patching), necessity vs sufficiency (noising beside denoising) and the logit
/// lens. Each opens with what the numbers say, computed from them, and skips itself with a note when its keys are missing.
/// </summary>
internal sealed class CircuitSections(ResultsView v)
{
    const string CleanColour = "#c44e52", CorrColour = "#4c72b0";
    static readonly string[] InputColours = ["#8c8c8c", "#4c72b0", "#55a868", "#dd8452", "#8172b3"];

    static string[] Layers(int n) => Enumerable.Range(0, n).Select(l => "L" + l).ToArray();

    /// <summary>Rows = layers, columns = q heads | k kv-heads | v kv-heads (| MLP): one grid for every receiver.</summary>
    internal static (double[][] Z, string[] Cols) ReceiverGrid(double[][] q, double[][] k, double[][] vv, double[]? mlp)
    {
        var cols = q[0].Select((_, h) => $"q H{h}").Concat(k[0].Select((_, g) => $"k G{g}")).Concat(vv[0].Select((_, g) => $"v G{g}"))
            .Concat(mlp is null ? [] : ["MLP"]).ToArray();
        var z = q.Select((row, l) => row.Concat(k[l]).Concat(vv[l]).Concat(mlp is null ? [] : [mlp[l]]).ToArray()).ToArray();
        return (z, cols);
    }

    string Senders() => v.Node("path_patch_senders") is JsonArray s && s.Count > 0
        ? string.Join(" + ", s.Select(x => Ints(x) is { Length: 2 } p ? $"L{p[0]}H{p[1]}" : "?"))
        : v.Ints("path_patch_sender") is { Length: 2 } one ? $"L{one[0]}H{one[1]}" : "the sender";

    public string PathPatching()
    {
        const string id = "path", title = "Path patching: what reads the sender";
        var q = v.Mat("path_patch_to_q_recovery"); var k = v.Mat("path_patch_to_k_recovery"); var vv = v.Mat("path_patch_to_v_recovery");
        var mlp = v.Vec("path_patch_to_mlp_recovery");
        if (q is null || k is null || vv is null || mlp is null)
            return Section(id, title, "", Missing("path_patch_to_q_recovery", "path_patch_to_mlp_recovery"));
        string senders = Senders();
        var (z, cols) = ReceiverGrid(q, k, vv, mlp);
        var top = z.SelectMany((row, l) => row.Select((x, c) => (Name: c == cols.Length - 1 ? $"MLP L{l}" : $"L{l} {cols[c]}", V: x)))
            .OrderByDescending(x => Math.Abs(x.V)).Take(3).ToList();
        var sb = new StringBuilder("<div class=\"figrow\">");
        sb.Append(DivFigure("Exact path (Wang et al.)", z, Layers(z.Length), cols, (l, c) => $"{(c == cols.Length - 1 ? $"MLP L{l}" : $"L{l} {cols[c]}")}: recovery {F(z[l][c], 4)}",
            $"Stage 1: the corrupted prompt with every head's <code>attn.hook_z</code> frozen to its corrupted value except {H(senders)}'s, taken from the clean run (MLPs recomputed). " +
            "Stage 2: a plain corrupted run with one receiver's <code>hook_q</code>, <code>hook_k</code> or <code>hook_v</code> slice (H = query head, G = key/value head), or a layer's " +
            "<code>hook_mlp_out</code>, taken from stage 1 at every position; colour = recovery. Receivers that cannot read the sender are 0.", "recovery", 0.05, null, "receiver", "layer"));
        var dq = v.Mat("path_patch_direct_to_q_recovery"); var dk = v.Mat("path_patch_direct_to_k_recovery"); var dv = v.Mat("path_patch_direct_to_v_recovery");
        if (dq is not null && dk is not null && dv is not null)
        {
            var (d, dcols) = ReceiverGrid(dq, dk, dv, null);
            sb.Append(DivFigure("Direct path (TransformerLens)", d, Layers(d.Length), dcols, (l, c) => $"L{l} {dcols[c]}: recovery {F(d[l][c], 4)}",
                $"{H(senders)}'s clean − corrupted <code>hook_result</code> added to the receiver's input residual only (no MLP in between), that receiver's q, k or v computed from it; colour = recovery.",
                "recovery", 0.05, null, "receiver", "layer"));
            var diff = d.Select((row, l) => row.Select((x, c) => x - z[l][c]).ToArray()).ToArray();
            sb.Append(DivFigure("Direct − exact", diff, Layers(diff.Length), dcols, (l, c) => $"L{l} {dcols[c]}: direct − exact {F(diff[l][c], 4)}",
                "What the sender's signal gains or loses on its way through the MLPs between it and the receiver (exact includes them, direct does not).", "difference", 0.01, null, "receiver", "layer"));
        }
        string resid = v.Num("path_patch_to_resid_final_recovery") is double r ? $" Through the MLPs and the residual stream alone (no other head reads it) {H(senders)} recovers <b>{F(r, 3)}</b>." : "";
        string finds = $"Strongest receivers of {H(senders)}: {string.Join(", ", top.Select(t => $"{H(t.Name)} ({F(t.V, 3)})"))}.";
        return Section(id, title, "Which later components read the sender head's output (“what amplifies it”). " + finds + resid, sb + "</div>");
    }

    public string HeadInputs()
    {
        const string id = "head-inputs", title = "Which input of a head carries the signal";
        var q = v.Mat("head_q_patch_all_recovery"); var k = v.Mat("head_k_patch_all_recovery");
        var vv = v.Mat("head_v_patch_all_recovery"); var pat = v.Mat("head_pattern_patch_all_recovery");
        if (q is null || k is null || vv is null || pat is null)
            return Section(id, title, "", Missing("head_q_patch_all_recovery", "head_pattern_patch_all_recovery"));
        var z = v.Mat("head_z_patch_all_recovery");
        int group = Math.Max(1, q[0].Length / Math.Max(1, k[0].Length));
        var heads = FocusHeads(z ?? q);
        var series = new List<BarSeries>();
        if (z is not null) series.Add(new("z (output)", heads.Select(x => z[x.l][x.h]).ToArray(), InputColours[0]));
        series.Add(new("q", heads.Select(x => q[x.l][x.h]).ToArray(), InputColours[1]));
        series.Add(new("k", heads.Select(x => k[x.l][x.h / group]).ToArray(), InputColours[2]));
        series.Add(new("v", heads.Select(x => vv[x.l][x.h / group]).ToArray(), InputColours[3]));
        series.Add(new("pattern", heads.Select(x => pat[x.l][x.h]).ToArray(), InputColours[4]));
        var sb = new StringBuilder("<div class=\"figrow\">");
        sb.Append(Fig("Side by side per head", Svg.GroupedBars(heads.Select(x => $"L{x.l}H{x.h}").ToArray(), series, "recovery", "head"),
            "Each input of the head patched alone from the clean run into the corrupted run at every position: <code>attn.hook_q</code> (before rotary), " +
            $"<code>hook_k</code> and <code>hook_v</code> of the head's key/value head{(group > 1 ? $" (shared by {group} query heads)" : "")}, the whole <code>hook_pattern</code>; " +
            "<code>hook_z</code> (the head's output) for scale. Bar = recovery."));
        var (grid, cols) = ReceiverGrid(q, k, vv, null);
        var all = grid.Select((row, l) => row.Concat(pat[l]).ToArray()).ToArray();
        var allCols = cols.Concat(pat[0].Select((_, h) => $"pat H{h}")).ToArray();
        sb.Append(DivFigure("Every head", all, Layers(all.Length), allCols, (l, c) => $"L{l} {allCols[c]}: recovery {F(all[l][c], 4)}",
            "The same patches for every head of every layer (q and pattern per query head H, k and v per key/value head G); colour = recovery.", "recovery", 1, null, "input", "layer"));
        var finds = heads.Take(3).Select(x =>
        {
            var parts = new (string, double)[] { ("q", q[x.l][x.h]), ("k", k[x.l][x.h / group]), ("v", vv[x.l][x.h / group]), ("pattern", pat[x.l][x.h]) };
            var best = parts.MaxBy(p => Math.Abs(p.Item2));
            return $"L{x.l}H{x.h}: {best.Item1} ({F(best.Item2, 2)})";
        });
        return Section(id, title, "Whether a head's effect comes through where it looks (query, key, pattern) or what it moves (value). Largest input per head: "
            + H(string.Join("; ", finds)) + ".", sb + "</div>");
    }

    /// <summary>Top heads: <c>top_heads</c>, else the largest |recovery| of <paramref name="grid"/>.</summary>
    List<(int l, int h)> FocusHeads(double[][] grid)
    {
        if (v.Node("top_heads") is JsonArray a && a.Count > 0)
            return a.Select(Ints).Where(x => x is { Length: 2 } && x[0] < grid.Length && x[1] < grid[x[0]].Length).Select(x => (x![0], x[1])).ToList();
        return grid.SelectMany((row, l) => row.Select((x, h) => (l, h, x))).OrderByDescending(t => Math.Abs(t.x)).Take(4).Select(t => (t.l, t.h)).ToList();
    }

    public string Necessity()
    {
        const string id = "necessity", title = "Necessity and sufficiency";
        var na = v.Vec("noise_attn_out_all_fraction"); var nm = v.Vec("noise_mlp_out_all_fraction"); var nh = v.Mat("noise_head_z_all_fraction");
        if (na is null || nm is null || nh is null) return Section(id, title, "", Missing("noise_attn_out_all_fraction", "noise_head_z_all_fraction"));
        var da = v.Vec("attn_out_patch_all_recovery"); var dm = v.Vec("mlp_out_patch_all_recovery"); var dh = v.Mat("head_z_patch_all_recovery");
        var za = v.Vec("zero_ablate_attn_clean_fraction"); var zm = v.Vec("zero_ablate_mlp_clean_fraction"); var zh = v.AblationFraction("head", "clean");
        var rows = new List<(string Name, double? Denoise, double Noise, double? Zero)>();
        for (int l = 0; l < na.Length; l++) rows.Add(($"attn L{l}", da?[l], na[l], za?[l]));
        for (int l = 0; l < nm.Length; l++) rows.Add(($"MLP L{l}", dm?[l], nm[l], zm?[l]));
        foreach (var (l, h) in FocusHeads(dh ?? nh)) rows.Add(($"L{l}H{h}", dh?[l][h], nh[l][h], zh?[l][h]));
        var table = new StringBuilder("<table class=\"kv\"><thead><tr><th>component</th><th>denoise: corrupted run ← clean (recovery)</th>" +
            "<th>noise: clean run ← corrupted (fraction kept)</th><th>zero-ablated clean run (fraction kept)</th><th>reads as</th></tr></thead><tbody>");
        // Recovery is centred on 0 (nothing restored), fractions kept on 1 (nothing lost): white means "no effect" in every column.
        string Cell(double? x, double centre) => x is double d ? $"<td style=\"background:{Svg.Diverging(d - centre, 1)}\" data-v=\"{F(d, 6)}\">{F(d, 3)}</td>" : "<td>–</td>";
        foreach (var r in rows) table.Append($"<tr><th>{H(r.Name)}</th>{Cell(r.Denoise, 0)}{Cell(r.Noise, 1)}{Cell(r.Zero, 1)}<td>{Verdict(r.Denoise, r.Noise)}</td></tr>");
        table.Append("</tbody></table>");
        string legends = "<div class=\"figrow\">" + Svg.Legend(Svg.DivergingStops, "−1", "0", "+1", "denoise: recovery") +
            Svg.Legend(Svg.DivergingStops, "0", "1", "2", "noise, zero: fraction kept") + "</div>";
        var names = rows.Select(r => r.Name).ToArray();
        var chart = Fig("Sufficiency beside necessity", Svg.GroupedBars(names, [
                new BarSeries("sufficiency: denoising recovery", rows.Select(r => r.Denoise ?? double.NaN).ToArray(), CleanColour),
                new BarSeries("necessity: 1 − fraction kept when noised", rows.Select(r => 1 - r.Noise).ToArray(), CorrColour)], "effect (1 = all of it)", "component"),
            "Denoising runs the corrupted prompt with the component's activation at every position from the clean run (recovery: is it <i>sufficient</i>?); noising runs the clean prompt " +
            "with it from the corrupted run (1 − the fraction of the clean logit difference kept: is it <i>necessary</i>?). Zero ablation, in the table, moves the activation off its distribution and answers neither cleanly.");
        var both = rows.Where(r => Verdict(r.Denoise, r.Noise) == "necessary and sufficient").Select(r => r.Name).ToList();
        string finds = both.Count == 0 ? "No component is both necessary and sufficient on its own." : $"Necessary and sufficient on their own: {H(string.Join(", ", both))}.";
        return Section(id, title, "The 2×2 of patching direction (denoise: clean into corrupted; noise: corrupted into clean) for attention, MLP and the top heads. " + finds,
            "<div class=\"figrow\">" + chart + "</div>" + legends + table);
    }

    static string Verdict(double? denoise, double noise) => Experiments.NoisingResult.Verdict(denoise, noise);

    public string LogitLens()
    {
        const string id = "logit-lens", title = "Logit lens";
        var c = v.Vec("logit_lens_logit_diff_clean"); var k = v.Vec("logit_lens_logit_diff_corrupted");
        if (c is null || k is null) return Section(id, title, "", Missing("logit_lens_logit_diff_clean", "logit_lens_logit_diff_corrupted"));
        int n = Math.Max(c.Length, k.Length);
        var cats = Enumerable.Range(0, n).Select(i => i < n - 1 ? $"L{i} pre" : "final").ToArray();
        var chart = Fig("Logit difference over depth", Svg.Lines(cats, [new BarSeries("clean run", c, CleanColour), new BarSeries("corrupted run", k, CorrColour)], "logit diff", "residual stream read at", Svg.LineStyle.Report),
            "At the final position: <code>blocks.L.hook_resid_pre</code> for each layer L, then the last block's <code>hook_resid_post</code>, each through the final RMSNorm (at its own scale) " +
            "and the unembedding; point = logit(clean answer) − logit(corrupted answer). The last point is the model's own logit difference.");
        int split = Enumerable.Range(0, n).FirstOrDefault(i => i < c.Length && i < k.Length && c[i] > 0 && k[i] < 0, -1);
        string finds = split < 0 ? "The two runs never separate in sign." : $"The runs first separate in sign at {cats[split]} (clean {F(c[split], 2)}, corrupted {F(k[split], 2)}).";
        return Section(id, title, "Where in depth the answer appears: the residual stream read as if it were the last layer. " + finds, chart);
    }
}
