using System.Text.RegularExpressions;
using SharpLens.Reports;
using SharpLens.Tests.Support;
using SkiaSharp;

namespace SharpLens.Tests.Reports;

/// <summary>The PNG figures use the HTML's palettes and scales: OV copying as ranks on the green log scale (not a score on
/// the diverging one), DLA as diverging layer × component maps centred on 0, attention on the viewer's 0 → 1 scale; the
/// differing position is outlined; the 2×2 table colours fractions kept around 1, recoveries around 0.</summary>
public class PaletteTests
{
    static readonly Lazy<Dictionary<string, SKBitmap>> Pngs = new(() =>
        ReportWriter.WritePngs(ReportInput.Build(), Fixtures.TempDir("palette")).ToDictionary(p => Path.GetFileNameWithoutExtension(p), p => SKBitmap.Decode(p)));

    static int Count(SKBitmap bmp, Func<SKColor, bool> match)
    {
        int n = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
                if (match(bmp.GetPixel(x, y))) n++;
        return n;
    }

    static bool Green(SKColor c) => c.Green > c.Red + 40 && c.Green > c.Blue + 20;

    [Fact]
    public void Ov_copy_rank_png_shows_ranks_on_the_htmls_green_scale()
    {
        var bmp = Pngs.Value["ov_copy_rank"];
        Assert.True(Count(bmp, Green) > 5000, "no green rank cells");
        var (_, red, blue) = ReportWriterTests.Census(bmp);
        Assert.True(red < 50 && blue < 50, $"diverging colours in the rank map: {red} red, {blue} blue pixels");
        // the darkest green is the HTML's rank-1 stop
        var darkest = SKColor.Parse(Svg.SequentialStops[0]);
        Assert.True(Count(bmp, c => Math.Abs(c.Red - darkest.Red) + Math.Abs(c.Green - darkest.Green) + Math.Abs(c.Blue - darkest.Blue) < 12) > 500, "no rank-1 cell");
    }

    [Fact]
    public void Dla_png_is_a_diverging_map_like_the_html()
    {
        var bmp = Pngs.Value["dla_clean"];
        var (distinct, red, _) = ReportWriterTests.Census(bmp);
        Assert.True(red > 2000, $"{red} red pixels: the strongest positive contribution is not on the diverging scale's red end");
        Assert.True(distinct >= 40);
        Assert.Equal(0, Count(bmp, Green));                       // no bar-chart series colours
    }

    [Fact]
    public void Attention_png_uses_the_viewers_absolute_scale_and_resid_png_outlines_the_differing_position()
    {
        var att = Pngs.Value["attention_final_token_clean"];
        var top = SKColor.Parse(AttentionViewer.Stops[^1]);
        Assert.True(Count(att, c => Math.Abs(c.Red - top.Red) + Math.Abs(c.Green - top.Green) + Math.Abs(c.Blue - top.Blue) < 12) > 500, "no cell at weight 1");
        Assert.True(ReportWriterTests.Census(att).blue < 50, "attention drawn on the diverging scale");
        static bool Amber(SKColor c) => c.Red > 230 && c.Green is > 140 and < 175 && c.Blue < 40;
        Assert.True(Count(Pngs.Value["resid_pre_patch_recovery"], Amber) > 300, "the differing position is not outlined");
        Assert.True(Count(att, Amber) > 300, "the differing position is not outlined in the attention map");
    }

    [Fact]
    public void Necessity_table_centres_fractions_kept_on_1_and_recoveries_on_0()
    {
        string html = ReportWriter.RenderHtml(ReportInput.Build());
        var cells = Regex.Matches(html, "<td style=\"background:(#[0-9a-f]{6})\" data-v=\"([-0-9.]+)\">");
        Assert.True(cells.Count >= 30, $"{cells.Count} coloured cells");
        int near1 = 0;
        foreach (Match m in cells)
        {
            double v = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            var c = SKColor.Parse(m.Groups[1].Value);
            bool white = c.Red > 225 && c.Green > 225 && c.Blue > 225;
            // ≈ 1 is white as a fraction kept (nothing lost); ≈ 0 is white as a recovery or blue as a fraction kept — never red
            if (Math.Abs(v - 1) < 0.03 && white) near1++;
            if (Math.Abs(v) < 0.03) Assert.True(white || c.Blue > c.Red, $"{v} drawn {m.Groups[1].Value}");
        }
        Assert.True(near1 >= 6, $"{near1} fractions kept ≈ 1 drawn white");
        Assert.Contains("noise, zero: fraction kept", html);      // and the table has its legends
    }
}
