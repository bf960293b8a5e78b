using System.Globalization;
using System.Text;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>One series of a grouped bar chart.</summary>
internal sealed record BarSeries(string Name, double[] Values, string Color);

/// <summary>
/// Inline SVG charts for the HTML report: heatmaps with a diverging (or sequential) colour scale and
/// grouped bar charts. Every mark carries <c>data-v</c> (its value) and a <c>&lt;title&gt;</c> tooltip.
/// </summary>
internal static class Svg
{
    /// <summary>Diverging stops, blue (negative) → near-white (0) → red (positive); shared with the PNGs.</summary>
    public static readonly string[] DivergingStops = { "#2166ac", "#67a9cf", "#f7f7f7", "#ef8a62", "#b2182b" };

    /// <summary>Sequential stops for ranks: dark green (best) → white (worst).</summary>
    public static readonly string[] SequentialStops = { "#00441b", "#238b45", "#74c476", "#c7e9c0", "#ffffff" };

    static string I(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    static (int r, int g, int b) Rgb(string hex) =>
        (Convert.ToInt32(hex.Substring(1, 2), 16), Convert.ToInt32(hex.Substring(3, 2), 16), Convert.ToInt32(hex.Substring(5, 2), 16));

    /// <summary>Interpolates <paramref name="stops"/> at t ∈ [0, 1].</summary>
    public static (int r, int g, int b) Lerp(string[] stops, double t)
    {
        if (double.IsNaN(t)) return (200, 200, 200);
        t = Math.Clamp(t, 0, 1) * (stops.Length - 1);
        int i = Math.Min((int)t, stops.Length - 2);
        double f = t - i;
        var (a, b) = (Rgb(stops[i]), Rgb(stops[i + 1]));
        return ((int)Math.Round(a.r + (b.r - a.r) * f), (int)Math.Round(a.g + (b.g - a.g) * f), (int)Math.Round(a.b + (b.b - a.b) * f));
    }

    static string Hex((int r, int g, int b) c) => $"#{c.r:x2}{c.g:x2}{c.b:x2}";

    /// <summary>Colour of <paramref name="v"/> on a diverging scale symmetric around 0 with half-range <paramref name="max"/>.</summary>
    public static string Diverging(double v, double max) => double.IsNaN(v) ? "#cccccc" : Hex(Lerp(DivergingStops, 0.5 + v / (2 * max)));

    static bool Dark((int r, int g, int b) c) => 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 110;

    /// <summary>Symmetric colour half-range for a diverging heatmap: the largest |value|, at least <paramref name="floor"/>.</summary>
    public static double SymMax(IEnumerable<double> values, double floor = 1e-9) =>
        Math.Max(floor, values.Where(v => !double.IsNaN(v) && !double.IsInfinity(v)).Select(Math.Abs).DefaultIfEmpty(0).Max());

    /// <summary>
    /// A heatmap as inline SVG. <paramref name="colourT"/> maps a value to [0, 1] on <paramref name="stops"/>;
    /// <paramref name="tip"/> builds the hover text of cell (row, col); columns in <paramref name="highlight"/>
    /// get an outline and a bold label.
    /// </summary>
    public static string Heatmap(double[][] z, string[] rowLabels, string[] colLabels, string[] stops, Func<double, double> colourT,
        Func<int, int, string> tip, ISet<int>? highlight = null, string xTitle = "", string yTitle = "", Func<double, string>? cellText = null)
    {
        int rows = z.Length, cols = z.Max(r => r.Length);
        double cw = Math.Clamp(900.0 / Math.Max(cols, 1), 22, 64), ch = Math.Clamp(420.0 / Math.Max(rows, 1), 14, 40);
        int maxCol = colLabels.Select(s => s.Length).DefaultIfEmpty(1).Max();
        double left = 16 + 7.5 * Math.Min(rowLabels.Select(s => s.Length).DefaultIfEmpty(1).Max(), 14) + (yTitle.Length > 0 ? 18 : 0);
        double bottom = 14 + 6.2 * Math.Min(maxCol, 16) + (xTitle.Length > 0 ? 20 : 0), top = 6;
        double w = Math.Max(left + cw * cols + 10, left + 7 * xTitle.Length + 10), h = top + ch * rows + bottom;   // room for the axis title
        bool text = cw >= 30 && ch >= 16;
        cellText ??= v => F(v, 2);
        var sb = new StringBuilder();
        sb.Append($"<svg class=\"chart\" width=\"{I(w)}\" height=\"{I(h)}\" viewBox=\"0 0 {I(w)} {I(h)}\" role=\"img\">");
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < z[r].Length; c++)
            {
                double v = z[r][c];
                var rgb = double.IsNaN(v) ? (204, 204, 204) : Lerp(stops, colourT(v));
                double x = left + c * cw, y = top + r * ch;
                sb.Append($"<rect x=\"{I(x)}\" y=\"{I(y)}\" width=\"{I(cw)}\" height=\"{I(ch)}\" fill=\"{Hex(rgb)}\" data-v=\"{F(v, 6)}\"><title>{H(tip(r, c))}</title></rect>");
                if (text)
                    sb.Append($"<text x=\"{I(x + cw / 2)}\" y=\"{I(y + ch / 2 + 4)}\" class=\"cell{(Dark(rgb) ? " inv" : "")}\">{H(cellText(v))}</text>");
            }
            sb.Append($"<text x=\"{I(left - 5)}\" y=\"{I(top + r * ch + ch / 2 + 4)}\" class=\"rl\">{H(rowLabels[r])}</text>");
        }
        for (int c = 0; c < cols; c++)
        {
            bool hl = highlight?.Contains(c) == true;
            double x = left + c * cw + cw / 2, y = top + rows * ch + 8;
            if (hl) sb.Append($"<rect x=\"{I(left + c * cw)}\" y=\"{I(top)}\" width=\"{I(cw)}\" height=\"{I(rows * ch)}\" class=\"hl\"/>");
            string label = c < colLabels.Length ? colLabels[c] : "";
            sb.Append($"<text transform=\"translate({I(x + 4)},{I(y)}) rotate(-55)\" class=\"cl{(hl ? " hlt" : "")}\">{H(label)}</text>");
        }
        if (xTitle.Length > 0) sb.Append($"<text x=\"{I(Math.Max(left + cw * cols / 2, left + 3.5 * xTitle.Length))}\" y=\"{I(h - 4)}\" class=\"ax\">{H(xTitle)}</text>");
        if (yTitle.Length > 0) sb.Append($"<text transform=\"translate(12,{I(top + rows * ch / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>A horizontal colour legend: gradient from <paramref name="lo"/> to <paramref name="hi"/> with a label.</summary>
    public static string Legend(string[] stops, string lo, string mid, string hi, string label)
    {
        var sb = new StringBuilder("<div class=\"legend\"><span class=\"ll\">" + H(label) + "</span><svg width=\"260\" height=\"30\" viewBox=\"0 0 260 30\">");
        for (int i = 0; i < 50; i++)
            sb.Append($"<rect x=\"{10 + i * 4.8:0.#}\" y=\"2\" width=\"5\" height=\"12\" fill=\"{Hex(Lerp(stops, i / 49.0))}\"/>");
        sb.Append($"<text x=\"10\" y=\"27\" class=\"lt\" style=\"text-anchor:start\">{H(lo)}</text><text x=\"130\" y=\"27\" class=\"lt\">{H(mid)}</text><text x=\"250\" y=\"27\" class=\"lt\" style=\"text-anchor:end\">{H(hi)}</text></svg></div>");
        return sb.ToString();
    }

    /// <summary>Round tick values covering [lo, hi].</summary>
    public static double[] Ticks(double lo, double hi, int target = 5)
    {
        double span = hi - lo;
        if (span <= 0) span = Math.Max(1, Math.Abs(hi));
        double raw = span / target, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var t = new List<double>();
        for (double v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step) t.Add(Math.Abs(v) < step * 1e-9 ? 0 : v);
        return t.ToArray();
    }

    /// <summary>A grouped bar chart: one group per category, one bar per series, a zero line and a legend.</summary>
    public static string GroupedBars(string[] categories, IReadOnlyList<BarSeries> series, string yTitle, string xTitle = "")
    {
        int n = categories.Length, k = series.Count;
        var all = series.SelectMany(s => s.Values).Where(v => !double.IsNaN(v) && !double.IsInfinity(v)).ToList();
        double lo = Math.Min(0, all.DefaultIfEmpty(0).Min()), hi = Math.Max(0, all.DefaultIfEmpty(0).Max());
        if (hi - lo < 1e-12) hi = lo + 1;
        double pad = (hi - lo) * 0.06; lo = lo < 0 ? lo - pad : lo; hi += pad;
        var ticks = Ticks(lo, hi);
        lo = Math.Min(lo, ticks[0]); hi = Math.Max(hi, ticks[^1]);
        double bw = Math.Clamp(560.0 / Math.Max(1, n * k), 6, 22), gap = bw * 1.2;
        double left = 64, top = 30, ph = 240, groupW = bw * k + gap;
        int maxCat = categories.Select(c => c.Length).DefaultIfEmpty(1).Max();
        bool rot = maxCat * 7 > groupW;
        double bottom = (rot ? 12 + 6.2 * Math.Min(maxCat, 18) : 26) + (xTitle.Length > 0 ? 18 : 0);
        double legendW = series.Sum(s => 32 + 7.6 * s.Name.Length);
        double pw = Math.Max(groupW * n, Math.Max(320, legendW - left + 20)), w = left + pw + 16, h = top + ph + bottom;
        groupW = pw / n; gap = groupW - bw * k;
        double Y(double v) => top + (hi - v) / (hi - lo) * ph;
        var sb = new StringBuilder();
        sb.Append($"<svg class=\"chart\" width=\"{I(w)}\" height=\"{I(h)}\" viewBox=\"0 0 {I(w)} {I(h)}\" role=\"img\">");
        foreach (var t in ticks)
            sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(left + pw)}\" y1=\"{I(Y(t))}\" y2=\"{I(Y(t))}\" class=\"grid\"/><text x=\"{I(left - 6)}\" y=\"{I(Y(t) + 4)}\" class=\"rl\">{F(t, 3)}</text>");
        double lx = left;
        for (int s = 0; s < k; s++)
        {
            sb.Append($"<rect x=\"{I(lx)}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{series[s].Color}\"/><text x=\"{I(lx + 16)}\" y=\"18\" class=\"lg\">{H(series[s].Name)}</text>");
            lx += 32 + 7.6 * series[s].Name.Length;
        }
        for (int c = 0; c < n; c++)
        {
            double gx = left + c * groupW + gap / 2;
            for (int s = 0; s < k; s++)
            {
                double v = c < series[s].Values.Length ? series[s].Values[c] : double.NaN;
                if (double.IsNaN(v)) continue;
                double y0 = Y(0), y1 = Y(Math.Clamp(v, lo, hi));
                sb.Append($"<rect x=\"{I(gx + s * bw)}\" y=\"{I(Math.Min(y0, y1))}\" width=\"{I(bw - 1)}\" height=\"{I(Math.Max(0.5, Math.Abs(y1 - y0)))}\" fill=\"{series[s].Color}\" data-v=\"{F(v, 6)}\"><title>{H($"{categories[c]} · {series[s].Name}: {F(v, 4)}")}</title></rect>");
            }
            double cx = gx + bw * k / 2, cy = top + ph + 14;
            sb.Append(rot
                ? $"<text transform=\"translate({I(cx + 4)},{I(cy - 4)}) rotate(-55)\" class=\"cl\">{H(categories[c])}</text>"
                : $"<text x=\"{I(cx)}\" y=\"{I(cy)}\" class=\"ax\">{H(categories[c])}</text>");
        }
        sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(left + pw)}\" y1=\"{I(Y(0))}\" y2=\"{I(Y(0))}\" class=\"zero\"/>");
        if (xTitle.Length > 0) sb.Append($"<text x=\"{I(left + pw / 2)}\" y=\"{I(h - 4)}\" class=\"ax\">{H(xTitle)}</text>");
        sb.Append($"<text transform=\"translate(14,{I(top + ph / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text></svg>");
        return sb.ToString();
    }

    /// <summary>How a line chart pads its range, spaces its points and marks them.</summary>
    /// <param name="Pad">fraction of the value range added above (and below, when negative values show)</param>
    /// <param name="MinStep">narrowest spacing of categories, in pixels</param>
    /// <param name="MaxStep">widest spacing of categories, in pixels</param>
    /// <param name="Radius">the markers' radius</param>
    /// <param name="TitleTips">tooltips as a <c>&lt;title&gt;</c> child (the report page's script turns them into
    /// <c>data-tip</c>), else as a <c>data-tip</c> attribute</param>
    internal readonly record struct LineStyle(double Pad, double MinStep, double MaxStep, double Radius, bool TitleTips)
    {
        /// <summary><see cref="Figures"/>' line charts.</summary>
        public static readonly LineStyle Figure = new(0, 14, 60, 3.5, false);
        /// <summary>The report's logit lens over depth: a padded range and wider spacing.</summary>
        public static readonly LineStyle Report = new(0.06, 28, 90, 4, true);
    }

    /// <summary>A line chart: one polyline per series over the categories, a dot per value (with <c>data-v</c>), a zero line and a legend.</summary>
    public static string Lines(string[] categories, IReadOnlyList<BarSeries> series, string yTitle, string xTitle = "") =>
        Lines(categories, series, yTitle, xTitle, LineStyle.Figure);

    /// <summary>A line chart in the given <paramref name="style"/>: one polyline per series over the categories, a marker
    /// with <c>data-v</c> and a tooltip at every finite value, a zero line and a legend.</summary>
    public static string Lines(string[] categories, IReadOnlyList<BarSeries> series, string yTitle, string xTitle, LineStyle style)
    {
        int n = categories.Length;
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        double lo = Math.Min(0, all.DefaultIfEmpty(0).Min()), hi = Math.Max(0, all.DefaultIfEmpty(0).Max());
        if (hi - lo < 1e-12) hi = lo + 1;
        double pad = (hi - lo) * style.Pad; lo -= lo < 0 ? pad : 0; hi += pad;
        var ticks = Ticks(lo, hi);
        lo = Math.Min(lo, ticks[0]); hi = Math.Max(hi, ticks[^1]);
        double step = Math.Clamp(640.0 / Math.Max(1, n), style.MinStep, style.MaxStep), left = 64, top = 30, ph = 240, pw = Math.Max(320, step * n);
        int maxCat = categories.Select(c => c.Length).DefaultIfEmpty(1).Max();
        bool rot = maxCat * 7 > step;
        double bottom = (rot ? 12 + 6.2 * Math.Min(maxCat, 18) : 26) + (xTitle.Length > 0 ? 18 : 0), w = left + pw + 16, h = top + ph + bottom;
        step = pw / Math.Max(1, n);
        double X(int i) => left + step * (i + 0.5);
        double Y(double v) => top + (hi - v) / (hi - lo) * ph;
        var sb = new StringBuilder($"<svg class=\"chart\" width=\"{I(w)}\" height=\"{I(h)}\" viewBox=\"0 0 {I(w)} {I(h)}\" role=\"img\">");
        foreach (var t in ticks)
            sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(left + pw)}\" y1=\"{I(Y(t))}\" y2=\"{I(Y(t))}\" class=\"grid\"/><text x=\"{I(left - 6)}\" y=\"{I(Y(t) + 4)}\" class=\"rl\">{F(t, 3)}</text>");
        sb.Append($"<line x1=\"{I(left)}\" x2=\"{I(left + pw)}\" y1=\"{I(Y(0))}\" y2=\"{I(Y(0))}\" class=\"zero\"/>");
        double lx = left;
        foreach (var s in series)
        {
            sb.Append($"<rect x=\"{I(lx)}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{s.Color}\"/><text x=\"{I(lx + 16)}\" y=\"18\" class=\"lg\">{H(s.Name)}</text>");
            lx += 32 + 7.6 * s.Name.Length;
            var pts = Enumerable.Range(0, Math.Min(n, s.Values.Length)).Where(i => double.IsFinite(s.Values[i])).ToList();
            sb.Append($"<polyline points=\"{string.Join(" ", pts.Select(i => $"{I(X(i))},{I(Y(s.Values[i]))}"))}\" fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"2\"/>");
            foreach (int i in pts)
            {
                string marker = $"<circle cx=\"{I(X(i))}\" cy=\"{I(Y(s.Values[i]))}\" r=\"{I(style.Radius)}\" fill=\"{s.Color}\" data-v=\"{F(s.Values[i], 6)}\"", tip = H($"{categories[i]} · {s.Name}: {F(s.Values[i], 4)}");
                sb.Append(style.TitleTips ? $"{marker}><title>{tip}</title></circle>" : $"{marker} data-tip=\"{tip}\"/>");
            }
        }
        for (int c = 0; c < n; c++)
            sb.Append(rot
                ? $"<text transform=\"translate({I(X(c) + 4)},{I(top + ph + 10)}) rotate(-55)\" class=\"cl\">{H(categories[c])}</text>"
                : $"<text x=\"{I(X(c))}\" y=\"{I(top + ph + 14)}\" class=\"ax\">{H(categories[c])}</text>");
        if (xTitle.Length > 0) sb.Append($"<text x=\"{I(left + pw / 2)}\" y=\"{I(h - 4)}\" class=\"ax\">{H(xTitle)}</text>");
        sb.Append($"<text transform=\"translate(14,{I(top + ph / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text></svg>");
        return sb.ToString();
    }
}
