using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Experiments;
using static SharpLens.Reports.HtmlReport;
using static SharpLens.Reports.HtmlSections;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>
/// Attribution patching against exact patching, per sweep: a scatter of AtP estimate vs exact recovery, Spearman's rank
/// correlation, and the items where they disagree — every item when the study ran both (<c>--method exact</c>), the top K
/// items when it verified AtP (<c>--method atp+verify K</c>); with <c>--method atp</c> alone there is nothing to compare.
/// </summary>
internal sealed class AtpSection(ResultsView v)
{
    internal const string Id = "atp", Title = "Attribution patching vs exact patching";

    /// <summary>One sweep's comparable items: a label, the AtP estimate and the exact recovery of each.</summary>
    internal sealed record Sweep(string Name, string ExactKey, string[] Labels, double[] Atp, double[] Exact, string Kind);

    static readonly Dictionary<string, (string Name, string Kind)> Names = new()
    {
        ["resid_pre_patch_recovery"] = ("Residual stream (layer × position)", "resid"),
        ["attn_out_patch_all_recovery"] = ("Attention outputs (all positions)", "out"),
        ["mlp_out_patch_all_recovery"] = ("MLP outputs (all positions)", "out"),
        ["head_z_patch_all_recovery"] = ("Heads' z", "z"),
        ["head_q_patch_all_recovery"] = ("Heads' queries", "qk"),
        ["head_k_patch_all_recovery"] = ("Key heads", "qk"),
        ["head_v_patch_all_recovery"] = ("Value heads", "v"),
        ["head_pattern_patch_all_recovery"] = ("Heads' patterns", "pattern"),
    };

    static string Label(string exactKey, int l, int j) => exactKey switch
    {
        "resid_pre_patch_recovery" => $"L{l} pos {j}",
        "attn_out_patch_all_recovery" => $"attn L{l}",
        "mlp_out_patch_all_recovery" => $"MLP L{l}",
        "head_k_patch_all_recovery" or "head_v_patch_all_recovery" => $"L{l}G{j}",
        _ => $"L{l}H{j}",
    };

    /// <summary>The sweeps with both sides in the results (full keys first, else atp_verify's items).</summary>
    internal IReadOnlyList<Sweep> Sweeps()
    {
        var list = new List<Sweep>();
        var verified = v.Node("atp_verify")?["sweeps"] as JsonObject;
        foreach (var (atpKey, exactKey) in AtpResult.Keys)
        {
            var (name, kind) = Names[exactKey];
            var a = Grid(atpKey); var e = Grid(exactKey);
            if (a is not null && e is not null && a.Length == e.Length && a.Zip(e).All(p => p.First.Length == p.Second.Length))
            {
                var labels = a.SelectMany((row, l) => row.Select((_, j) => Label(exactKey, l, j))).ToArray();
                list.Add(new(name, exactKey, labels, a.SelectMany(r => r).ToArray(), e.SelectMany(r => r).ToArray(), kind));
            }
            else if (verified?[exactKey] is JsonArray items && items.Count > 0)
            {
                var idx = items.Select(i => Ints(i!["index"]) ?? []).ToArray();
                list.Add(new(name, exactKey, idx.Select(ix => Label(exactKey, ix[0], ix.Length > 1 ? ix[1] : 0)).ToArray(),
                    items.Select(i => Num(i!["atp"]) ?? double.NaN).ToArray(), items.Select(i => Num(i!["exact"]) ?? double.NaN).ToArray(), kind));
            }
        }
        return list;
    }

    /// <summary>A [layer] key as one-column rows, a [layer][…] key as it is.</summary>
    double[][]? Grid(string key) => v.Node(key) is JsonArray arr && arr.Count > 0 && arr[0] is JsonArray ? v.Mat(key)
        : v.Vec(key)?.Select(x => new[] { x }).ToArray();

    public string Render()
    {
        var sweeps = Sweeps();
        if (sweeps.Count == 0)
            return Section(Id, Title, "", v.Has("atp_resid_pre_recovery")
                ? "<p class=\"note\">AtP only (<code>--method atp</code>): no exact patching to compare with; <code>--method atp+verify K</code> patches AtP's top K items of each sweep exactly.</p>"
                : Missing("atp_resid_pre_recovery", "atp_verify"));
        var sb = new StringBuilder("<div class=\"figrow\">");
        var notes = new List<string>();
        foreach (var s in sweeps)
        {
            var ok = Enumerable.Range(0, s.Atp.Length).Where(i => double.IsFinite(s.Atp[i]) && double.IsFinite(s.Exact[i])).ToArray();
            double rho = AtpComparison.Spearman(ok.Select(i => s.Atp[i]).ToArray(), ok.Select(i => s.Exact[i]).ToArray());
            var bad = AtpComparison.Disagreements(ok.Select(i => s.Atp[i]).ToArray(), ok.Select(i => s.Exact[i]).ToArray()).Take(4).Select(i => ok[i]).ToList();
            string rhoText = double.IsNaN(rho) ? "ρ undefined" : $"Spearman ρ = {F(rho, 2)}";
            string worst = bad.Count == 0 ? "AtP and exact patching agree within 0.1 on every item."
                : "Disagree most: " + string.Join("; ", bad.Select(i => $"{H(s.Labels[i])} (AtP {F(s.Atp[i], 2)}, exact {F(s.Exact[i], 2)})")) + ".";
            sb.Append(Fig($"{s.Name}: {rhoText}", Scatter(s, ok), $"{s.Atp.Length} items. {worst}"));
            if (bad.Count > 0) notes.Add($"{H(s.Name)} ({bad.Count}{(bad.Count == 4 ? "+" : "")} items; {Why(s.Kind)})");
        }
        string verify = v.Node("atp_verify")?["k"] is JsonNode k ? $" Exact values for AtP's top {H(k.ToString())} items of each sweep (<code>--method atp+verify</code>)." : "";
        string opts = v.Node("atp_options") is JsonObject o && (o["qk_fix"]?.GetValue<bool>() == true || o["grad_drop"]?.GetValue<bool>() == true)
            ? $" AtP*: {(o["qk_fix"]?.GetValue<bool>() == true ? "QK fix" : "")}{(o["qk_fix"]?.GetValue<bool>() == true && o["grad_drop"]?.GetValue<bool>() == true ? ", " : "")}{(o["grad_drop"]?.GetValue<bool>() == true ? "GradDrop (estimates are magnitudes)" : "")}."
            : "";
        string intro = "Each dot is one patch: AtP's linear estimate from one backward pass (x) against the exact patched run (y); the diagonal is agreement. " +
            "Spearman's ρ says how well AtP ranks the sweep." + verify + opts +
            (notes.Count > 0 ? " Where they disagree: " + string.Join("; ", notes) + "." : " AtP agrees with exact patching throughout.");
        return Section(Id, Title, intro, sb + "</div>");
    }

    /// <summary>The known reason AtP fails on a kind of node (Kramár et al. 2024).</summary>
    static string Why(string kind) => kind switch
    {
        "resid" => "the residual stream: a whole position's state, far from the linear regime",
        "qk" or "pattern" => "attention: a saturated softmax has a vanishing gradient (the QK fix, --qk-fix, recomputes it)",
        _ => "a large patch: the effect is not linear",
    };

    static string Scatter(Sweep s, int[] ok)
    {
        const int size = 240, pad = 34;
        var all = ok.SelectMany(i => new[] { s.Atp[i], s.Exact[i] }).DefaultIfEmpty(0).ToArray();
        double lo = Math.Min(0, all.Min()), hi = Math.Max(0, all.Max());
        if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
        double span = hi - lo; lo -= 0.05 * span; hi += 0.05 * span;
        string X(double x) => (pad + (x - lo) / (hi - lo) * (size - pad - 8)).ToString("0.#", CultureInfo.InvariantCulture);
        string Y(double y) => (size - pad - (y - lo) / (hi - lo) * (size - pad - 8)).ToString("0.#", CultureInfo.InvariantCulture);
        var sb = new StringBuilder($"<svg class=\"scatter\" width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {size} {size}\" role=\"img\">");
        sb.Append($"<line x1=\"{X(lo)}\" y1=\"{Y(lo)}\" x2=\"{X(hi)}\" y2=\"{Y(hi)}\" stroke=\"#9ca3af\" stroke-dasharray=\"4 3\"/>");
        sb.Append($"<line x1=\"{X(lo)}\" y1=\"{Y(0)}\" x2=\"{X(hi)}\" y2=\"{Y(0)}\" stroke=\"#e5e7eb\"/><line x1=\"{X(0)}\" y1=\"{Y(lo)}\" x2=\"{X(0)}\" y2=\"{Y(hi)}\" stroke=\"#e5e7eb\"/>");
        foreach (int i in ok)
            sb.Append($"<circle cx=\"{X(s.Atp[i])}\" cy=\"{Y(s.Exact[i])}\" r=\"3.5\" fill=\"#4c72b0\" fill-opacity=\"0.75\" data-v=\"{F(s.Exact[i], 6)}\" " +
                      $"data-tip=\"{H(s.Labels[i])}: AtP {F(s.Atp[i], 4)}, exact {F(s.Exact[i], 4)}\"/>");
        sb.Append($"<text x=\"{size / 2}\" y=\"{size - 6}\" font-size=\"11\" text-anchor=\"middle\">AtP estimate</text>");
        sb.Append($"<text x=\"11\" y=\"{size / 2}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 11 {size / 2})\">exact recovery</text>");
        sb.Append($"<text x=\"{pad}\" y=\"{size - pad + 12}\" font-size=\"10\">{F(lo, 2)}</text><text x=\"{size - 40}\" y=\"{size - pad + 12}\" font-size=\"10\">{F(hi, 2)}</text>");
        return sb + "</svg>";
    }
}
