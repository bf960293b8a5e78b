using System.Globalization;
using Microsoft.Playwright;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Reports;

/// <summary>The attention viewer (<see cref="Figures.AttentionPatterns(string[], Tensor, string, ValueTuple{int, int}?)"/>)
/// in headless Chromium: it loads offline without errors, hovering a token highlights its row and column, the head picker
/// switches heads, the per-row scale rescales. Skipped when /usr/bin/chromium is absent.</summary>
public class AttentionViewerBrowserTests
{
    static readonly string[] Tokens = ["<s>", " The", " cat", " sat", "\n"];
    const int L = 2, H = 3, T = 5;

    /// <summary>A causal pattern [layer, head, q, k] whose rows sum to 1 and differ between every head.</summary>
    internal static Tensor Pattern(int salt = 0)
    {
        var p = Tensor.Zeros(L, H, T, T);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                for (int q = 0; q < T; q++)
                {
                    var w = Enumerable.Range(0, q + 1).Select(k => 1.0 + ((k * 7 + l * 5 + h * 3 + q + salt) % 6) * (1 + 2 * h)).ToArray();
                    double s = w.Sum();
                    for (int k = 0; k <= q; k++) p[l, h, q, k] = (float)(w[k] / s);
                }
        return p;
    }

    static string Save(Figure f)
    {
        string path = Path.Combine(Fixtures.TempDir("viewer"), "attention.html");
        f.Save(path);
        return path;
    }

    static async Task<string?> Attr(IPage page, string selector, string name) => await page.Locator(selector).First.GetAttributeAsync(name);

    static double V(string? s) => double.Parse(s!, CultureInfo.InvariantCulture);

    [SkippableFact]
    public async Task Viewer_loads_offline_with_every_head_and_no_console_error()
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var file = Save(Figures.AttentionPatterns(Tokens, Pattern(), Tokens, Pattern(1)));
        await using var b = await Browser.Launch();
        var page = await b.Open(file);
        Assert.Empty(b.Errors);
        Assert.Empty(b.Requests);
        Assert.Equal(L * H, await page.Locator(".slv-thumb").CountAsync());
        Assert.Equal(2, await page.Locator(".slv-panel").CountAsync());                       // clean and corrupted side by side
        Assert.Equal(2 * T * T, await page.Locator(".slv-mat rect").CountAsync());            // the full [q, k] pattern
        Assert.Equal("L0H0", await Attr(page, "div.slv", "data-selected"));
        // absolute scale: cell (q=3, k=1) of L0H0 carries its weight; the newline token is shown as ⏎
        Assert.Equal(Pattern()[0, 0, 3, 1], V(await Attr(page, ".slv-panel[data-run=clean] rect[data-q='3'][data-k='1']", "data-v")), 3);
        Assert.Contains("⏎", await page.Locator(".slv-panel[data-run=clean] .slv-to").InnerTextAsync());
        var first = await page.Locator(".slv-panel").First.BoundingBoxAsync();
        var second = await page.Locator(".slv-panel").Nth(1).BoundingBoxAsync();
        Assert.True(second!.X > first!.X + first.Width - 1 && Math.Abs(second.Y - first.Y) < 2, "the two runs are not side by side at 1400 px");
    }

    [SkippableFact]
    public async Task Hovering_a_token_highlights_its_attention_row_and_column()
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var pattern = Pattern();
        var file = Save(Figures.AttentionPatterns(Tokens, pattern));
        await using var b = await Browser.Launch();
        var page = await b.Open(file);
        const int q = 3;
        await page.Locator($".slv-to .slv-tok[data-pos='{q}']").HoverAsync();
        Assert.Equal(q.ToString(), await Attr(page, "div.slv", "data-hover"));
        var row = page.Locator("rect.r");
        Assert.Equal(T, await row.CountAsync());
        for (int i = 0; i < T; i++) Assert.Equal(q.ToString(), await row.Nth(i).GetAttributeAsync("data-q"));
        Assert.Equal(T, await page.Locator("rect.c").CountAsync());
        Assert.Equal(q.ToString(), await Attr(page, "rect.c", "data-k"));
        // the strips: where token 3 attends (its row) and what attends to it (its column), coloured by those weights
        for (int k = 0; k < T; k++)
        {
            var to = page.Locator($".slv-to .slv-tok[data-pos='{k}']");
            Assert.Equal(pattern[0, 0, q, k], V(await to.GetAttributeAsync("data-v")), 3);
            Assert.Equal(pattern[0, 0, k, q], V(await page.Locator($".slv-from .slv-tok[data-pos='{k}']").GetAttributeAsync("data-v")), 3);
        }
        string strongest = await page.Locator(".slv-to .slv-tok[data-pos='0']").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        string future = await page.Locator(".slv-to .slv-tok[data-pos='4']").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        Assert.NotEqual(future, strongest);
        Assert.Equal("rgb(255, 255, 255)", future);             // position 4 is after the query: weight 0
        await page.Mouse.MoveAsync(1, 1);
        await page.Locator("h1").HoverAsync();
        Assert.Equal("-1", await Attr(page, "div.slv", "data-hover"));
        Assert.Equal(0, await page.Locator("rect.r").CountAsync());
        Assert.Empty(b.Errors);
    }

    [SkippableFact]
    public async Task Head_picker_switches_heads_and_rows_can_be_scaled_to_their_maximum()
    {
        Skip.IfNot(File.Exists(Browser.Chromium), Browser.SkipReason);
        var pattern = Pattern();
        var file = Save(Figures.AttentionPatterns(Tokens, pattern));
        await using var b = await Browser.Launch();
        var page = await b.Open(file);
        const string cell = "rect[data-q='4'][data-k='2']";
        string before = (await Attr(page, cell, "fill"))!;
        await page.Locator("[data-head='L1H2']").ClickAsync();
        Assert.Equal("L1H2", await Attr(page, "div.slv", "data-selected"));
        Assert.Equal("L1H2", await page.Locator(".slv-sel").InnerTextAsync());
        Assert.Contains("on", (await Attr(page, "[data-head='L1H2']", "class"))!);
        Assert.Equal(pattern[1, 2, 4, 2], V(await Attr(page, cell, "data-v")), 3);
        string absolute = (await Attr(page, cell, "fill"))!;
        Assert.NotEqual(before, absolute);
        await page.Locator("input.slv-perrow").CheckAsync();
        string perRow = (await Attr(page, cell, "fill"))!;
        Assert.NotEqual(absolute, perRow);                       // the row's weights are below 1: scaled up, darker
        Assert.Equal("row max", await page.Locator(".slv-leg span").Nth(2).InnerTextAsync());
        Assert.Empty(b.Errors);
    }
}
