using System.Text;
using System.Text.Json.Nodes;
using static SharpLens.Reports.HtmlReport;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>Direct logit attribution, parsed from a <c>dla_*</c> object: components × candidate tokens.</summary>
internal sealed record DlaData(string Run, string Key, int[] Tokens, string[] Labels, double[]? Embed, double[][][] Heads, double[][] Mlp, double[][]? AttnBias, double[]? Logits)
{
    public int Count => Tokens.Length;

    /// <summary>Reads the DLA of one run (candidates when present, else answer and wrong); null when absent or malformed.</summary>
    public static DlaData? Read(ResultsView v, string run)
    {
        var o = v.Dla(run, out var key);
        if (o is null) return null;
        var tokens = Ints(o["tokens"]);
        var heads = Cube(o["heads"]);
        var mlp = Mat(o["mlp"]);
        if (tokens is null || heads is null || mlp is null) return null;
        string[] labels = key.StartsWith("dla_candidates", StringComparison.Ordinal) && v.Node("candidates") is JsonObject c
            && Strs(c["strings"]) is { } s && Ints(c["tokens"]) is { } ct && ct.SequenceEqual(tokens) ? s : v.LabelsFor(tokens);
        return new DlaData(run, key, tokens, labels, Vec(o["embed"]), heads, mlp, Mat(o["attn_bias"]), Vec(o["logits"]));
    }

    /// <summary>Every component as (name, value for candidate t), in model order.</summary>
    public IEnumerable<(string name, double[] values)> Components()
    {
        if (Embed is not null) yield return ("embed", Embed);
        for (int l = 0; l < Heads.Length; l++)
        {
            for (int h = 0; h < Heads[l].Length; h++) yield return ($"L{l}H{h}", Heads[l][h]);
            if (AttnBias is not null && l < AttnBias.Length) yield return ($"L{l} attn bias", AttnBias[l]);
            if (l < Mlp.Length) yield return ($"MLP{l}", Mlp[l]);
        }
    }
}

/// <summary>The DLA section of report.html: one layer × (heads, MLP) heatmap per run and candidate token.</summary>
internal static class DlaSection
{
    public static string Render(ResultsView v, string lastDesc)
    {
        const string title = "Direct logit attribution";
        var sb = new StringBuilder();
        foreach (var run in new[] { "clean", "corrupted" })
        {
            var d = DlaData.Read(v, run);
            if (d is null) { sb.Append(Missing($"dla_candidates_{run}", $"dla_{run}")); continue; }
            int L = d.Heads.Length, nh = d.Heads[0].Length;
            bool bias = d.AttnBias is not null;
            var cols = Enumerable.Range(0, nh).Select(h => "H" + h).Append("MLP").Concat(bias ? new[] { "attn bias" } : Array.Empty<string>()).ToArray();
            double Cell(int l, int c, int t) => c < nh ? (c < d.Heads[l].Length ? At(d.Heads[l][c], t) : double.NaN)
                : c == nh ? (l < d.Mlp.Length ? At(d.Mlp[l], t) : double.NaN) : (l < d.AttnBias!.Length ? At(d.AttnBias[l], t) : double.NaN);
            double m = Svg.SymMax(Enumerable.Range(0, d.Count).SelectMany(t => Enumerable.Range(0, L).SelectMany(l => Enumerable.Range(0, cols.Length).Select(c => Cell(l, c, t)))), 0.01);
            sb.Append($"<h3>{run} run <span class=\"id\">(<code>{H(d.Key)}</code>)</span></h3><div class=\"figrow\">");
            for (int t = 0; t < d.Count; t++)
            {
                int tt = t;
                var z = Enumerable.Range(0, L).Select(l => Enumerable.Range(0, cols.Length).Select(c => Cell(l, c, tt)).ToArray()).ToArray();
                string nm = Visible(d.Labels[t]);
                var chart = Svg.Heatmap(z, Enumerable.Range(0, L).Select(l => "L" + l).ToArray(), cols, Svg.DivergingStops, x => 0.5 + x / (2 * m),
                    (l, c) => $"{(c < nh ? $"L{l}H{c}" : c == nh ? $"MLP{l}" : $"L{l} attn bias")} → “{nm}” ({run} run): {F(z[l][c], 4)}", null, "component", "layer");
                string extra = (d.Embed is not null ? $" Embedding: {F(At(d.Embed, t), 3)}." : "") + (d.Logits is not null ? $" Total logit: {F(At(d.Logits, t), 3)}." : "");
                sb.Append($"<figure class=\"fig\"><h3>“{H(nm)}” <span class=\"id\">#{d.Tokens[t]}</span></h3>");
                sb.Append(Svg.Legend(Svg.DivergingStops, "−" + F(m, 2), "0", "+" + F(m, 2), "logit contribution"));
                sb.Append(chart).Append($"<figcaption>No patching: the unpatched {run} run at {H(lastDesc)}. Each head's <code>blocks.L.attn.hook_result</code> and each " +
                    $"<code>blocks.L.hook_mlp_out</code>, divided by the run's final RMS scale, dotted with w_final ⊙ W_U[“{H(nm)}”]; colour = direct contribution to that logit.{extra}</figcaption></figure>");
            }
            sb.Append("</div>");
        }
        return Section("dla", title, "Which components write the answer directly into the logits, for every candidate token.", sb.ToString());
    }

    static double At(double[] a, int i) => i < a.Length ? a[i] : double.NaN;
}
