using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using static SharpLens.Reports.HtmlReport;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>The figure sections of report.html, each built from the results or replaced by a note.</summary>
internal sealed class HtmlSections
{
    readonly ResultsView _v;
    readonly string[] _clean, _corr;
    readonly HashSet<int> _diff;
    readonly int? _last;
    const string AttnColour = "#4c72b0", MlpColour = "#dd8452", CleanColour = "#c44e52", CorrColour = "#4c72b0";

    public HtmlSections(ResultsView v)
    {
        _v = v;
        _clean = v.TokenStrings("clean") ?? Array.Empty<string>();
        _corr = v.TokenStrings("corrupted") ?? Array.Empty<string>();
        _diff = Differing(v);
        _last = v.LastPosition();
    }

    string LastDesc => _last is int p ? $"the final position (pos {p})" : "the final position";

    internal static string Fig(string title, string chart, string caption, string legend = "") =>
        $"<figure class=\"fig\"><h3>{H(title)}</h3>{legend}{chart}<figcaption>{caption}</figcaption></figure>";

    static string[] Layers(int n) => Enumerable.Range(0, n).Select(l => "L" + l).ToArray();
    static string[] Heads(int n) => Enumerable.Range(0, n).Select(h => "H" + h).ToArray();

    string Tok(int pos)
    {
        string c = pos < _clean.Length ? Visible(_clean[pos]) : "?";
        string r = pos < _corr.Length ? Visible(_corr[pos]) : "?";
        return c == r ? c : c + "→" + r;
    }

    /// <summary>A diverging heatmap centred on <paramref name="centre"/> (0 for recovery and DLA, 1 for fractions kept), its
    /// legend and figure; the heatmap scrolls inside the figure when it is wider than the page.</summary>
    internal static string DivFigure(string title, double[][] z, string[] rows, string[] cols, Func<int, int, string> tip, string caption,
        string quantity, double floor = 1, ISet<int>? hl = null, string xTitle = "", string yTitle = "", double centre = 0)
    {
        double m = Svg.SymMax(z.SelectMany(r => r).Select(x => x - centre), floor);
        var chart = Svg.Heatmap(z, rows, cols, Svg.DivergingStops, x => 0.5 + (x - centre) / (2 * m), tip, hl, xTitle, yTitle);
        string lo = centre == 0 ? "−" + F(m, 2) : F(centre - m, 2), hi = centre == 0 ? "+" + F(m, 2) : F(centre + m, 2);
        return Fig(title, "<div class=\"scroll\">" + chart + "</div>", caption, Svg.Legend(Svg.DivergingStops, lo, F(centre, 2), hi, quantity));
    }

    /// <summary>Below this |recovery| at every layer a position is uninformative and folded away in the residual map.</summary>
    const double FoldBelow = 0.05;

    public string Residual()
    {
        var z = _v.Mat("resid_pre_patch_recovery");
        const string title = "Residual stream patching";
        if (z is null) return Section("resid", title, "", Missing("resid_pre_patch_recovery"));
        int n = z.Max(r => r.Length);
        // Keep what can matter — differing positions, the final position and any position some layer moves — so that at
        // 800 px the informative columns are on screen; the full map follows, folded.
        var keep = Enumerable.Range(0, n).Where(p => _diff.Contains(p) || p == n - 1 || z.Any(r => p < r.Length && Math.Abs(r[p]) >= FoldBelow)).ToArray();
        string Tip(int l, int p) => $"blocks.{l}.hook_resid_pre, pos {p} ({Tok(p)}): recovery {F(z[l][p], 4)}";
        const string caption = "Patching <code>blocks.L.hook_resid_pre</code> at one position at a time, from the clean run into the corrupted run; colour = recovery " +
            "(red = towards the clean answer, blue = away from it). Outlined columns are the positions where the prompts differ.";
        string fig;
        if (keep.Length < n && keep.Length > 0)
        {
            var folded = z.Select(r => keep.Select(p => p < r.Length ? r[p] : double.NaN).ToArray()).ToArray();
            var hl = new HashSet<int>(keep.Select((p, i) => (p, i)).Where(t => _diff.Contains(t.p)).Select(t => t.i));
            fig = DivFigure("Recovery by layer and position", folded, Layers(z.Length), keep.Select(p => $"{p} {Tok(p)}").ToArray(),
                (l, i) => Tip(l, keep[i]), caption + $" {n - keep.Length} of {n} positions, where no layer recovers {F(FoldBelow, 2)} or more, are folded away; " +
                "the full map is below.", "recovery", 1, hl, "position (clean token → corrupted token)", "layer");
            string full = DivFigure("Every position", z, Layers(z.Length), Enumerable.Range(0, n).Select(p => $"{p} {Tok(p)}").ToArray(), Tip,
                caption, "recovery", 1, _diff, "position (clean token → corrupted token)", "layer").Replace("<figure class=\"fig\">", "<figure class=\"full\">")
                .Replace("<figcaption>", "<div class=\"cap\">").Replace("</figcaption>", "</div>");
            fig += $"<details class=\"full\"><summary>All {n} positions</summary>{full}</details>";
        }
        else
            fig = DivFigure("Recovery by layer and position", z, Layers(z.Length), Enumerable.Range(0, n).Select(p => $"{p} {Tok(p)}").ToArray(), Tip,
                caption, "recovery", 1, _diff, "position (clean token → corrupted token)", "layer");
        return Section("resid", title, "Where in the residual stream the information that separates the two prompts lives, layer by layer.", fig);
    }

    public string AttnVsMlp()
    {
        const string title = "Attention vs MLP output patching";
        var al = _v.Vec("attn_out_patch_last_recovery"); var ml = _v.Vec("mlp_out_patch_last_recovery");
        var aa = _v.Vec("attn_out_patch_all_recovery"); var ma = _v.Vec("mlp_out_patch_all_recovery");
        var figs = new StringBuilder();
        if (al is not null && ml is not null)
            figs.Append(Fig("Final position only", Svg.GroupedBars(Layers(al.Length), new[] { new BarSeries("attention (hook_attn_out)", al, AttnColour), new BarSeries("MLP (hook_mlp_out)", ml, MlpColour) }, "recovery", "layer"),
                $"Patching <code>blocks.L.hook_attn_out</code> and <code>blocks.L.hook_mlp_out</code> at {LastDesc} only, from the clean run into the corrupted run; bar = recovery."));
        if (aa is not null && ma is not null)
            figs.Append(Fig("All positions", Svg.GroupedBars(Layers(aa.Length), new[] { new BarSeries("attention (hook_attn_out)", aa, AttnColour), new BarSeries("MLP (hook_mlp_out)", ma, MlpColour) }, "recovery", "layer"),
                "Patching <code>blocks.L.hook_attn_out</code> and <code>blocks.L.hook_mlp_out</code> at every position at once, from the clean run into the corrupted run; bar = recovery."));
        if (figs.Length == 0) return Section("attn-mlp", title, "", Missing("attn_out_patch_last_recovery", "mlp_out_patch_last_recovery"));
        return Section("attn-mlp", title, "Which sublayers carry the difference: one attention and one MLP output per layer.", "<div class=\"figrow\">" + figs + "</div>");
    }

    public string HeadGrids()
    {
        const string title = "Attention head patching";
        var figs = new StringBuilder();
        foreach (var (key, where, name) in new[] { ("head_z_patch_last_recovery", LastDesc + " only", "Final position only"), ("head_z_patch_all_recovery", "every position", "All positions") })
        {
            var z = _v.Mat(key);
            if (z is null) { figs.Append(Missing(key)); continue; }
            figs.Append(DivFigure(name, z, Layers(z.Length), Heads(z[0].Length), (l, h) => $"L{l}H{h} ({key}): recovery {F(z[l][h], 4)}",
                $"Patching one head's slice of <code>blocks.L.attn.hook_z</code> at {where}, from the clean run into the corrupted run; colour = recovery.",
                "recovery", 1, null, "head", "layer"));
        }
        return Section("heads", title, "The contribution of each attention head, patched one at a time.", "<div class=\"figrow\">" + figs + "</div>");
    }

    public string HeadPairs()
    {
        const string title = "Head pairs";
        var p = _v.Mat("head_pair_z_patch_last_recovery");
        if (p is null) return Section("head-pair", title, "", Missing("head_pair_z_patch_last_recovery"));
        int layer = (int)(_v.Num("head_pair_layer") ?? -1);
        string ln = layer >= 0 ? layer.ToString(CultureInfo.InvariantCulture) : "?";
        var names = Enumerable.Range(0, p.Length).Select(h => $"L{ln}H{h}").ToArray();
        var sb = new StringBuilder("<div class=\"figrow\">");
        sb.Append(DivFigure("Pair recovery", p, names, names, (i, j) => $"{names[i]} + {names[j]}: recovery {F(p[i][j], 4)}",
            $"Patching heads i and j of layer {ln} together (<code>blocks.{ln}.attn.hook_z</code>) at {LastDesc}, from the clean run into the corrupted run; diagonal = the head alone; colour = recovery.",
            "recovery", 1));
        var s = _v.Superadditivity(out bool derived);
        if (s is not null)
            sb.Append(DivFigure("Superadditivity", s, names, names, (i, j) => $"{names[i]} + {names[j]}: pair − singles = {F(s[i][j], 4)}",
                $"The pair's recovery minus the two heads' single recoveries (same patch: layer {ln}, {LastDesc}, clean → corrupted); red = the heads do more together than apart, blue = they overlap (redundant); diagonal 0." +
                (derived ? " Derived here from the pair matrix (no <code>head_pair_superadditivity</code> in the results)." : ""),
                "pair − singles", 0.05));
        return Section("head-pair", title, $"Pairs of heads in layer {ln} (the layer of the pair sweep), patched together.", sb + "</div>");
    }

    public string Control()
    {
        const string title = "Control patch vs real patch";
        var ctrl = _v.Vec("control_resid_pre_patch_last_recovery");
        var z = _v.Mat("resid_pre_patch_recovery");
        if (ctrl is null || z is null || _last is null) return Section("control", title, "", Missing("control_resid_pre_patch_last_recovery", "resid_pre_patch_recovery"));
        int last = Math.Min(_last.Value, z[0].Length - 1);
        var real = z.Select(r => r[last]).ToArray();
        string src = _v.Str("control_source") == "user" ? "the user's control prompt" : "the default control prompt";
        var fig = Fig("Final position: clean source vs unrelated source",
            Svg.GroupedBars(Layers(real.Length), new[] { new BarSeries("real: clean → corrupted", real, CleanColour), new BarSeries("control: unrelated → corrupted", ctrl, "#8c8c8c") }, "recovery", "layer"),
            $"Patching <code>blocks.L.hook_resid_pre</code> at {LastDesc} into the corrupted run, from the clean run (real) and from the control run ({src}, same length); bar = recovery. " +
            "A control bar far from 0 means the patch mostly destroys the corrupted answer rather than restoring the clean one.");
        return Section("control", title, "How much of the real recovery a patch from an unrelated prompt also “recovers”.", fig);
    }

    public string Ablation()
    {
        const string title = "Zero ablation";
        var rawA = new[] { ("attn", "clean"), ("attn", "corrupted"), ("mlp", "clean"), ("mlp", "corrupted") };
        var raw = rawA.Select(x => _v.AblationRaw(x.Item1, x.Item2)).ToArray();
        var frac = rawA.Select(x => _v.AblationFraction(x.Item1, x.Item2)).ToArray();
        string[] colours = { CleanColour, CorrColour, "#e8a0a2", "#9fb6d8" };
        var sb = new StringBuilder();
        string baseTxt = _v.Num("clean_logit_diff") is double c && _v.Num("corrupted_logit_diff") is double r ? $" Baselines: clean {F(c, 3)}, corrupted {F(r, 3)}." : "";
        if (raw.All(x => x is not null))
        {
            var series = rawA.Select((x, i) => new BarSeries($"{x.Item1} · {x.Item2}", raw[i]!.Select(row => row[0]).ToArray(), colours[i])).ToList();
            sb.Append(Fig("Logit difference with a whole sublayer zeroed", Svg.GroupedBars(Layers(series[0].Values.Length), series, "logit diff", "layer"),
                "Running each prompt on its own (no patching) with <code>blocks.L.hook_attn_out</code> or <code>blocks.L.hook_mlp_out</code> set to 0 at every position; bar = that run's raw logit difference." + baseTxt));
        }
        if (frac.All(x => x is not null))
        {
            var series = rawA.Select((x, i) => new BarSeries($"{x.Item1} · {x.Item2}", frac[i]!.Select(row => row[0]).ToArray(), colours[i])).ToList();
            sb.Append(Fig("Fraction of the run's own baseline", Svg.GroupedBars(Layers(series[0].Values.Length), series, "fraction of baseline", "layer"),
                "The same ablations divided by that run's unablated logit difference: 1 = unaffected, 0 = no preference left, negative = the answer flipped."));
        }
        foreach (var run in new[] { "clean", "corrupted" })
        {
            var f = _v.AblationFraction("head", run);
            if (f is null) continue;
            sb.Append(DivFigure($"Heads, {run} run", f, Layers(f.Length), Heads(f[0].Length), (l, h) => $"L{l}H{h} zeroed in the {run} run: {F(f[l][h], 4)} of baseline",
                $"Running the {run} prompt with one head's <code>blocks.L.attn.hook_z</code> set to 0 at every position; colour = logit difference as a fraction of the {run} baseline, " +
                "centred on 1 (white = unaffected; blue = the head was needed; red = the run does better without it).",
                "fraction kept", 0.05, null, "head", "layer", centre: 1));
        }
        if (sb.Length == 0) return Section("ablation", title, "", Missing("zero_ablate_attn_clean_logit_diff", "zero_ablate_head_clean_fraction"));
        return Section("ablation", title, "Necessity rather than sufficiency: remove a component from a run and see how much of that run's own preference survives.", "<div class=\"figrow\">" + sb + "</div>");
    }

    /// <summary>The top heads: <c>top_heads</c>, else the four with the largest |final-position head patching recovery|.</summary>
    List<(int l, int h)> TopHeads()
    {
        if (_v.Node("top_heads") is JsonArray a)
            return a.Select(Ints).Where(x => x is { Length: 2 }).Select(x => (x![0], x[1])).ToList();
        var z = _v.Mat("head_z_patch_last_recovery");
        if (z is null) return new();
        return z.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).OrderByDescending(t => Math.Abs(t.v)).Take(4).Select(t => (t.l, t.h)).ToList();
    }

    public string Attention()
    {
        const string title = "Attention patterns";
        var heads = TopHeads();
        var pc = _v.Cube("pattern_last_row_clean"); var pr = _v.Cube("pattern_last_row_corrupted");
        string viewer = Viewer(heads);
        if (viewer.Length == 0 && (heads.Count == 0 || (pc is null && pr is null))) return Section("attention", title, "", Missing("pattern_clean", "top_heads", "pattern_last_row_clean"));
        var sb = new StringBuilder(viewer);
        if (heads.Count > 0 && (pc is not null || pr is not null)) sb.Append("<h3>Attention from the final token (top heads)</h3>");
        foreach (var (l, h) in heads)
        {
            var rows = new StringBuilder();
            foreach (var (run, pat, toks) in new[] { ("clean", pc, _clean), ("corrupted", pr, _corr) })
            {
                if (pat is null || l >= pat.Length || h >= pat[l].Length) continue;
                var w = pat[l][h];
                rows.Append($"<div class=\"attn\"><span class=\"runlabel\">{run}</span>");
                for (int k = 0; k < w.Length; k++)
                {
                    string t = k < toks.Length ? toks[k] : "#" + k;
                    var (r, g, b) = Svg.Lerp(AttentionViewer.Stops, w[k]);   // absolute: a diffuse head stays pale
                    bool dark = 0.299 * r + 0.587 * g + 0.114 * b < 120;
                    rows.Append($"<span class=\"atok{(k == w.Length - 1 ? " q" : "")}\" style=\"background:rgb({r},{g},{b});color:{(dark ? "#fff" : "#1f2328")}\" data-v=\"{F(w[k], 6)}\" data-tip=\"{H($"pos {k} “{Visible(t)}”: attention {F(w[k], 4)}")}\">{HtmlToken(t)}</span>");
                }
                rows.Append("</div>");
            }
            string top = TopTokens(l, h);
            sb.Append(Fig($"L{l}H{h}", rows + top,
                $"<code>blocks.{l}.attn.hook_pattern</code> row of the final query position (outlined token) in each unpatched run; colour = attention weight on the absolute scale 0 → 1 (hover for the exact value).",
                Svg.Legend(AttentionViewer.Stops, "0", "0.5", "1", "attention")));
        }
        return Section("attention", title, "Every head's pattern over the prompt's tokens, as CircuitsVis draws it: pick a head from the thumbnails, hover a token to see where it attends (its row) and what attends to it (its column); then the rows of the final token for the most important heads (by final-position head patching, or <code>top_heads</code>).", sb.ToString());
    }

    /// <summary>The attention viewer over <c>pattern_clean</c> and <c>pattern_corrupted</c> (clean and corrupted side by side), or "" without them.</summary>
    string Viewer(List<(int l, int h)> heads)
    {
        var runs = new List<AttentionRun>();
        foreach (var (run, toks) in new[] { ("clean", _clean), ("corrupted", _corr) })
            if (_v.Node("pattern_" + run) is JsonArray a && toks.Length > 0 && FullPattern(a, toks.Length) is { } p)
                runs.Add(new AttentionRun(run, toks, p));
        if (runs.Count == 0) return "";
        if (runs.Count == 2 && (runs[0].Pattern.Length != runs[1].Pattern.Length || runs[0].Pattern[0].Length != runs[1].Pattern[0].Length)) runs.RemoveAt(1);
        return "<div class=\"viewer\" id=\"attention-viewer\">" + AttentionViewer.Fragment(runs, heads.Count > 0 ? heads[0] : (0, 0), "Attention patterns", _diff) + "</div>";
    }

    /// <summary>[layer][head][q][k] JSON → [layer][head][q·T + k], or null when it is not that shape for <paramref name="t"/> tokens.</summary>
    static float[][][]? FullPattern(JsonArray a, int t)
    {
        var layers = new float[a.Count][][];
        for (int l = 0; l < a.Count; l++)
        {
            if (a[l] is not JsonArray hs || hs.Count == 0) return null;
            layers[l] = new float[hs.Count][];
            for (int h = 0; h < hs.Count; h++)
            {
                if (hs[h] is not JsonArray qs || qs.Count != t) return null;
                var flat = new float[t * t];
                for (int q = 0; q < t; q++)
                {
                    var row = qs[q] is JsonArray ks && ks.Count == t ? ks : null;
                    if (row is null) return null;
                    for (int k = 0; k < t; k++) flat[q * t + k] = (float)(Num(row[k]) ?? 0);
                }
                layers[l][h] = flat;
            }
        }
        return layers.Length == 0 || layers.Any(l => l.Length != layers[0].Length) ? null : layers;
    }

    string TopTokens(int l, int h)
    {
        var parts = new List<string>();
        foreach (var run in new[] { "clean", "corrupted" })
        {
            var byLayer = _v.Node("head_top_token_strings_" + run) as JsonArray;
            var byHead = byLayer is not null && l < byLayer.Count ? byLayer[l] as JsonArray : null;
            var list = byHead is not null && h < byHead.Count ? Strs(byHead[h]) : null;
            if (list is null) continue;
            parts.Add($"<div class=\"intro\"><b>promotes ({run}):</b> {string.Join(" ", list.Select(t => $"<span class=\"atok\">{HtmlToken(t)}</span>"))}</div>");
        }
        return string.Concat(parts);
    }

    public string Dla() => DlaSection.Render(_v, LastDesc);

    public string OvRanks()
    {
        const string title = "OV circuit copying";
        var z = _v.Cube("ov_copy_rank");
        if (z is null) return Section("ov", title, "", Missing("ov_copy_rank"));
        int n = z[0][0].Length;
        var ids = _v.Ints("ov_tokens");
        var names = _v.Node("ov_token_strings") is JsonArray sa ? Strs(sa)! : ids is not null ? _v.LabelsFor(ids) : Enumerable.Range(0, n).Select(i => "token " + i).ToArray();
        double vocab = _v.Node("model") is JsonObject m && Num(m["vocab_size"]) is double vs ? vs : Math.Max(2, z.SelectMany(a => a).SelectMany(a => a).DefaultIfEmpty(2).Max());
        var sb = new StringBuilder("<div class=\"figrow\">");
        for (int t = 0; t < n; t++)
        {
            var grid = z.Select(row => row.Select(hv => t < hv.Length ? hv[t] : double.NaN).ToArray()).ToArray();
            string nm = t < names.Length ? Visible(names[t]) : "token " + t;
            var chart = Svg.Heatmap(grid, Layers(grid.Length), Heads(grid[0].Length), Svg.SequentialStops, r => Math.Log(Math.Max(1, r)) / Math.Log(vocab),
                (l, h) => $"L{l}H{h}: rank of “{nm}” = {F(grid[l][h], 0)} of {F(vocab, 0)}", null, "head", "layer", x => F(x, 0));
            sb.Append(Fig($"“{nm}”", chart,
                $"No patching: weights only. For each head, the token's embedding is sent through that head's OV circuit and unembedded; cell = rank of “{H(nm)}” itself among all {F(vocab, 0)} logits (1 = the head copies it best; log colour scale).",
                Svg.Legend(Svg.SequentialStops, "1", "", F(vocab, 0), "rank")));
        }
        return Section("ov", title, "Does a head copy the token it attends to? Low ranks mean the head's OV circuit maps a token onto itself.", sb + "</div>");
    }
}
