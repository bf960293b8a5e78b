using System.Text.RegularExpressions;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Tests.Support;
using SkiaSharp;

namespace SharpLens.Tests.Reports;

/// <summary>The script-facing figures (<see cref="Figures"/>): heatmaps and line plots as HTML and PNG in one palette,
/// the attention viewer from a tensor or a cache, and <c>sharplens run --attention</c>.</summary>
public class FiguresTests
{
    static int Count(SKBitmap bmp, (byte r, byte g, byte b) c)
    {
        int n = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (p.Red == c.r && p.Green == c.g && p.Blue == c.b) n++;
            }
        return n;
    }

    [Fact]
    public void Heatmap_is_centred_on_the_reference_value_with_the_same_palette_in_html_and_png()
    {
        // "fraction kept": 1 is the reference, so it is the neutral colour and 0.5 / 1.5 are the two ends
        double[][] z = [[1, 0.5], [1.5, 1]];
        var fig = Figures.Heatmap(z, ["L0", "L1"], ["0 ·a", "1 ·b"], "fraction kept", "position", "layer", "fraction", centre: 1, highlightColumns: new HashSet<int> { 1 });
        Assert.True(fig.HasPng);
        string html = fig.ToHtml();
        Assert.Matches("<rect[^>]*fill=\"#f7f7f7\" data-v=\"1\"", html);
        Assert.Matches("<rect[^>]*fill=\"#2166ac\" data-v=\"0.5\"", html);
        Assert.Matches("<rect[^>]*fill=\"#b2182b\" data-v=\"1.5\"", html);
        Assert.Contains("class=\"legend\"", html);                       // a legend: 0.5 · 1 · 1.5
        Assert.Matches(">0\\.5<.*>1<.*>1\\.5<", Regex.Match(html, "<div class=\"legend\">.*?</div>").Value);
        Assert.Matches("class=\"cl hlt\">1 ·b<", html);                  // the marked column's label
        using var bmp = SKBitmap.Decode(fig.ToPng());
        Assert.Equal((1200, 700), (bmp.Width, bmp.Height));
        Assert.True(Count(bmp, (0x21, 0x66, 0xac)) > 5000, "PNG: no blue cell in the HTML's blue");
        Assert.True(Count(bmp, (0xb2, 0x18, 0x2b)) > 5000, "PNG: no red cell in the HTML's red");
        Assert.True(Count(bmp, (0xf7, 0xf7, 0xf7)) > 5000, "PNG: the reference value is not the neutral colour");
    }

    [Fact]
    public void Heatmap_from_a_tensor_and_line_plot_save_html_and_png_atomically()
    {
        string dir = Fixtures.TempDir("figs");
        var t = new Tensor([0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f], 2, 3);
        var hm = Figures.Heatmap(t, Figures.LayerLabels(2), Figures.PositionLabels([" The", " cat", "\n"]), "recovery", "position", "layer", "recovery");
        Assert.Contains(">2 ⏎<", hm.Fragment);
        hm.Save(Path.Combine(dir, "hm.html"));
        hm.Save(Path.Combine(dir, "hm.png"));
        var line = Figures.Line(Figures.LayerLabels(3), [("attn", [0.1, 0.5, -0.2]), ("mlp", [0.0, 0.2, 0.9])], "per layer", "layer", "recovery");
        Assert.Equal(2, Regex.Matches(line.Fragment, "<polyline").Count);
        Assert.Equal(6, Regex.Matches(line.Fragment, "<circle[^>]*data-v").Count);
        line.Save(Path.Combine(dir, "line.png"));
        using (var bmp = SKBitmap.Decode(Path.Combine(dir, "line.png")))
            Assert.True(Count(bmp, (0x4c, 0x72, 0xb0)) > 100, "the first series' colour is not in the PNG");
        using (var bmp = SKBitmap.Decode(Path.Combine(dir, "hm.png"))) Assert.Equal(1200, bmp.Width);
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(Path.Combine(dir, "hm.html")));
        Assert.Equal(["hm.html", "hm.png", "line.png"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order().ToArray());   // no temporary file left
        Assert.Throws<ArgumentException>(() => Figures.Line(["L0"], [("x", [1.0, 2.0])], "bad"));
        Assert.Throws<ArgumentException>(() => Figures.Heatmap(t, ["L0"], ["a", "b", "c"], "bad"));
    }

    [Fact]
    public void Attention_viewer_takes_a_pattern_tensor_or_a_cache_and_has_no_png()
    {
        string[] tokens = ["<s>", " The", " cat", " sat", "\n"];
        var fig = Figures.AttentionPatterns(tokens, AttentionViewerBrowserTests.Pattern(), select: (1, 2));
        Assert.False(fig.HasPng);
        Assert.Throws<NotSupportedException>(() => fig.ToPng());
        Assert.Contains("\"select\":[1,2]", fig.Fragment);
        Assert.Contains("\"layers\":2,\"heads\":3", fig.Fragment);
        Assert.Throws<ArgumentException>(() => Figures.AttentionPatterns(tokens[..4], AttentionViewerBrowserTests.Pattern()));
        // the ids of a hostile token end up as JSON text, never as markup
        var evil = Figures.AttentionPatterns(["</script><script>alert(1)</script>", "b", "c", "d", "e"], AttentionViewerBrowserTests.Pattern());
        Assert.DoesNotContain("</script><script>alert", evil.ToHtml());

        using var model = HookedTransformer.Load(Fixtures.DemoModelDir, 8, cachedRuns: 1);
        int[] ids = model.ToTokens("Man has four fruits");
        var (_, cache) = model.RunWithCache([ids], n => n.EndsWith(".attn.hook_pattern", StringComparison.Ordinal));
        var fromCache = Figures.AttentionPatterns(cache, model.ToStrTokens(ids));
        Assert.Contains($"\"layers\":{model.Config.NLayers},\"heads\":{model.Config.NHeads}", fromCache.Fragment);
        float w = cache["blocks.2.attn.hook_pattern"][0, 1, ids.Length - 1, 0];
        Assert.Contains(Math.Round(w, 4).ToString(System.Globalization.CultureInfo.InvariantCulture), fromCache.Fragment);
        var (_, noPatterns) = model.RunWithCache([ids], "ln_final.hook_scale");
        Assert.Throws<ArgumentException>(() => Figures.AttentionPatterns(noPatterns, model.ToStrTokens(ids)));
    }

    [Fact]
    public void Run_with_attention_writes_the_viewer_into_out()
    {
        string dir = Fixtures.TempDir("run-attention");
        var r = CliRunner.Run("run", "--text", "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1", "--attention", "--out", dir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string file = Path.Combine(dir, "attention.html");
        Assert.Contains("wrote " + file, r.Stderr);
        string html = File.ReadAllText(file);
        Assert.Contains("data-slv=\"1\"", html);
        Assert.Contains("\"layers\":4,\"heads\":4", html);
        Assert.Equal(["attention.html"], Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).ToArray());

        var noOut = CliRunner.Run("run", "--text", "Man has", "--attention");
        Assert.Equal(2, noOut.ExitCode);
        Assert.Contains("--attention needs --out", noOut.Stderr);
        string blocker = Path.Combine(Fixtures.TempDir("run-attention-file"), "file");
        File.WriteAllText(blocker, "x");
        var intoFile = CliRunner.Run("run", "--text", "Man has", "--attention", "--out", blocker);
        Assert.Equal(7, intoFile.ExitCode);
        Assert.Equal("x", File.ReadAllText(blocker));
    }
}
