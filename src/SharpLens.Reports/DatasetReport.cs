using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>
/// report.html of a dataset study (results.json with <c>per_pair</c>): the pairs used and excluded, per-pair
/// distributions (strip plots, box plots), means with their bootstrap 95% intervals on every bar and line, zero vs mean
/// vs resample ablation side by side, and mean heatmaps beside their standard deviation.
/// </summary>
internal static class DatasetReport
{
    /// <summary>True for the results of a dataset study.</summary>
    public static bool Is(JsonObject results) => results["per_pair"] is JsonObject;

    /// <summary>The dataset's own sections (pairs and exclusions, per-pair distributions with their intervals, zero vs
    /// mean vs resample ablation, the joint ablation grid, keys not aggregated), placed after the figures of the mean
    /// (<see cref="HtmlReport"/> draws those from <see cref="ResultsView.For"/>), with their own table of contents.</summary>
    public static string Body(JsonObject r, CancellationToken ct)
    {
        var sections = new (string Id, string Title, Func<JsonObject, string> Render)[]
        {
            ("pairs", "Pairs", Pairs), ("pairs-baselines", "Baselines per pair", Baselines), ("pairs-layers", "Attention vs MLP output patching per pair", Layers),
            ("pairs-ablation", "Ablation: zero vs mean vs resample", Ablation), ("pairs-heads", "Heads per pair", Heads), ("pairs-resid", "Residual stream patching: mean and spread", Residual),
            ("pairs-joint", "Joint head ablation", Joint), ("pairs-skipped", "Keys not aggregated", Skipped),
        };
        var body = new StringBuilder("<nav class=\"toc\">Over the pairs: ");
        foreach (var (id, title, _) in sections) body.Append($"<a href=\"#{id}\">{H(title)}</a>");
        body.Append("</nav>");
        foreach (var (id, title, render) in sections)
        {
            ct.ThrowIfCancellationRequested();
            try { body.Append(render(r)); }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NullReferenceException or FormatException)
            {
                body.Append(HtmlReport.Section(id, title, "", $"<p class=\"note\">Skipped: this section's data is malformed ({H(e.GetType().Name)}: {H(e.Message)}).</p>"));
            }
        }
        return body.ToString();
    }

    /// <summary>The dataset file's path: <c>dataset.path</c> as the study writes it, or a bare string.</summary>
    static string? DatasetPath(JsonObject r) => r["dataset"] is JsonObject d ? Str(d["path"]) : Str(r["dataset"]);

    static string Pairs(JsonObject r)
    {
        var sb = new StringBuilder($"<p>{Num(r["n_used"]):0} of {Num(r["n_pairs"]):0} pairs of <code>{H(DatasetPath(r))}</code> pass their baselines " +
            $"(rule <code>{H(Str(r["baseline_rule"]) ?? "sign")}</code>). Intervals: percentile bootstrap over pairs, {Num(r["bootstrap"]?["resamples"]):0} resamples, " +
            $"seed {Num(r["bootstrap"]?["seed"]):0}. Positions are aggregated by {H(Str(r["position_aggregation"]) ?? "offset")}.</p>");
        var excluded = r["excluded"]?.AsArray() ?? [];
        if (excluded.Count == 0) sb.Append("<p>No pair was excluded.</p>");
        else
        {
            sb.Append("<table class=\"excluded\"><tr><th>line</th><th>why it was excluded</th></tr>");
            foreach (var e in excluded) sb.Append($"<tr><td>{Num(e?["line"]):0}</td><td>{H(Str(e?["reason"]))}</td></tr>");
            sb.Append("</table>");
        }
        return HtmlReport.Section("pairs", "Pairs", "", sb.ToString());
    }

    static string Baselines(JsonObject r)
    {
        var keys = new[] { "clean_logit_diff", "corrupted_logit_diff" };
        var per = keys.Select(k => Vec(r["per_pair"]?[k])).ToArray();
        if (per.Any(p => p is null)) return HtmlReport.Section("pairs-baselines", "Baselines per pair", "", HtmlReport.Missing(keys));
        var chart = CiChart(["clean", "corrupted"], [new Series("logit diff", "#1f77b4",
            keys.Select(k => Num(r["mean"]?[k]) ?? double.NaN).ToArray(), keys.Select(k => Interval(r["ci95"]?[k])).ToArray(),
            [per[0]!, per[1]!])], "logit diff", lines: false);
        return HtmlReport.Section("pairs-baselines", "Baselines per pair", "Each dot is a pair; the bar is the mean with its 95% interval.",
            HtmlSections.Fig("clean and corrupted logit differences", chart, "Pairs far from the rest are worth reading in per_pair."));
    }

    static string Layers(JsonObject r)
    {
        var sb = new StringBuilder();
        foreach (var (key, title) in new[] { ("attn_out_patch_last_recovery", "attention output, final position"), ("mlp_out_patch_last_recovery", "MLP output, final position"),
                     ("attn_out_patch_all_recovery", "attention output, every position"), ("mlp_out_patch_all_recovery", "MLP output, every position") })
        {
            if (LayerSeries(r, key, title, "#1f77b4") is not { } s) continue;
            var chart = CiChart(LayerNames(s.Mean.Length), [s], "recovery", lines: true);
            string rom = Vec(r["recovery_of_means"]?[key]) is { } m ? " Recovery of the mean logit diffs: " + string.Join(", ", m.Select((v, l) => $"L{l} {F(v, 2)}")) + "." : "";
            sb.Append(HtmlSections.Fig(title, chart, "Mean over pairs with its 95% interval; grey dots are the pairs." + rom));
        }
        return HtmlReport.Section("pairs-layers", "Attention vs MLP output patching", "",
            sb.Length > 0 ? sb.ToString() : HtmlReport.Missing("attn_out_patch_last_recovery"));
    }

    static string Ablation(JsonObject r)
    {
        var sb = new StringBuilder();
        var colours = new Dictionary<string, string> { ["zero"] = "#d62728", ["mean"] = "#1f77b4", ["resample"] = "#2ca02c" };
        foreach (var part in new[] { "attn", "mlp" })
            foreach (var run in new[] { "clean", "corrupted" })
            {
                var series = colours.Select(kv => LayerSeries(r, $"{kv.Key}_ablate_{part}_{run}_logit_diff", kv.Key, kv.Value)).OfType<Series>().ToList();
                if (series.Count == 0) continue;
                sb.Append(HtmlSections.Fig($"{(part == "attn" ? "attention" : "MLP")} output ablated, {run} run",
                    CiChart(LayerNames(series[0].Mean.Length), series, "logit diff", lines: false),
                    $"Logit diff of the {run} prompt with one layer's output replaced by 0 (zero), by its dataset mean at the same label or offset (mean) " +
                    $"or by another pair's (resample); the {run} baseline is {F(Num(r["mean"]?[$"{run}_logit_diff"]) ?? double.NaN, 2)}. " +
                    "Zero ablation moves the activation off its distribution; mean and resample do not."));
            }
        return HtmlReport.Section("pairs-ablation", "Ablation: zero vs mean vs resample", "", sb.Length > 0 ? sb.ToString() : HtmlReport.Missing("zero_ablate_attn_clean_logit_diff"));
    }

    static string Heads(JsonObject r)
    {
        var sb = new StringBuilder();
        foreach (var (key, title) in new[] { ("head_z_patch_last_recovery", "head patching, final position"), ("head_z_patch_all_recovery", "head patching, every position") })
            sb.Append(MeanAndSpread(r, key, title, "H", "head"));
        // Per-pair distributions of the heads with the largest mean effect.
        if (Mat(r["mean"]?["head_z_patch_last_recovery"]) is { } mean && r["per_pair"]?["head_z_patch_last_recovery"] is JsonArray per)
        {
            var top = mean.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).OrderByDescending(x => Math.Abs(x.v)).Take(8).ToList();
            var values = top.Select(t => per.Select(p => (double)p![t.l]![t.h]!).ToArray()).ToArray();
            sb.Append(HtmlSections.Fig("per-pair recovery of the top heads (final position)", BoxPlot(top.Select(t => $"L{t.l}H{t.h}").ToArray(), values, "recovery"),
                "Box: quartiles; whiskers: 1.5 interquartile ranges; dots: the pairs. A head whose box spans 0 matters for some pairs only."));
        }
        return HtmlReport.Section("pairs-heads", "Heads", "", sb.Length > 0 ? sb.ToString() : HtmlReport.Missing("head_z_patch_last_recovery"));
    }

    static string Residual(JsonObject r)
    {
        var slots = Strs(r["labels"]) ?? Strs(r["offsets"]) ?? (Vec(r["offsets"]) is { } o ? o.Select(x => F(x, 0)).ToArray() : null);
        string content = MeanAndSpread(r, "resid_pre_patch_recovery", "residual stream patching by layer and position", "", "position", slots);
        return HtmlReport.Section("pairs-resid", "Residual stream patching", "", content.Length > 0 ? content : HtmlReport.Missing("resid_pre_patch_recovery"));
    }

    static string Joint(JsonObject r)
    {
        var heads = Mat(r["per_pair"]?["joint_ablate_heads"] is JsonArray a && a.Count > 0 ? a[0] : null);
        var sb = new StringBuilder();
        foreach (var run in new[] { "clean", "corrupted" })
        {
            string key = $"joint_ablate_head_pair_{run}_logit_diff";
            if (Mat(r["mean"]?[key]) is not { } m || heads is null) continue;
            var names = heads.Select(h => $"L{h[0]:0}H{h[1]:0}").ToArray();
            double baseline = Num(r["mean"]?[$"{run}_logit_diff"]) ?? 0;
            sb.Append(HtmlSections.DivFigure($"{run} run: heads i and j zero-ablated together (mean logit diff)", m, names, names,
                (i, j) => $"{names[i]} + {names[j]}: {F(m[i][j])}", $"The diagonal is the head alone. Against the {run} baseline {F(baseline, 2)}: " +
                "a pair that costs much more than its two singles is redundant (each backs the other up).", "logit diff", centre: baseline));
        }
        return HtmlReport.Section("pairs-joint", "Joint head ablation", "", sb.Length > 0 ? sb.ToString() : "<p class=\"note\">Not averaged: the pairs chose different top heads (pass --heads to fix them).</p>");
    }

    static string Skipped(JsonObject r)
    {
        if (r["not_aggregated"] is not JsonObject o || o.Count == 0) return "";
        var sb = new StringBuilder("<ul>");
        foreach (var (k, why) in o) sb.Append($"<li><code>{H(k)}</code>: {H(Str(why))}</li>");
        return HtmlReport.Section("pairs-skipped", "Keys not aggregated", "Their per-pair values are in results.json.", sb.Append("</ul>").ToString());
    }

    /// <summary>The mean heatmap of a [row][col] key beside its standard deviation over pairs.</summary>
    static string MeanAndSpread(JsonObject r, string key, string title, string colPrefix, string colTitle, string[]? colNames = null)
    {
        if (Mat(r["mean"]?[key]) is not { } mean) return "";
        var cols = colNames ?? Enumerable.Range(0, mean[0].Length).Select(c => colPrefix + c).ToArray();
        var rows = LayerNames(mean.Length);
        var std = Mat(r["std"]?[key]);
        var ci = r["ci95"]?[key];
        string Tip(int i, int j) => $"{rows[i]} {cols[j]}: mean {F(mean[i][j])}" + (Interval(ci?[i]?[j]) is var (lo, hi) ? $", 95% CI [{F(lo)}, {F(hi)}]" : "");
        var sb = new StringBuilder(HtmlSections.DivFigure($"{title}: mean", mean, rows, cols, Tip, "Mean recovery over the used pairs (hover: its 95% interval).", "recovery", xTitle: colTitle));
        if (std != null)
        {
            double max = Math.Max(1e-9, std.SelectMany(x => x).Where(double.IsFinite).DefaultIfEmpty(0).Max());
            var chart = Svg.Heatmap(std, rows, cols, Svg.SequentialStops, v => 1 - v / max, (i, j) => $"{rows[i]} {cols[j]}: std {F(std[i][j])}", xTitle: colTitle);
            sb.Append(HtmlSections.Fig($"{title}: spread (standard deviation over pairs)", "<div class=\"scroll\">" + chart + "</div>",
                "Where the spread is as large as the mean, the effect is specific to some pairs.", Svg.Legend(Svg.SequentialStops, F(max, 2), "", "0", "std")));
        }
        return sb.ToString();
    }

    sealed record Series(string Name, string Color, double[] Mean, (double Lo, double Hi)?[] Ci, double[][]? PerPair);

    static Series? LayerSeries(JsonObject r, string key, string name, string color)
    {
        if (Vec(r["mean"]?[key]) is not { } mean) return null;
        var ci = Enumerable.Range(0, mean.Length).Select(l => Interval(r["ci95"]?[key]?[l])).ToArray();
        var per = r["per_pair"]?[key] is JsonArray a ? Enumerable.Range(0, mean.Length).Select(l => a.Select(p => Num(p?[l]) ?? double.NaN).ToArray()).ToArray() : null;
        return new Series(name, color, mean, ci, per);
    }

    static (double Lo, double Hi)? Interval(JsonNode? n) => n is JsonArray a && a.Count == 2 && Num(a[0]) is double lo && Num(a[1]) is double hi ? (lo, hi) : null;

    static string[] LayerNames(int n) => Enumerable.Range(0, n).Select(l => "L" + l).ToArray();

    static string I(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Means with 95% interval whiskers (joined by lines when <paramref name="lines"/>), series side by side per
    /// category, each pair a faint dot (a strip plot).</summary>
    static string CiChart(string[] categories, IReadOnlyList<Series> series, string yTitle, bool lines)
    {
        var all = series.SelectMany(s => s.Mean.Concat(s.Ci.SelectMany(c => c is var (lo, hi) ? new[] { lo, hi } : []))
            .Concat(s.PerPair?.SelectMany(x => x) ?? [])).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double lo0 = Math.Min(0, all.Min()), hi0 = Math.Max(0, all.Max());
        if (hi0 - lo0 < 1e-9) hi0 = lo0 + 1;
        double left = 56, top = 10, plotH = 240, slot = Math.Clamp(640.0 / categories.Length, 36, 90), w = left + slot * categories.Length + 20, h = top + plotH + 46 + 18 * series.Count;
        double Y(double v) => top + plotH * (hi0 - v) / (hi0 - lo0);
        var sb = new StringBuilder($"<svg class=\"chart\" width=\"{I(w)}\" height=\"{I(h)}\" viewBox=\"0 0 {I(w)} {I(h)}\" role=\"img\">");
        foreach (var t in Svg.Ticks(lo0, hi0))
            sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(w - 10)}\" y1=\"{I(Y(t))}\" y2=\"{I(Y(t))}\" stroke=\"{(t == 0 ? "#888" : "#e5e7eb")}\"/><text x=\"{I(left - 6)}\" y=\"{I(Y(t) + 4)}\" class=\"rl\">{H(F(t, 2))}</text>");
        for (int s = 0; s < series.Count; s++)
        {
            var se = series[s];
            double X(int c) => left + slot * c + slot * (s + 1) / (series.Count + 1);
            if (lines)
                sb.Append($"<polyline fill=\"none\" stroke=\"{se.Color}\" stroke-width=\"1.5\" points=\"{string.Join(' ', Enumerable.Range(0, se.Mean.Length).Where(c => double.IsFinite(se.Mean[c])).Select(c => $"{I(X(c))},{I(Y(se.Mean[c]))}"))}\"/>");
            for (int c = 0; c < se.Mean.Length && c < categories.Length; c++)
            {
                double x = X(c);
                if (se.PerPair?[c] is { } dots)
                    for (int i = 0; i < dots.Length; i++)
                        if (double.IsFinite(dots[i])) sb.Append($"<circle class=\"strip\" cx=\"{I(x + ((i * 37) % 11 - 5) * 0.6)}\" cy=\"{I(Y(dots[i]))}\" r=\"2.2\"/>");
                if (se.Ci[c] is var (lo, hi))
                    sb.Append($"<line class=\"ci\" x1=\"{I(x)}\" x2=\"{I(x)}\" y1=\"{I(Y(lo))}\" y2=\"{I(Y(hi))}\"/><line class=\"ci\" x1=\"{I(x - 4)}\" x2=\"{I(x + 4)}\" y1=\"{I(Y(lo))}\" y2=\"{I(Y(lo))}\"/><line class=\"ci\" x1=\"{I(x - 4)}\" x2=\"{I(x + 4)}\" y1=\"{I(Y(hi))}\" y2=\"{I(Y(hi))}\"/>");
                if (double.IsFinite(se.Mean[c]))
                    sb.Append($"<circle cx=\"{I(x)}\" cy=\"{I(Y(se.Mean[c]))}\" r=\"4\" fill=\"{se.Color}\" data-v=\"{F(se.Mean[c], 6)}\"><title>{H($"{se.Name} {categories[c]}: mean {F(se.Mean[c])}" + (se.Ci[c] is var (a, b) ? $", 95% CI [{F(a)}, {F(b)}]" : ""))}</title></circle>");
            }
            sb.Append($"<rect x=\"{I(left)}\" y=\"{I(top + plotH + 34 + 18 * s)}\" width=\"10\" height=\"10\" fill=\"{se.Color}\"/><text x=\"{I(left + 14)}\" y=\"{I(top + plotH + 43 + 18 * s)}\" class=\"lt\" style=\"text-anchor:start\">{H(se.Name)}</text>");
        }
        for (int c = 0; c < categories.Length; c++) sb.Append($"<text x=\"{I(left + slot * c + slot / 2)}\" y=\"{I(top + plotH + 18)}\" class=\"lt\">{H(categories[c])}</text>");
        sb.Append($"<text transform=\"translate(12,{I(top + plotH / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text></svg>");
        return sb.ToString();
    }

    /// <summary>One box per category: quartiles, whiskers to the furthest value within 1.5 IQR, every value a dot.</summary>
    static string BoxPlot(string[] categories, double[][] values, string yTitle)
    {
        var finite = values.SelectMany(v => v).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double lo0 = Math.Min(0, finite.Min()), hi0 = Math.Max(0, finite.Max());
        if (hi0 - lo0 < 1e-9) hi0 = lo0 + 1;
        double left = 56, top = 10, plotH = 220, slot = Math.Clamp(640.0 / Math.Max(1, categories.Length), 40, 90), w = left + slot * categories.Length + 20, h = top + plotH + 30;
        double Y(double v) => top + plotH * (hi0 - v) / (hi0 - lo0);
        var sb = new StringBuilder($"<svg class=\"chart\" width=\"{I(w)}\" height=\"{I(h)}\" viewBox=\"0 0 {I(w)} {I(h)}\" role=\"img\">");
        foreach (var t in Svg.Ticks(lo0, hi0))
            sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(w - 10)}\" y1=\"{I(Y(t))}\" y2=\"{I(Y(t))}\" stroke=\"{(t == 0 ? "#888" : "#e5e7eb")}\"/><text x=\"{I(left - 6)}\" y=\"{I(Y(t) + 4)}\" class=\"rl\">{H(F(t, 2))}</text>");
        for (int c = 0; c < categories.Length; c++)
        {
            var v = values[c].Where(double.IsFinite).Order().ToArray();
            if (v.Length == 0) continue;
            double q1 = Quantile(v, 0.25), med = Quantile(v, 0.5), q3 = Quantile(v, 0.75), iqr = q3 - q1;
            double wlo = v.First(x => x >= q1 - 1.5 * iqr), whi = v.Last(x => x <= q3 + 1.5 * iqr), x0 = left + slot * c + slot / 2;
            sb.Append($"<line class=\"ci\" x1=\"{I(x0)}\" x2=\"{I(x0)}\" y1=\"{I(Y(wlo))}\" y2=\"{I(Y(whi))}\"/>");
            // data-v: the report's script counts a figure drawn when its marks have a size (and shows their tips)
            sb.Append($"<rect data-v=\"{F(med)}\" x=\"{I(x0 - 12)}\" y=\"{I(Y(q3))}\" width=\"24\" height=\"{I(Math.Max(1, Y(q1) - Y(q3)))}\" fill=\"#c6dbef\" stroke=\"#1f2328\"><title>{H($"{categories[c]}: median {F(med)}, quartiles [{F(q1)}, {F(q3)}], {v.Length} pairs")}</title></rect>");
            sb.Append($"<line x1=\"{I(x0 - 12)}\" x2=\"{I(x0 + 12)}\" y1=\"{I(Y(med))}\" y2=\"{I(Y(med))}\" stroke=\"#1f2328\" stroke-width=\"2\"/>");
            for (int i = 0; i < v.Length; i++) sb.Append($"<circle class=\"strip\" cx=\"{I(x0 + 16 + (i * 37) % 9)}\" cy=\"{I(Y(v[i]))}\" r=\"2\"/>");
            sb.Append($"<text x=\"{I(x0)}\" y=\"{I(top + plotH + 18)}\" class=\"lt\">{H(categories[c])}</text>");
        }
        sb.Append($"<text transform=\"translate(12,{I(top + plotH / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text></svg>");
        return sb.ToString();
    }

    static double Quantile(double[] sorted, double q)
    {
        double rank = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
