using System.Text.Json.Nodes;
using SharpLens.IO;

namespace SharpLens.Reports;

/// <summary>
/// Turns a study's <c>results.json</c> into things people look at: one self-contained
/// <c>report.html</c> (inline SVG, inline data, no network) and PNG figures.
/// </summary>
public static class ReportWriter
{
    /// <summary>Name of the HTML file <see cref="WriteAll"/> writes.</summary>
    public const string HtmlFileName = "report.html";

    /// <summary>Name of the folder under the output directory that receives the PNG figures.</summary>
    public const string FiguresFolder = "figures";

    /// <summary>
    /// Writes <c>outDir/report.html</c> and <c>outDir/figures/*.png</c> from a results.json object; every
    /// file is written atomically. Sections or figures whose keys are missing are skipped.
    /// </summary>
    /// <param name="results">The parsed results.json object.</param>
    /// <param name="outDir">Output directory; created when missing.</param>
    /// <returns>The full paths of every file written, report.html first.</returns>
    /// <param name="ct">Checked once everything is rendered, before the first file is written: a cancelled call writes nothing.</param>
    public static IReadOnlyList<string> WriteAll(JsonObject results, string outDir, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        // Everything is rendered in memory first, so a rendering failure leaves no files at all.
        string htmlText = RenderHtml(results);
        var pngs = PngFigures.Render(new ResultsView(results)).ToList();
        ct.ThrowIfCancellationRequested();
        string html = Path.GetFullPath(Path.Combine(outDir, HtmlFileName));
        AtomicFile.WriteAllText(html, htmlText);
        var written = new List<string> { html };
        written.AddRange(Write(pngs, Path.Combine(outDir, FiguresFolder)));
        return written;
    }

    /// <summary>Renders the complete, self-contained report page as an HTML string.</summary>
    /// <param name="results">The parsed results.json object.</param>
    public static string RenderHtml(JsonObject results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return HtmlReport.Render(results);
    }

    /// <summary>
    /// Renders the main figures (residual heatmap, attention-vs-MLP bars, head grids, head-pair matrices,
    /// control patch, ablation bars and head grids, attention from the final token, DLA bars, OV copying) with ScottPlot and writes each as a PNG into
    /// <paramref name="figuresDir"/>, atomically. Figures whose keys are missing are skipped.
    /// </summary>
    /// <param name="results">The parsed results.json object.</param>
    /// <param name="figuresDir">Destination folder; created when missing.</param>
    /// <returns>The full paths of the PNG files written.</returns>
    public static IReadOnlyList<string> WritePngs(JsonObject results, string figuresDir)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentException.ThrowIfNullOrEmpty(figuresDir);
        return Write(PngFigures.Render(new ResultsView(results)).ToList(), figuresDir);
    }

    static List<string> Write(IEnumerable<(string name, byte[] png)> pngs, string figuresDir)
    {
        var written = new List<string>();
        foreach (var (name, png) in pngs)
        {
            string path = Path.GetFullPath(Path.Combine(figuresDir, name + ".png"));
            AtomicFile.WriteAllBytes(path, png);
            written.Add(path);
        }
        return written;
    }
}
