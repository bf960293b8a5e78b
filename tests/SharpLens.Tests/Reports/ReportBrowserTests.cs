using Microsoft.Playwright;
using SharpLens.Reports;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Reports;

/// <summary>report.html in headless Chromium through Playwright: offline, the summary in the first screen, the viewer's
/// two runs, the residual map's differing column on screen at 800 px. Skipped when /usr/bin/chromium is absent.</summary>
public class ReportBrowserTests
{
    static string Write()
    {
        string dir = Fixtures.TempDir("report-pw");
        return ReportWriter.WriteAll(ReportInput.Build(), dir)[0];
    }

    [SkippableFact]
    public async Task Report_loads_offline_with_the_summary_in_the_first_screen()
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        string file = Write();
        await using var b = await Browser.Launch();
        var page = await b.Open(file, 1400, 900);
        Assert.Empty(b.Errors);
        Assert.Empty(b.Requests);
        var summary = page.Locator("#summary");
        var box = await summary.BoundingBoxAsync();
        Assert.True(box is not null && box.Y >= 0 && box.Y + box.Height <= 900, $"the summary is not within the first 900 px: {box?.Y} + {box?.Height}");
        string text = await summary.InnerTextAsync();
        Assert.Matches(@"Baselines: .* is \+\d+\.\d\d on the clean prompt and [−+]\d+\.\d\d on the corrupted one", text);
        Assert.Matches(@"L\dH\d: patching recovers", text);
        Assert.Contains("Control:", text);
        // every finding links to a section that exists
        var links = page.Locator("#summary ul.findings a");
        int n = await links.CountAsync();
        Assert.True(n >= 5, $"{n} findings");
        for (int i = 0; i < n; i++)
        {
            string href = (await links.Nth(i).GetAttributeAsync("href"))!;
            Assert.Equal(1, await page.Locator(href).CountAsync());
        }
        // the viewer: clean and corrupted side by side, with every head of the demo model
        Assert.Equal(["clean", "corrupted"], await page.Locator("#attention-viewer .slv-panel").EvaluateAllAsync<string[]>("es => es.map(e => e.dataset.run)"));
        Assert.Equal(16, await page.Locator("#attention-viewer .slv-thumb").CountAsync());
    }

    [SkippableFact]
    public async Task At_800_px_the_differing_position_column_of_the_residual_map_is_visible()
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        string file = Write();
        await using var b = await Browser.Launch();
        var page = await b.Open(file, 800, 900);
        var marked = page.Locator("#resid figure.fig svg rect.hl");          // the differing position's outlined column
        Assert.True(await marked.CountAsync() >= 1, "no differing position is marked");
        await marked.First.ScrollIntoViewIfNeededAsync();
        await page.EvaluateAsync("() => { const s = document.querySelector('#resid figure.fig .scroll'); if (s) s.scrollLeft = 0; }");
        await page.Locator("#resid").EvaluateAsync("e => e.scrollIntoView()");
        var box = await marked.First.BoundingBoxAsync();
        Assert.True(box is not null && box.X >= 0 && box.X + box.Width <= 800, $"the differing column is off screen at 800 px: x = {box?.X}");
        // ... and it is the differing position: its label is bold and names both tokens
        string label = await page.Locator("#resid figure.fig text.hlt").First.TextContentAsync() ?? "";
        Assert.Contains("→", label);
        Assert.Empty(b.Errors);
    }
}
