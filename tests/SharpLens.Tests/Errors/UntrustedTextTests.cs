using SharpLens.IO;

namespace SharpLens.Tests.Errors;

public class UntrustedTextTests
{
    [Theory]
    [InlineData("plain text, ünïcödé and 漢字 and 🍎", "plain text, ünïcödé and 漢字 and 🍎")]
    [InlineData("\u001b[31mred\u001b[0m", @"\x1b[31mred\x1b[0m")]
    [InlineData("\u001b]0;title\u0007", @"\x1b]0;title\x07")]
    [InlineData("a\nb\rc\td", @"a\nb\rc\td")]
    [InlineData("\u007f\u009b\u0085", @"\x7f\x9b\x85")]
    [InlineData("abc\u202edef\u2028", @"abc\u202edef\u2028")]   // right-to-left override, line separator
    [InlineData(@"back\slash \x1b", @"back\slash \x1b")]       // already escaped: unchanged
    public void EscapesWhatATerminalWouldActOn(string raw, string shown) => Assert.Equal(shown, UntrustedText.Escape(raw));

    [Fact]
    public void ALoneSurrogateIsEscaped() // not in InlineData: attribute metadata cannot hold one
    {
        Assert.Equal(@"lone \ud800 surrogate", UntrustedText.Escape("lone " + (char)0xD800 + " surrogate"));
        Assert.Equal(@"\udc00", UntrustedText.Escape(((char)0xDC00).ToString()));
    }

    [Fact]
    public void NothingToEscape_ReturnsTheSameString()
    {
        string s = "model.layers.0.self_attn.q_proj.weight";
        Assert.Same(s, UntrustedText.Escape(s));
    }

    [Fact]
    public void QuoteCutsLongTextAndSaysHowMuch()
    {
        string q = UntrustedText.Quote(new string('n', 2 << 20));
        Assert.Equal(new string('n', UntrustedText.MaxQuotedChars) + $"…(+{(2 << 20) - UntrustedText.MaxQuotedChars} characters)", q);
        Assert.Equal("short", UntrustedText.Quote("short"));
        Assert.Equal("🍎…(+2 characters)", UntrustedText.Quote("🍎🍎", 3)); // a surrogate pair is never cut in half
    }
}
