using System.Text;
using SharpLens.IO;
using SharpLens.Model;

namespace SharpLens.Reports;

/// <summary>
/// A figure drawn from a script: an HTML fragment (inline SVG or the attention viewer; no network, no external file) that
/// <see cref="ToHtml"/> wraps into a self-contained page, and — for heatmaps and line plots — a PNG drawn with ScottPlot
/// in the same palette. <see cref="Save"/> writes either, atomically, by the path's extension.
/// </summary>
public sealed class Figure
{
    readonly Func<int, int, byte[]>? _png;

    internal Figure(string title, string fragment, Func<int, int, byte[]>? png)
    {
        Title = title;
        Fragment = fragment;
        _png = png;
    }

    /// <summary>The figure's title.</summary>
    public string Title { get; }

    /// <summary>The figure as an HTML fragment; its styles and script come with <see cref="ToHtml"/> (the report includes them too).</summary>
    public string Fragment { get; }

    /// <summary>Whether the figure can be drawn as a PNG (heatmaps and line plots; the interactive attention viewer cannot).</summary>
    public bool HasPng => _png is not null;

    /// <summary>The figure as one self-contained HTML page (inline CSS, inline script, inline data; works offline).</summary>
    public string ToHtml() => AttentionViewer.Page(Title, Fragment, HtmlReport.Css, heading: !HasPng);

    /// <summary>The figure as PNG bytes (ScottPlot, the same palette as the HTML).</summary>
    /// <exception cref="NotSupportedException">for a figure without a PNG form (<see cref="HasPng"/> is false).</exception>
    public byte[] ToPng(int width = PngFigures.Width, int height = PngFigures.Height) =>
        _png is null ? throw new NotSupportedException($"“{Title}” is interactive and has no PNG form; save it as .html") : _png(width, height);

    /// <summary>Writes the figure to <paramref name="path"/>: <c>.png</c> as an image, anything else as an HTML page;
    /// written to a temporary file and renamed into place, so the file is complete or absent.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = Path.GetFullPath(path);
        if (Path.GetDirectoryName(path) is { } dir) Directory.CreateDirectory(dir);
        if (path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) AtomicFile.WriteAllBytes(path, ToPng());
        else AtomicFile.WriteAllText(path, ToHtml());
    }
}

/// <summary>
/// Figures for scripts (what CircuitsVis and TransformerLens' plotting helpers give a Python user): the attention viewer
/// for any prompt and cache, and heatmaps and line plots of any result — [layer][pos], [layer][head], … — with axis
/// labels and token labels. Maps use one diverging palette centred on a reference value, in HTML and PNG alike.
/// </summary>
public static class Figures
{
    /// <summary>
    /// The attention viewer (CircuitsVis' <c>attention_patterns</c>): every layer and head as a thumbnail head picker,
    /// the chosen head's full [q_pos, k_pos] pattern with the tokens on both axes, and hovering a token shows where it
    /// attends (its row) and what attends to it (its column). Colours are absolute (0 → 1; a checkbox scales each row to its
    /// maximum).
    /// </summary>
    /// <param name="tokens">The prompt's tokens, one per position (e.g. <c>model.ToStrTokens(text)</c>).</param>
    /// <param name="pattern"><c>[head, q, k]</c> for one layer, <c>[layer, head, q, k]</c>, or a cache's
    /// <c>[1, head, q, k]</c> (read as one layer).</param>
    /// <param name="title">Page title.</param>
    /// <param name="select">The head shown first (layer, head); default L0H0.</param>
    public static Figure AttentionPatterns(string[] tokens, Tensor pattern, string title = "Attention patterns", (int Layer, int Head)? select = null) =>
        Attention([("prompt", tokens, Layers(pattern, tokens.Length))], title, select);

    /// <summary>Two prompts side by side (e.g. clean and corrupted) with one head picker and one colour scale.</summary>
    public static Figure AttentionPatterns(string[] cleanTokens, Tensor cleanPattern, string[] corruptedTokens, Tensor corruptedPattern,
        string title = "Attention patterns: clean and corrupted", (int Layer, int Head)? select = null) =>
        Attention([("clean", cleanTokens, Layers(cleanPattern, cleanTokens.Length)), ("corrupted", corruptedTokens, Layers(corruptedPattern, corruptedTokens.Length))], title, select);

    /// <summary>The viewer for batch item <paramref name="batch"/> of a cache holding every layer's <c>blocks.L.attn.hook_pattern</c>.</summary>
    /// <exception cref="ArgumentException">when the cache has no pattern of layer 0.</exception>
    public static Figure AttentionPatterns(ActivationCache cache, string[] tokens, int batch = 0, string title = "Attention patterns", (int Layer, int Head)? select = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return Attention([("prompt", tokens, FromCache(cache, tokens.Length, batch))], title, select);
    }

    /// <summary>Every layer's pattern [head][q·T + k] of batch item <paramref name="batch"/> in <paramref name="cache"/>.</summary>
    internal static float[][][] FromCache(ActivationCache cache, int t, int batch)
    {
        var layers = new List<float[][]>();
        for (int l = 0; cache.Contains($"blocks.{l}.attn.hook_pattern"); l++)
        {
            var p = cache[$"blocks.{l}.attn.hook_pattern"];   // [batch, head, q, k]
            if (p.Rank != 4 || p.Shape[2] != t || p.Shape[3] != t || (uint)batch >= (uint)p.Shape[0])
                throw new ArgumentException($"blocks.{l}.attn.hook_pattern is {p} — not [batch > {batch}, head, {t}, {t}] for {t} tokens");
            layers.Add(AttentionViewer.Split(p.Slice(batch).ToArray(), 1, p.Shape[1], t)[0]);
        }
        if (layers.Count == 0) throw new ArgumentException("the cache holds no blocks.0.attn.hook_pattern: run with it cached (RunWithCache)");
        return layers.ToArray();
    }

    static Figure Attention((string name, string[] tokens, float[][][] pattern)[] runs, string title, (int, int)? select)
    {
        var frag = AttentionViewer.Fragment(runs.Select(r => new AttentionRun(r.name, r.tokens, r.pattern)).ToList(), select ?? (0, 0), title);
        return new Figure(title, frag, null);
    }

    static float[][][] Layers(Tensor pattern, int t)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return pattern.Rank switch
        {
            3 => AttentionViewer.Split(pattern.Data, 1, pattern.Shape[0], t),
            4 => AttentionViewer.Split(pattern.Data, pattern.Shape[0], pattern.Shape[1], t),
            _ => throw new ArgumentException($"an attention pattern is [head, q, k] or [layer, head, q, k], not {pattern}"),
        };
    }

    /// <summary>
    /// A heatmap of any grid (e.g. recovery [layer][pos], DLA [layer][head]) on a diverging scale centred on
    /// <paramref name="centre"/> (0 for recovery and DLA, 1 for fractions kept), with a legend, axis titles, and the labels of
    /// <paramref name="highlightColumns"/> (e.g. differing positions) marked.
    /// </summary>
    /// <param name="values">Rows of values (NaN = no value, drawn grey).</param>
    /// <param name="rowLabels">One label per row (e.g. <c>L0</c>…).</param>
    /// <param name="columnLabels">One label per column (e.g. <c>"3 ·Mango"</c> for positions, <c>H0</c>… for heads).</param>
    public static Figure Heatmap(double[][] values, string[] rowLabels, string[] columnLabels, string title, string xTitle = "", string yTitle = "",
        string quantity = "value", double centre = 0, ISet<int>? highlightColumns = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0 || values.Any(r => r.Length == 0)) throw new ArgumentException("a heatmap needs at least one row and no empty row");
        if (rowLabels.Length != values.Length) throw new ArgumentException($"{rowLabels.Length} row labels for {values.Length} rows");
        int cols = values.Max(r => r.Length);
        if (columnLabels.Length != cols) throw new ArgumentException($"{columnLabels.Length} column labels for {cols} columns");
        double m = Svg.SymMax(values.SelectMany(r => r).Select(v => v - centre), 1e-9);
        string svg = Svg.Heatmap(values, rowLabels, columnLabels, Svg.DivergingStops, v => 0.5 + (v - centre) / (2 * m),
            (r, c) => $"{rowLabels[r]} · {columnLabels[c]}: {ResultsView.F(values[r][c], 4)}", highlightColumns, xTitle, yTitle);
        string legend = Svg.Legend(Svg.DivergingStops, ResultsView.F(centre - m, 3), ResultsView.F(centre, 3), ResultsView.F(centre + m, 3), quantity);
        string frag = $"<figure class=\"fig\"><h3>{ResultsView.H(title)}</h3><div class=\"scroll\">{svg}</div>{legend}</figure>";
        return new Figure(title, frag, (w, h) => PngFigures.Heatmap(values, rowLabels, columnLabels, title, xTitle, yTitle, quantity, 1e-9, false, centre, w, h, highlightColumns));
    }

    /// <summary>A heatmap of a rank-2 tensor [rows, columns]; see the <c>double[][]</c> overload.</summary>
    public static Figure Heatmap(Tensor values, string[] rowLabels, string[] columnLabels, string title, string xTitle = "", string yTitle = "",
        string quantity = "value", double centre = 0, ISet<int>? highlightColumns = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Rank != 2) throw new ArgumentException($"a heatmap takes a [rows, columns] tensor, not {values}");
        var rows = Enumerable.Range(0, values.Shape[0]).Select(r => values.Slice(r).ToArray().Select(v => (double)v).ToArray()).ToArray();
        return Heatmap(rows, rowLabels, columnLabels, title, xTitle, yTitle, quantity, centre, highlightColumns);
    }

    /// <summary>A line plot: one line per series over the same x categories (layers, positions…), with a zero line and a legend.</summary>
    public static Figure Line(string[] xLabels, IReadOnlyList<(string Name, double[] Values)> series, string title, string xTitle = "", string yTitle = "")
    {
        ArgumentNullException.ThrowIfNull(xLabels);
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0) throw new ArgumentException("a line plot needs at least one series");
        foreach (var s in series)
            if (s.Values.Length != xLabels.Length) throw new ArgumentException($"series “{s.Name}” has {s.Values.Length} values for {xLabels.Length} x labels");
        var colored = series.Select((s, i) => new BarSeries(s.Name, s.Values, PngFigures.SeriesHex[i % PngFigures.SeriesHex.Length])).ToList();
        string frag = $"<figure class=\"fig\"><h3>{ResultsView.H(title)}</h3><div class=\"scroll\">{Svg.Lines(xLabels, colored, yTitle, xTitle)}</div></figure>";
        return new Figure(title, frag, (w, h) => PngFigures.Lines(xLabels, series.Select(s => (s.Name, s.Values)).ToArray(), title, yTitle, xTitle, w, h));
    }

    /// <summary>Position labels as the report writes them: <c>"3 ·Mango"</c> (index, then the token with whitespace made visible).</summary>
    public static string[] PositionLabels(IEnumerable<string> tokens) => tokens.Select((t, i) => $"{i} {ResultsView.Visible(t)}").ToArray();

    /// <summary>Row labels <c>L0</c>, <c>L1</c>, … for <paramref name="n"/> layers.</summary>
    public static string[] LayerLabels(int n) => Enumerable.Range(0, n).Select(l => "L" + l).ToArray();

    /// <summary>Column labels <c>H0</c>, <c>H1</c>, … for <paramref name="n"/> heads.</summary>
    public static string[] HeadLabels(int n) => Enumerable.Range(0, n).Select(h => "H" + h).ToArray();
}
