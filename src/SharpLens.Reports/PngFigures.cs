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
        public string[] Stops { get; } = stops;
        public Color GetColor(double position)
        {
            var (r, g, b) = Svg.Lerp(Stops, position);
            return new Color((byte)r, (byte)g, (byte)b);
        }
    }

    static readonly IColormap DivergingMap = new StopsColormap("SharpLens diverging", Svg.DivergingStops);
    static readonly IColormap SequentialMap = new StopsColormap("SharpLens ranks", Svg.SequentialStops);
    static readonly IColormap AttentionMap = new StopsColormap("SharpLens attention", AttentionViewer.Stops);
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
                "Residual patching: blocks.L.hook_resid_pre, one position, clean → corrupted", "position (clean → corrupted token)", "layer", "recovery", 1, true,
                highlight: HtmlReport.Differing(v)));
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
            if (DlaData.Read(v, run) is { } d && DlaGrid(d) is var (dz, dcols) && Ok(dz))
                yield return ($"dla_{run}", Heatmap(dz, Layers(dz.Length), dcols,
                    $"Direct logit attribution at the final position, {run} run: each component's contribution to each candidate's logit", "component → candidate token", "layer",
                    "logit contribution", 0.01, false));
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
                        $"Attention from the final position ({run} run, hook_pattern), top heads", "key position (token)", "head", "attention", true, Scale.Attention,
                        highlight: HtmlReport.Differing(v)));
            }
        if (v.Cube("ov_copy_rank") is { } ov && ov.Length > 0 && ov[0].Length > 0 && ov[0][0].Length > 0
            && ResultsView.Num(v.Root["model"]?["vocab_size"] ?? v.Root["config"]?["vocab_size"]) is double vocab && vocab > 1)
        {
            // One block of heads per token, as the HTML draws one map per token: the rank of the token itself, log scale.
            int nt = ov[0][0].Length, nh = ov[0].Length;
            var ids = v.Ints("ov_tokens");
            var names = Strs(v.Root["ov_token_strings"]) ?? (ids is not null ? v.LabelsFor(ids) : Enumerable.Range(0, nt).Select(t => "token " + t).ToArray());
            var grid = ov.Select(layer => Enumerable.Range(0, nt).SelectMany(t => layer.Select(head => t < head.Length ? head[t] : double.NaN)).ToArray()).ToArray();
            var cols = Enumerable.Range(0, nt).SelectMany(t => Enumerable.Range(0, nh).Select(h => $"{(t < names.Length ? Visible(names[t]) : "?")} H{h}")).ToArray();
            if (Ok(grid))
                yield return ("ov_copy_rank", Heatmap(grid, Layers(grid.Length), cols,
                    $"OV circuit of each head: the rank of the token itself among all {F(vocab, 0)} logits (1 = the head copies it best)", "token · head", "layer",
                    "rank (log scale)", true, Scale.Ranks(vocab)));
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

    /// <summary>How a heatmap's values become colours: the palette, the range of <see cref="Transform"/>ed values it spans,
    /// the colour bar's ticks (at transformed positions, labelled with raw values) and the text of a cell.</summary>
    internal sealed record Scale(IColormap Map, double Lo, double Hi, double[] Ticks, string[] TickLabels, Func<double, double> Transform, Func<double, string> CellText)
    {
        /// <summary>Diverging (the HTML's <see cref="Svg.DivergingStops"/>), symmetric around <paramref name="centre"/>.</summary>
        public static Scale Diverging(IEnumerable<double> values, double floor, double centre)
        {
            double m = Svg.SymMax(values.Select(v => v - centre), floor);
            var ticks = new[] { centre - m, centre - m / 2, centre, centre + m / 2, centre + m };
            return new(DivergingMap, centre - m, centre + m, ticks, ticks.Select(t => F(t, m < 0.01 ? 4 : m < 0.1 ? 3 : 2)).ToArray(), x => x, x => F(x, 2));
        }

        /// <summary>Ranks 1 … <paramref name="vocab"/> on a log scale, the HTML's <see cref="Svg.SequentialStops"/> (dark = rank 1).</summary>
        public static Scale Ranks(double vocab)
        {
            double T(double r) => Math.Log(Math.Max(1, r)) / Math.Log(Math.Max(2, vocab));
            var ranks = new[] { 1.0, 10, 100, 1000, 10000, 100000 }.Where(r => r < vocab * 0.7).Append(vocab).ToArray();
            return new(SequentialMap, 0, 1, ranks.Select(T).ToArray(), ranks.Select(r => F(r, 0)).ToArray(), T, x => F(x, 0));
        }

        /// <summary>Attention weights on the absolute scale 0 → 1 (the viewer's <see cref="AttentionViewer.Stops"/>).</summary>
        public static Scale Attention { get; } = new(AttentionMap, 0, 1, [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"], x => x, x => F(x, 2));
    }

    /// <summary>A diverging heatmap centred on <paramref name="centre"/> (0 for recovery and DLA, 1 for fractions kept) with a colour bar.</summary>
    internal static byte[] Heatmap(double[][] z, string[] rows, string[] cols, string title, string xLabel, string yLabel, string quantity, double floor, bool mono,
        double centre = 0, int width = Width, int height = Height, ISet<int>? highlight = null) =>
        Heatmap(z, rows, cols, title, xLabel, yLabel, quantity, mono, Scale.Diverging(z.SelectMany(r => r), floor, centre), width, height, highlight);

    /// <summary>A heatmap on <paramref name="scale"/> with a colour bar; row 0 at the top, labels on both axes, the columns in
    /// <paramref name="highlight"/> outlined (as the HTML outlines differing positions).</summary>
    internal static byte[] Heatmap(double[][] z, string[] rows, string[] cols, string title, string xLabel, string yLabel, string quantity, bool mono,
        Scale scale, int width = Width, int height = Height, ISet<int>? highlight = null)
    {
        var plt = new Plot();
        int nr = z.Length, nc = z.Max(r => r.Length);
        var data = new double[nr, nc];
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < nc; c++) data[r, c] = c < z[r].Length ? scale.Transform(z[r][c]) : double.NaN;
        var hm = plt.Add.Heatmap(data);
        hm.Colormap = scale.Map;
        hm.ManualRange = new ScottPlot.Range(scale.Lo, scale.Hi);
        hm.Rectangle = new CoordinateRect(-0.5, nc - 0.5, -0.5, nr - 0.5); // cell (r, c) centred on (c, nr - 1 - r)
        hm.RenderStrategy = new ScottPlot.Plottables.Heatmap.RenderStrategies.Rectangles();
        var cb = plt.Add.ColorBar(hm);
        cb.Label = quantity;
        cb.LabelStyle.FontSize = 15;
        cb.LabelStyle.FontName = SansFont;
        cb.Axis.TickLabelStyle.FontName = SansFont;
        cb.Axis.TickLabelStyle.FontSize = 12;
        cb.Axis.SetTicks(scale.Ticks, scale.TickLabels);
        Style(plt, title, xLabel, yLabel);
        RotatedTicks(plt, cols);
        if (mono) plt.Axes.Bottom.TickLabelStyle.FontName = "DejaVu Sans Mono";
        plt.Axes.Left.SetTicks(Enumerable.Range(0, nr).Select(i => (double)(nr - 1 - i)).ToArray(), rows);
        plt.Axes.SetLimits(-0.5, nc - 0.5, -0.5, nr - 0.5);
        foreach (int c in highlight ?? new HashSet<int>())
        {
            if (c < 0 || c >= nc) continue;
            var box = plt.Add.Rectangle(c - 0.5, c + 0.5, -0.5, nr - 0.5);
            box.FillStyle.Color = Colors.Transparent;
            box.LineStyle.Color = Color.FromHex("#f59e0b");
            box.LineStyle.Width = 3;
        }
        if (nr * nc <= 400)
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < nc; c++)
                {
                    if (c >= z[r].Length || double.IsNaN(z[r][c])) continue;
                    var t = plt.Add.Text(scale.CellText(z[r][c]), c, nr - 1 - r);
                    t.LabelAlignment = Alignment.MiddleCenter;
                    t.LabelFontSize = nc > 16 ? 9 : 13;
                    var (cr, cg, cbl) = Svg.Lerp(StopsOf(scale.Map), (data[r, c] - scale.Lo) / (scale.Hi - scale.Lo));
                    t.LabelFontColor = 0.299 * cr + 0.587 * cg + 0.114 * cbl < 110 ? Colors.White : Colors.Black;
                }
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }

    static string[] StopsOf(IColormap map) => map is StopsColormap s ? s.Stops : Svg.DivergingStops;

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

    /// <summary>DLA as the HTML draws it: rows = layers, columns = H0 … Hn and MLP (and attn bias) for each candidate token.</summary>
    static (double[][] z, string[] cols) DlaGrid(DlaData d)
    {
        int nh = d.Heads[0].Length;
        bool bias = d.AttnBias is not null;
        var parts = Enumerable.Range(0, nh).Select(h => "H" + h).Append("MLP").Concat(bias ? ["bias"] : Array.Empty<string>()).ToArray();
        static double At(double[] a, int i) => i < a.Length ? a[i] : double.NaN;
        double Cell(int l, int c, int t) => c < nh ? (c < d.Heads[l].Length ? At(d.Heads[l][c], t) : double.NaN)
            : c == nh ? (l < d.Mlp.Length ? At(d.Mlp[l], t) : double.NaN) : (l < d.AttnBias!.Length ? At(d.AttnBias[l], t) : double.NaN);
        var z = Enumerable.Range(0, d.Heads.Length).Select(l => Enumerable.Range(0, d.Count).SelectMany(t => Enumerable.Range(0, parts.Length).Select(c => Cell(l, c, t))).ToArray()).ToArray();
        var cols = Enumerable.Range(0, d.Count).SelectMany(t => parts.Select(p => $"{p} → {Visible(d.Labels[t])}")).ToArray();
        return (z, cols);
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
