using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Tokenization;

/// <summary>A tokenizer.json written to hurt: a split regex that backtracks catastrophically, and names too long or too
/// strange to print.</summary>
public class HfTokenizerHostileTests
{
    /// <summary>The tiny tokenizer with <paramref name="pattern"/> as its Split regex.</summary>
    internal static string WithSplitRegex(string pattern)
    {
        var json = TinyTokenizerJson.Build();
        json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"] = new JsonObject { ["Regex"] = pattern };
        return json.ToJsonString();
    }

    [Fact]
    public void ACatastrophicallyBacktrackingSplitRegex_IsACheckpointErrorWithinSeconds()
    {
        var tok = HfTokenizer.FromJson(WithSplitRegex("(a+)+$"));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<SharpLensException>(() => tok.Encode(new string('a', 40) + "!"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.StartsWith("tokenizer.json: its split regex took over 2 s", e.Message);
        Assert.Contains("backtracks catastrophically", e.Message);
    }

    [Fact]
    public void TheSplitRegexTimeout_LeavesOrdinaryTextAlone()
    {
        var tok = HfTokenizer.FromJson(WithSplitRegex("(a+)+$"));
        Assert.NotEmpty(tok.Encode(new string('a', 40)));   // matches at once: no backtracking
        Assert.NotEmpty(HfTokenizer.FromJson(TinyTokenizerJson.Build().ToJsonString()).Encode(string.Concat(Enumerable.Repeat("abc ab ", 20000))));
    }

    [Fact]
    public void AHugeTokenNameInAMessage_IsCutAndEscaped()
    {
        var json = TinyTokenizerJson.Build();
        string huge = "\u001b[2J" + new string('x', 2 << 20);
        json["model"]!["unk_token"] = huge;
        var e = Assert.Throws<SharpLensException>(() => HfTokenizer.FromJson(json.ToJsonString()));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.True(e.Message.Length < 1000, $"message of {e.Message.Length} characters");
        Assert.Contains(@"model.unk_token ""\x1b[2Jxxx", e.Message);
        Assert.Contains("characters)", e.Message);
        Assert.DoesNotContain('\u001b', e.Message);
    }
}
