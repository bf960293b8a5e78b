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
    /// Writes <c>outDir/report.html</c> and <c>outDir/figures/*.png</c> from a results.json object as one set: the
    /// directory is locked, the files are staged beside it and swapped in at the end, replacing any older report and
    /// figures (a figure of an older set never survives). Sections or figures whose keys are missing are skipped.
    /// </summary>
    /// <param name="results">The parsed results.json object.</param>
    /// <param name="outDir">Output directory; created when missing.</param>
    /// <returns>The full paths of every file written, report.html first.</returns>
    /// <param name="ct">Checked while rendering and before the first file is written: a cancelled call writes nothing.</param>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Output"/>) when the directory cannot be written or another
    /// run is writing there.</exception>
    public static IReadOnlyList<string> WriteAll(JsonObject results, string outDir, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        using var set = OutputSet.Open(outDir, ReportEntries);
        var rendered = Render(results, ct);
        return rendered.Commit(set);
    }

    /// <summary>The entries of an output set a report replaces: the page and the figures folder.</summary>
    public static IReadOnlyList<string> ReportEntries { get; } = [FiguresFolder, HtmlFileName];

    /// <summary>
    /// Renders the page and every figure in memory (nothing is written); <paramref name="ct"/> is checked between sections
    /// and figures.
    /// </summary>
    public static RenderedReport Render(JsonObject results, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (CircuitReport.IsCircuit(results)) return new RenderedReport(CircuitReport.Render(results), []);   // sharplens circuit: one page, no PNGs
        string htmlText = Html(results, ct);
        var pngs = new List<(string, byte[])>();
        // a dataset study's PNGs are the figures of its means (ResultsView.For)
        foreach (var png in PngFigures.Render(ResultsView.For(results)))
        {
            ct.ThrowIfCancellationRequested();
            pngs.Add(png);
        }
        ct.ThrowIfCancellationRequested();
        return new RenderedReport(htmlText, pngs);
    }

    /// <summary>Renders the complete, self-contained report page as an HTML string.</summary>
    /// <param name="results">The parsed results.json object.</param>
    public static string RenderHtml(JsonObject results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return Html(results, CancellationToken.None);
    }

    /// <summary>A study's page; a dataset study's is the page of its means (findings, figures) followed by the dataset's
    /// own sections (per-pair distributions, intervals, ablation kinds, exclusions).</summary>
    static string Html(JsonObject results, CancellationToken ct)
    {
        string page = HtmlReport.Render(results, ct);
        if (!DatasetReport.Is(results)) return page;
        int end = page.LastIndexOf("</main>", StringComparison.Ordinal);
        return page[..end] + DatasetReport.Body(results, ct) + page[end..];
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
        return Write(PngFigures.Render(ResultsView.For(results)).ToList(), figuresDir);
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

    internal static List<string> WritePngsInto(IEnumerable<(string name, byte[] png)> pngs, string figuresDir) => Write(pngs, figuresDir);
}

/// <summary>A rendered report: the page and the PNG figures, in memory until <see cref="Commit"/>.</summary>
public sealed class RenderedReport
{
    internal RenderedReport(string html, List<(string Name, byte[] Png)> pngs)
    {
        Html = html;
        Pngs = pngs;
    }

    /// <summary>The self-contained report.html.</summary>
    public string Html { get; }

    /// <summary>Each figure: file name without extension, PNG bytes.</summary>
    public IReadOnlyList<(string Name, byte[] Png)> Pngs { get; }

    /// <summary>Stages report.html and figures/ in <paramref name="set"/> and swaps them in (see <see cref="OutputSet.Commit"/>);
    /// returns the full paths written, report.html first.</summary>
    public List<string> Commit(OutputSet set)
    {
        AtomicFile.WriteAllText(Path.Combine(set.Staging, ReportWriter.HtmlFileName), Html);
        string figures = Path.Combine(set.Staging, ReportWriter.FiguresFolder);
        Directory.CreateDirectory(figures);
        ReportWriter.WritePngsInto(Pngs, figures);
        var written = set.Commit(ReportWriter.ReportEntries);
        string html = Path.Combine(set.Directory, ReportWriter.HtmlFileName);
        return [html, .. written.Where(p => p != html)];
    }
}
