using ScottPlot;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>The report's main figures as PNG images, drawn with ScottPlot (1200×700 by default).</summary>
internal static partial class PngFigures
{
    public const int Width = 1200, Height = 700;

    /// <summary>A sans-serif font that is installed (fonts-dejavu-core on Linux), else ScottPlot's default.</summary>
    static readonly string SansFont = new[] { "DejaVu Sans", "Liberation Sans", "Arial", "Segoe UI", "Helvetica" }
        .FirstOrDefault(f => SkiaSharp.SKFontManager.Default.MatchFamily(f) is { } tf && tf.FamilyName == f) ?? Fonts.Default;

    sealed class StopsColormap(string name, string[] stops) : IColormap
    {
        public string Name { get; } = name;
        public Color GetColor(double position)
        {
            var (r, g, b) = Svg.Lerp(stops, position);
            return new Color((byte)r, (byte)g, (byte)b);
        }
    }

    static readonly IColormap DivergingMap = new StopsColormap("SharpLens diverging", Svg.DivergingStops);
    internal static readonly string[] SeriesHex = { "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd" };

    /// <summary>Renders every figure whose data is present, as (file name without extension, PNG bytes).</summary>
    public static IEnumerable<(string name, byte[] png)> Render(ResultsView v)
    {
        var clean = v.TokenStrings("clean") ?? Array.Empty<string>();
        var corr = v.TokenStrings("corrupted") ?? Array.Empty<string>();
        string Tok(int p)
        {
            string c = p < clean.Length ? Visible(clean[p]) : "?", r = p < corr.Length ? Visible(corr[p]) : "?";
            return c == r ? c : c + "→" + r;
        }
        int? last = v.LastPosition();

        if (v.Mat("resid_pre_patch_recovery") is { } resid && Ok(resid))
        {
            var cols = Enumerable.Range(0, resid[0].Length).Select(p => $"{p} {Tok(p)}").ToArray();
            yield return ("resid_pre_patch_recovery", Heatmap(resid, Layers(resid.Length), cols,
                "Residual patching: blocks.L.hook_resid_pre, one position, clean → corrupted", "position (clean → corrupted token)", "layer", "recovery", 1, true));
        }
        foreach (var (suffix, where) in new[] { ("last", "final position"), ("all", "all positions") })
            if (v.Vec($"attn_out_patch_{suffix}_recovery") is { } a && v.Vec($"mlp_out_patch_{suffix}_recovery") is { } m)
                yield return ($"attn_mlp_patch_{suffix}_recovery", Bars(Layers(a.Length),
                    new[] { ("attention (hook_attn_out)", a), ("MLP (hook_mlp_out)", m) }, $"Attention vs MLP output patching at the {where}, clean → corrupted", "recovery", "layer"));
        foreach (var (suffix, where) in new[] { ("last", "final position"), ("all", "all positions") })
            if (v.Mat($"head_z_patch_{suffix}_recovery") is { } z && Ok(z))
                yield return ($"head_z_patch_{suffix}_recovery", Heatmap(z, Layers(z.Length), Heads(z[0].Length),
                    $"Head patching: attn.hook_z of one head at the {where}, clean → corrupted", "head", "layer", "recovery", 1, false));
        if (v.Mat("head_pair_z_patch_last_recovery") is { } pair && Ok(pair))
        {
            string ln = v.Num("head_pair_layer") is double pl ? ((int)pl).ToString() : "?";
            var names = Enumerable.Range(0, pair.Length).Select(h => $"L{ln}H{h}").ToArray();
            yield return ("head_pair_z_patch_last_recovery", Heatmap(pair, names, names,
                $"Head pairs in layer {ln} patched together at the final position, clean → corrupted", "head j", "head i", "recovery", 1, false));
            if (v.Superadditivity(out _) is { } sup && Ok(sup))
                yield return ("head_pair_superadditivity", Heatmap(sup, names, names,
                    $"Head-pair superadditivity in layer {ln}: pair recovery − single recoveries", "head j", "head i", "pair − singles", 0.05, false));
        }
        if (v.Vec("control_resid_pre_patch_last_recovery") is { } ctrl && v.Mat("resid_pre_patch_recovery") is { } rr && Ok(rr) && last is int lp)
        {
            var real = rr.Select(r => r[Math.Min(lp, r.Length - 1)]).ToArray();
            yield return ("control_vs_real_patch", Bars(Layers(real.Length), new[] { ("real: clean → corrupted", real), ("control: unrelated → corrupted", ctrl) },
                "Patching blocks.L.hook_resid_pre at the final position: real vs control source", "recovery", "layer"));
        }
        var abl = new[] { ("attn", "clean"), ("attn", "corrupted"), ("mlp", "clean"), ("mlp", "corrupted") };
        var raw = abl.Select(x => v.AblationRaw(x.Item1, x.Item2)).ToArray();
        if (raw.All(x => x is not null))
            yield return ("zero_ablation_logit_diff", Bars(Layers(raw[0]!.Length), abl.Select((x, i) => ($"{x.Item1} zeroed · {x.Item2} run", raw[i]!.Select(r => r[0]).ToArray())).ToArray(),
                "Zero ablation of hook_attn_out / hook_mlp_out at every position: raw logit diff", "logit diff", "layer"));
        var frac = abl.Select(x => v.AblationFraction(x.Item1, x.Item2)).ToArray();
        if (frac.All(x => x is not null))
            yield return ("zero_ablation_fraction", Bars(Layers(frac[0]!.Length), abl.Select((x, i) => ($"{x.Item1} zeroed · {x.Item2} run", frac[i]!.Select(r => r[0]).ToArray())).ToArray(),
                "Zero ablation: logit diff as a fraction of the run's own baseline", "fraction of baseline", "layer"));
        foreach (var run in new[] { "clean", "corrupted" })
            if (DlaData.Read(v, run) is { } d)
                yield return ($"dla_{run}", DlaBars(d));
        foreach (var run in new[] { "clean", "corrupted" })
            if (v.AblationFraction("head", run) is { } heads && Ok(heads))
                yield return ($"zero_ablation_head_{run}_fraction", Heatmap(heads, Layers(heads.Length), Heads(heads[0].Length),
                    $"Zero ablation of one head (attn.hook_z, every position) on the {run} run: fraction of its baseline kept", "head", "layer", "fraction kept", 0.05, false, centre: 1));
        foreach (var run in new[] { "clean", "corrupted" })
            if (v.Cube($"pattern_last_row_{run}") is { } pattern && TopHeads(v, pattern) is { Count: > 0 } top)
            {
                var rows = top.Select(t => pattern[t.l][t.h]).ToArray();
                var toks = run == "clean" ? clean : corr;
                var cols = Enumerable.Range(0, rows.Max(r => r.Length)).Select(p => $"{p} {(p < toks.Length ? Visible(toks[p]) : "?")}").ToArray();
                if (Ok(rows))
                    yield return ($"attention_final_token_{run}", Heatmap(rows, top.Select(t => $"L{t.l}H{t.h}").ToArray(), cols,
                        $"Attention from the final position ({run} run, hook_pattern), top heads", "key position (token)", "head", "attention", 1, true));
            }
        if (v.Cube("ov_copy_rank") is { } ov && ov.Length > 0 && v.Ints("ov_tokens") is { Length: > 0 } ovTokens
            && ResultsView.Num(v.Root["model"]?["vocab_size"] ?? v.Root["config"]?["vocab_size"]) is double vocab && vocab > 0)
        {
            var label = v.LabelsFor(ovTokens)[0];
            var score = ov.Select(layer => layer.Select(head => head.Length > 0 ? 1 - (head[0] - 1) / vocab : double.NaN).ToArray()).ToArray();
            if (Ok(score))
                yield return ("ov_copy_rank", Heatmap(score, Layers(score.Length), Heads(score[0].Length),
                    $"OV circuit W_V·W_O of each head: does it copy “{Visible(label)}”? 1 − (rank − 1) / vocabulary", "head", "layer", "copy score (1 = top-ranked)", 1, false));
        }
        foreach (var figure in CircuitFigures(v)) yield return figure;
    }

    /// <summary>The heads to show attention for: results' top_heads that exist in the pattern cube.</summary>
    static List<(int l, int h)> TopHeads(ResultsView v, double[][][] pattern) =>
        (v.Node("top_heads") as System.Text.Json.Nodes.JsonArray ?? [])
            .Select(p => ResultsView.Ints(p))
            .Where(p => p is { Length: 2 } && p[0] >= 0 && p[0] < pattern.Length && p[1] >= 0 && p[1] < pattern[p[0]].Length)
            .Select(p => (p![0], p[1])).ToList();

    /// <summary>A grid worth drawing: at least one row, no empty row, and at least one finite value.</summary>
    static bool Ok(double[][] z) => z.Length > 0 && z.All(r => r.Length > 0) && z.Any(r => r.Any(double.IsFinite));

    static string[] Layers(int n) => Enumerable.Range(0, n).Select(l => "L" + l).ToArray();
    static string[] Heads(int n) => Enumerable.Range(0, n).Select(h => "H" + h).ToArray();

    static void Style(Plot plt, string title, string xLabel, string yLabel)
    {
        plt.Font.Set(SansFont);
        plt.Title(title);
        plt.Axes.Title.Label.FontSize = 20;
        plt.XLabel(xLabel); plt.YLabel(yLabel);
        plt.Axes.Bottom.Label.FontSize = 16; plt.Axes.Left.Label.FontSize = 16;
        plt.Axes.Bottom.TickLabelStyle.FontSize = 13; plt.Axes.Left.TickLabelStyle.FontSize = 13;
    }

    static void RotatedTicks(Plot plt, string[] labels)
    {
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Length).Select(i => (double)i).ToArray(), labels);
        if (labels.Length > 8 || labels.Any(l => l.Length > 4))
        {
            plt.Axes.Bottom.TickLabelStyle.Rotation = -50;
            plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plt.Axes.Bottom.MinimumSize = 40 + 7.5f * Math.Min(20, labels.Max(l => l.Length));
        }
    }

    /// <summary>A diverging heatmap centred on 0 with a colour bar; row 0 at the top, labels on both axes.</summary>
    internal static byte[] Heatmap(double[][] z, string[] rows, string[] cols, string title, string xLabel, string yLabel, string quantity, double floor, bool mono,
        double centre = 0, int width = Width, int height = Height)
    {
        var plt = new Plot();
        int nr = z.Length, nc = z.Max(r => r.Length);
        var data = new double[nr, nc];
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < nc; c++) data[r, c] = c < z[r].Length ? z[r][c] : double.NaN;
        var hm = plt.Add.Heatmap(data);
        double m = Svg.SymMax(z.SelectMany(r => r).Select(v => v - centre), floor);
        hm.Colormap = DivergingMap;
        hm.ManualRange = new ScottPlot.Range(centre - m, centre + m);
        hm.Rectangle = new CoordinateRect(-0.5, nc - 0.5, -0.5, nr - 0.5); // cell (r, c) centred on (c, nr - 1 - r)
        hm.RenderStrategy = new ScottPlot.Plottables.Heatmap.RenderStrategies.Rectangles();
        var cb = plt.Add.ColorBar(hm);
        cb.Label = quantity;
        cb.LabelStyle.FontSize = 15;
        cb.LabelStyle.FontName = SansFont;
        cb.Axis.TickLabelStyle.FontName = SansFont;
        cb.Axis.TickLabelStyle.FontSize = 12;
        var cbTicks = new[] { centre - m, centre - m / 2, centre, centre + m / 2, centre + m };
        cb.Axis.SetTicks(cbTicks, cbTicks.Select(t => F(t, m < 0.01 ? 4 : m < 0.1 ? 3 : 2)).ToArray());
        Style(plt, title, xLabel, yLabel);
        RotatedTicks(plt, cols);
        if (mono) plt.Axes.Bottom.TickLabelStyle.FontName = "DejaVu Sans Mono";
        plt.Axes.Left.SetTicks(Enumerable.Range(0, nr).Select(i => (double)(nr - 1 - i)).ToArray(), rows);
        plt.Axes.SetLimits(-0.5, nc - 0.5, -0.5, nr - 0.5);
        if (nr * nc <= 400)
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < nc; c++)
                {
                    if (double.IsNaN(data[r, c])) continue;
                    var t = plt.Add.Text(F(data[r, c], 2), c, nr - 1 - r);
                    t.LabelAlignment = Alignment.MiddleCenter;
                    t.LabelFontSize = nc > 16 ? 9 : 13;
                    t.LabelFontColor = Math.Abs(data[r, c] - centre) > 0.6 * m ? Colors.White : Colors.Black;
                }
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>Grouped bars: one group per category, one colour per series, a zero line and a legend.</summary>
    static byte[] Bars(string[] categories, (string name, double[] values)[] series, string title, string yLabel, string xLabel)
    {
        var plt = new Plot();
        int k = series.Length;
        double w = 0.8 / k;
        var bars = new List<Bar>();
        for (int s = 0; s < k; s++)
        {
            var colour = Color.FromHex(SeriesHex[s % SeriesHex.Length]);
            for (int c = 0; c < categories.Length && c < series[s].values.Length; c++)
                if (!double.IsNaN(series[s].values[c]))
                    bars.Add(new Bar { Position = c - 0.4 + w * (s + 0.5), Value = series[s].values[c], Size = w * 0.92, FillColor = colour, LineWidth = 0 });
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].name, FillColor = colour });
        }
        plt.Add.Bars(bars);
        plt.Add.HorizontalLine(0, 1.2f, Colors.Gray);
        plt.Legend.FontSize = 14;
        plt.ShowLegend(Edge.Bottom);  // below the axes: inside, it would hide bars
        Style(plt, title, xLabel, yLabel);
        RotatedTicks(plt, categories);
        plt.Axes.Margins(0.02, 0.12);
        return plt.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>DLA bars for one run: the components with the largest |contribution|, one bar per candidate token.</summary>
    static byte[] DlaBars(DlaData d)
    {
        var comps = d.Components().Select((c, i) => (c.name, c.values, i, mag: c.values.Where(x => !double.IsNaN(x)).Select(Math.Abs).DefaultIfEmpty(0).Max()))
            .OrderByDescending(c => c.mag).Take(24).OrderBy(c => c.i).ToList();
        var series = Enumerable.Range(0, Math.Min(d.Count, SeriesHex.Length))
            .Select(t => ($"“{Visible(d.Labels[t])}”", comps.Select(c => t < c.values.Length ? c.values[t] : double.NaN).ToArray())).ToArray();
        return Bars(comps.Select(c => c.name).ToArray(), series,
            $"Direct logit attribution at the final position, {d.Run} run (largest {comps.Count} components)", "logit contribution", "component");
    }

    /// <summary>Lines: one per series over the x categories, markers at each point, a zero line and a legend below.</summary>
    internal static byte[] Lines(string[] categories, (string name, double[] values)[] series, string title, string yLabel, string xLabel, int width = Width, int height = Height)
    {
        var plt = new Plot();
        var xs = Enumerable.Range(0, categories.Length).Select(i => (double)i).ToArray();
        for (int s = 0; s < series.Length; s++)
        {
            var sc = plt.Add.Scatter(xs, series[s].values);
            sc.Color = Color.FromHex(SeriesHex[s % SeriesHex.Length]);
            sc.LineWidth = 2; sc.MarkerSize = 6;
            sc.LegendText = series[s].name;
        }
        plt.Add.HorizontalLine(0, 1.2f, Colors.Gray);
        plt.Legend.FontSize = 14;
        plt.ShowLegend(Edge.Bottom);
        Style(plt, title, xLabel, yLabel);
        RotatedTicks(plt, categories);
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }
}
