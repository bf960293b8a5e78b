using Microsoft.Playwright;

namespace SharpLens.Tests.Reports;

/// <summary>
/// Headless Debian Chromium driven by Playwright (<c>ExecutablePath</c>: Playwright's own browsers are never downloaded).
/// A page opened through <see cref="Open"/> records console errors, page errors and every request that is not the page
/// itself, so a test can assert that a report works offline.
/// </summary>
internal sealed class Browser : IAsyncDisposable
{
    public const string Chromium = "/usr/bin/chromium";
    public static string SkipReason => $"{Chromium} is not installed (apt-get install chromium); browser behaviour not checked";

    readonly IPlaywright _playwright;
    readonly IBrowser _browser;
    public List<string> Errors { get; } = new();
    public List<string> Requests { get; } = new();

    Browser(IPlaywright playwright, IBrowser browser) { _playwright = playwright; _browser = browser; }

    public static async Task<Browser> Launch()
    {
        var pw = await Playwright.CreateAsync();
        var browser = await pw.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update"],
            Timeout = 60_000,
        });
        return new Browser(pw, browser);
    }

    /// <summary>Opens <paramref name="file"/> in a fresh page of the given viewport and waits for it to load.</summary>
    public async Task<IPage> Open(string file, int width = 1400, int height = 900)
    {
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        string url = new Uri(Path.GetFullPath(file)).AbsoluteUri;
        page.Console += (_, m) => { if (m.Type == "error") Errors.Add("console: " + m.Text); };
        page.PageError += (_, e) => Errors.Add("page error: " + e);
        page.Request += (_, r) => { if (r.Url != url) Requests.Add(r.Url); };
        await page.GotoAsync(url, new PageGotoOptions { WaitUntil = WaitUntilState.Load, Timeout = 60_000 });
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.CloseAsync();
        _playwright.Dispose();
    }
}
