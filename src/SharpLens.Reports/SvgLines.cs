using System.Globalization;
using System.Text;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>A line chart as inline SVG (the logit lens over depth): one polyline per series over shared categories, a
/// marker with <c>data-v</c> and a tooltip at every point, a zero line and a legend.</summary>
internal static class SvgLines
{
    static string I(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    public static string Chart(string[] categories, IReadOnlyList<BarSeries> series, string yTitle, string xTitle = "")
    {
        int n = categories.Length;
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        double lo = Math.Min(0, all.DefaultIfEmpty(0).Min()), hi = Math.Max(0, all.DefaultIfEmpty(0).Max());
        if (hi - lo < 1e-12) hi = lo + 1;
        double pad = (hi - lo) * 0.06; lo -= lo < 0 ? pad : 0; hi += pad;
        var ticks = Svg.Ticks(lo, hi);
        lo = Math.Min(lo, ticks[0]); hi = Math.Max(hi, ticks[^1]);
        double left = 64, top = 30, ph = 240, step = Math.Clamp(640.0 / Math.Max(1, n), 28, 90), pw = Math.Max(320, step * n);
        int maxCat = categories.Select(c => c.Length).DefaultIfEmpty(1).Max();
        bool rot = maxCat * 7 > step;
        double bottom = (rot ? 12 + 6.2 * Math.Min(maxCat, 18) : 26) + (xTitle.Length > 0 ? 18 : 0), w = left + pw + 16, h = top + ph + bottom;
        double X(int i) => left + step * (i + 0.5) * pw / (step * n);
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
            sb.Append($"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"2\" points=\"{string.Join(" ", pts.Select(i => $"{I(X(i))},{I(Y(s.Values[i]))}"))}\"/>");
            foreach (int i in pts)
                sb.Append($"<circle cx=\"{I(X(i))}\" cy=\"{I(Y(s.Values[i]))}\" r=\"4\" fill=\"{s.Color}\" data-v=\"{F(s.Values[i], 6)}\"><title>{H($"{categories[i]} · {s.Name}: {F(s.Values[i], 4)}")}</title></circle>");
        }
        for (int i = 0; i < n; i++)
        {
            double cy = top + ph + 14;
            sb.Append(rot
                ? $"<text transform=\"translate({I(X(i) + 4)},{I(cy - 4)}) rotate(-55)\" class=\"cl\">{H(categories[i])}</text>"
                : $"<text x=\"{I(X(i))}\" y=\"{I(cy)}\" class=\"ax\">{H(categories[i])}</text>");
        }
        if (xTitle.Length > 0) sb.Append($"<text x=\"{I(left + pw / 2)}\" y=\"{I(h - 4)}\" class=\"ax\">{H(xTitle)}</text>");
        sb.Append($"<text transform=\"translate(14,{I(top + ph / 2)}) rotate(-90)\" class=\"ax\">{H(yTitle)}</text></svg>");
        return sb.ToString();
    }
}
