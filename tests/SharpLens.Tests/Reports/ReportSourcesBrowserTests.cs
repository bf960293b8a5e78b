using System.Text.Json.Nodes;
using Microsoft.Playwright;
using SharpLens.Reports;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Reports;

/// <summary>
/// report.html of three studies in headless Chromium: the demo model (its reference results with its real attention
/// patterns), a real <c>sharplens study</c> on the tiny-qwen2 fixture, and a dataset study (the key layout of
/// EXPERIMENTS.md "Datasets", aggregated by the library). Each loads with no console error and no network request, shows
/// the summary in the first screen at 1400×900 with every finding linked to a section; where the study has full patterns,
/// hovering a token in the viewer highlights its attention row and the head picker switches heads; where prompts differ,
/// the differing position's column of the residual map is on screen at 800 px. "dataset-run" is a real dataset study of
/// generated pairs on the demo model. Skipped when /usr/bin/chromium is absent.
/// </summary>
public class ReportSourcesBrowserTests
{
    public static TheoryData<string> Sources => new() { "demo", "tiny-qwen2", "dataset", "dataset-run" };

    static readonly Dictionary<string, (string File, JsonObject Results)> Written = new();

    /// <summary>Writes the report of <paramref name="source"/> once per test run.</summary>
    static (string File, JsonObject Results) Report(string source)
    {
        lock (Written)
        {
            if (Written.TryGetValue(source, out var done)) return done;
            string dir = Fixtures.TempDir("report-src-" + source);
            (string, JsonObject) made;
            if (source == "tiny-qwen2")
            {
                string outDir = Path.Combine(dir, "study");
                var r = CliProcess.Run("study", "--model", Fixtures.Dir("tiny-qwen2"), "--out", outDir);
                Assert.True(r.Code == 0, r.Err);
                made = (Path.Combine(outDir, ReportWriter.HtmlFileName), JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!.AsObject());
            }
            else if (source == "dataset-run")
            {
                // a real `sharplens study --dataset` of three generated pairs on the demo model, every experiment
                string pairs = Path.Combine(dir, "pairs.jsonl"), outDir = Path.Combine(dir, "study");
                var g = CliProcess.Run("dataset", "setcomp", "--n", "3", "--seed", "5", "--out", pairs);
                Assert.True(g.Code == 0, g.Err);
                var r = CliProcess.Run("study", "--dataset", pairs, "--out", outDir);
                Assert.True(r.Code == 0, r.Err);
                made = (Path.Combine(outDir, ReportWriter.HtmlFileName), JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!.AsObject());
            }
            else
            {
                var results = source == "demo" ? ReportInput.Build() : DatasetReportInput.Build();
                made = (ReportWriter.WriteAll(results, dir)[0], results);
            }
            return Written[source] = made;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Sources))]
    public async Task Loads_offline_with_the_linked_summary_in_the_first_screen(string source)
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var (file, _) = Report(source);
        await using var b = await Browser.Launch();
        var page = await b.Open(file, 1400, 900);
        Assert.Empty(b.Errors);
        Assert.Empty(b.Requests);
        Assert.Equal("0", await page.EvaluateAsync<string>("() => String(document.querySelectorAll('figure.fig[data-drawn=\"0\"]').length)"));
        var box = await page.Locator("#summary").BoundingBoxAsync();
        Assert.True(box is not null && box.Y >= 0 && box.Y + box.Height <= 900, $"{source}: the summary is not within the first 900 px: {box?.Y} + {box?.Height}");
        string text = await page.Locator("#summary").InnerTextAsync();
        Assert.Matches(@"Top heads: L\dH\d: patching recovers", text);
        if (source.StartsWith("dataset", StringComparison.Ordinal)) Assert.Contains("How general across the pairs:", text);
        else Assert.Matches(@"Baselines: .* is [−+]\d+\.\d\d on the clean prompt", text);
        var links = page.Locator("#summary ul.findings a");
        int n = await links.CountAsync();
        Assert.True(n >= 6, $"{source}: {n} findings");
        for (int i = 0; i < n; i++)
        {
            string href = (await links.Nth(i).GetAttributeAsync("href"))!;
            Assert.True(await page.Locator($"{href} figure.fig, {href} table, {href} .cards").CountAsync() > 0, $"{source}: {href} has no figure");
        }
    }

    [SkippableTheory]
    [InlineData("demo")]
    [InlineData("tiny-qwen2")]
    public async Task Viewer_hover_highlights_the_tokens_row_and_the_head_picker_switches_heads(string source)
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var (file, results) = Report(source);
        var pattern = results["pattern_clean"]!.AsArray();
        int layers = pattern.Count, heads = pattern[0]!.AsArray().Count, t = pattern[0]![0]!.AsArray().Count;
        await using var b = await Browser.Launch();
        var page = await b.Open(file, 1400, 900);
        var viewer = page.Locator("#attention-viewer div.slv");
        Assert.Equal(layers * heads, await page.Locator("#attention-viewer .slv-thumb").CountAsync());
        var first = await page.Locator("#attention-viewer .slv-panel").First.BoundingBoxAsync();
        var second = await page.Locator("#attention-viewer .slv-panel").Nth(1).BoundingBoxAsync();
        Assert.True(second!.X > first!.X + first.Width - 1 && Math.Abs(second.Y - first.Y) < 2, $"{source}: clean and corrupted are not side by side at 1400 px");
        int q = t - 2;
        await page.Locator($"#attention-viewer .slv-panel[data-run=clean] .slv-to .slv-tok[data-pos='{q}']").HoverAsync();
        Assert.Equal(q.ToString(), await viewer.GetAttributeAsync("data-hover"));
        var row = page.Locator("#attention-viewer .slv-panel[data-run=clean] rect.r");
        Assert.Equal(t, await row.CountAsync());
        Assert.Equal(q.ToString(), await row.First.GetAttributeAsync("data-q"));
        // the picker: the last head, and a cell of the matrix now holds that head's weight from results.json
        string last = $"L{layers - 1}H{heads - 1}";
        await page.Locator($"#attention-viewer [data-head='{last}']").ClickAsync();
        Assert.Equal(last, await viewer.GetAttributeAsync("data-selected"));
        string cell = $"#attention-viewer .slv-panel[data-run=clean] rect[data-q='{t - 1}'][data-k='{t - 3}']";
        double expected = (double)pattern[layers - 1]![heads - 1]![t - 1]![t - 3]!;
        Assert.Equal(expected, double.Parse((await page.Locator(cell).GetAttributeAsync("data-v"))!, System.Globalization.CultureInfo.InvariantCulture), 3);
        // the differing position is marked on the viewer's axes
        int diff = results["differing_positions"]!.AsArray().Select(x => (int)x!).First();
        Assert.Contains("df", await page.Locator($"#attention-viewer .slv-panel[data-run=clean] svg text[data-pos='{diff}']").First.GetAttributeAsync("class") ?? "");
        Assert.Empty(b.Errors);
    }

    [SkippableTheory]
    [InlineData("demo")]
    [InlineData("tiny-qwen2")]
    public async Task At_800_px_the_differing_position_column_of_the_residual_map_is_on_screen(string source)
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var (file, results) = Report(source);
        await using var b = await Browser.Launch();
        var page = await b.Open(file, 800, 900);
        await page.Locator("#resid").EvaluateAsync("e => e.scrollIntoView()");
        var marked = page.Locator("#resid figure.fig svg rect.hl");
        Assert.True(await marked.CountAsync() >= 1, "no differing position is marked");
        var box = await marked.First.BoundingBoxAsync();
        Assert.True(box is not null && box.X >= 0 && box.X + box.Width <= 800, $"{source}: the differing column is off screen at 800 px: x = {box?.X}");
        int diff = results["differing_positions"]!.AsArray().Select(x => (int)x!).First();
        Assert.StartsWith($"{diff} ", await page.Locator("#resid figure.fig text.hlt").First.TextContentAsync() ?? "");
        Assert.Empty(b.Errors);
    }
}
