using System.Diagnostics;
using System.Text.RegularExpressions;
using SharpLens.Reports;
using SharpLens.Tests.Support;
using SkiaSharp;

namespace SharpLens.Tests.Reports;

/// <summary>Opens report.html in headless Chromium (skipped when /usr/bin/chromium is absent).</summary>
public class BrowserRenderTests
{
    const string Chromium = "/usr/bin/chromium";
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [SkippableFact]
    public void Report_renders_in_headless_chromium_without_script_errors()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is not installed (apt-get install chromium); browser rendering not checked");
        string outDir = Path.Combine(AppContext.BaseDirectory, "report-browser");
        Directory.CreateDirectory(outDir);
        var paths = ReportWriter.WriteAll(ReportInput.Build(), outDir);
        string url = new Uri(paths[0]).AbsoluteUri;
        string html = File.ReadAllText(paths[0]);
        int figures = Regex.Matches(html, "<figure class=\"fig\"").Count;

        var (dom, log) = RunChromium("--dump-dom", url);
        Assert.DoesNotContain("Uncaught", log);
        Assert.DoesNotMatch("<body[^>]*data-script-error", dom);
        var total = Regex.Match(dom, "data-figures-total=\"(\\d+)\"");
        var drawn = Regex.Match(dom, "data-figures-drawn=\"(\\d+)\"");
        Assert.True(total.Success && drawn.Success, "the page script did not run: " + Tail(log));
        Assert.Equal(figures, int.Parse(total.Groups[1].Value));
        Assert.Equal(figures, int.Parse(drawn.Groups[1].Value));
        Assert.DoesNotContain("class=\"status bad\"", dom);     // the header only speaks up when a figure failed

        string shot = Path.Combine(outDir, "screenshot.png");
        File.Delete(shot);
        RunChromium($"--screenshot={shot}", "--window-size=1400,3200", "--hide-scrollbars", url);
        Assert.True(File.Exists(shot), "no screenshot written");
        using var bmp = SKBitmap.Decode(shot);
        Assert.Equal(1400, bmp.Width);
        var (distinct, red, blue) = ReportWriterTests.Census(bmp);
        Assert.True(distinct > 100 && red > 100 && blue > 100, $"screenshot looks blank: {distinct} colours, {red} red, {blue} blue");
    }

    static (string stdout, string stderr) RunChromium(params string[] args)
    {
        string profile = Fixtures.TempDir("chromium-profile");
        var psi = new ProcessStartInfo(Chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--enable-logging=stderr", $"--user-data-dir={profile}" })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            if (!p.WaitForExit(Limit))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
                Assert.Fail($"chromium did not finish within {Limit.TotalSeconds} s and was killed: {Tail(stderr.Result)}");
            }
            p.WaitForExit();
            return (stdout.Result, stderr.Result);
        }
        finally
        {
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static string Tail(string s) => s.Length > 2000 ? s[^2000..] : s;
}
