using ScottPlot;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>The circuit questions' PNG figures: path-patching receivers, head inputs, necessity beside sufficiency and
/// the logit lens (each drawn when its keys are present).</summary>
internal static partial class PngFigures
{
    static IEnumerable<(string name, byte[] png)> CircuitFigures(ResultsView v)
    {
        if (v.Mat("path_patch_to_q_recovery") is { } q && v.Mat("path_patch_to_k_recovery") is { } k && v.Mat("path_patch_to_v_recovery") is { } pv
            && v.Vec("path_patch_to_mlp_recovery") is { } mlp && Ok(q) && Ok(k) && Ok(pv))
        {
            var (z, cols) = CircuitSections.ReceiverGrid(q, k, pv, mlp);
            string sender = v.Ints("path_patch_sender") is { Length: 2 } s ? $"L{s[0]}H{s[1]}" : "the senders";
            yield return ("path_patch_receivers", Heatmap(z, Layers(z.Length), cols,
                $"Path patching from {sender}: receivers' q / k / v and MLP output from the sender-only run", "receiver", "layer", "recovery", 0.05, false));
        }
        if (v.Mat("head_q_patch_all_recovery") is { } hq && v.Mat("head_k_patch_all_recovery") is { } hk && v.Mat("head_v_patch_all_recovery") is { } hv
            && v.Mat("head_pattern_patch_all_recovery") is { } hp && Ok(hq) && Ok(hk) && Ok(hv) && Ok(hp))
        {
            var (z, cols) = CircuitSections.ReceiverGrid(hq, hk, hv, null);
            var all = z.Select((row, l) => row.Concat(hp[l]).ToArray()).ToArray();
            var allCols = cols.Concat(hp[0].Select((_, h) => $"pat H{h}")).ToArray();
            yield return ("head_input_patch_recovery", Heatmap(all, Layers(all.Length), allCols,
                "Head inputs patched at every position, clean → corrupted: q, k, v, pattern", "input", "layer", "recovery", 1, false));
        }
        if (v.Vec("noise_attn_out_all_fraction") is { } na && v.Vec("noise_mlp_out_all_fraction") is { } nm
            && v.Vec("attn_out_patch_all_recovery") is { } da && v.Vec("mlp_out_patch_all_recovery") is { } dm)
        {
            var names = Layers(na.Length).Select(l => "attn " + l).Concat(Layers(nm.Length).Select(l => "MLP " + l)).ToArray();
            yield return ("necessity_sufficiency", Bars(names, [("sufficiency: denoising recovery", da.Concat(dm).ToArray()),
                    ("necessity: 1 − fraction kept when noised", na.Concat(nm).Select(x => 1 - x).ToArray())],
                "Attention and MLP outputs at every position: sufficiency (denoise) beside necessity (noise)", "effect (1 = all of it)", "component"));
        }
        if (v.Vec("logit_lens_logit_diff_clean") is { } c && v.Vec("logit_lens_logit_diff_corrupted") is { } r && c.Length > 0)
            yield return ("logit_lens", Lines(c, r));
    }

    /// <summary>The logit lens: both runs' logit difference over depth, a line each.</summary>
    static byte[] Lines(double[] clean, double[] corrupted)
    {
        var plt = new Plot();
        int n = Math.Max(clean.Length, corrupted.Length);
        var labels = Enumerable.Range(0, n).Select(i => i < n - 1 ? $"L{i} pre" : "final").ToArray();
        foreach (var (name, ys, hex) in new[] { ("clean run", clean, "#c44e52"), ("corrupted run", corrupted, "#4c72b0") })
        {
            var line = plt.Add.Scatter(Enumerable.Range(0, ys.Length).Select(i => (double)i).ToArray(), ys);
            line.Color = Color.FromHex(hex);
            line.LineWidth = 3;
            line.MarkerSize = 9;
            line.LegendText = name;
        }
        plt.Add.HorizontalLine(0, 1.2f, Colors.Gray);
        plt.Legend.FontSize = 14;
        plt.ShowLegend(Edge.Bottom);
        Style(plt, "Logit lens: logit diff read from the residual stream at the final position", "residual stream read at", "logit diff");
        RotatedTicks(plt, labels);
        plt.Axes.Margins(0.05, 0.12);
        return plt.GetImageBytes(Width, Height, ImageFormat.Png);
    }
}
