using SharpLens.Tokenization;

namespace SharpLens.Tests.Tokenization;

/// <summary>The managed NFC against Python's unicodedata.normalize("NFC", ...) on tricky inputs.</summary>
public class UnicodeNfcTests
{
    public static TheoryData<string, string> PythonNfcResults() => new()
    {
        { "e\u0301", "\u00E9" },
        { "e\u0301\u0323", "\u1EB9\u0301" },
        { "A\u030A", "\u00C5" },
        { "\u212B", "\u00C5" },
        { "\u0344", "\u0308\u0301" },
        { "\u1100\u1161\u11A8", "\uAC01" },
        { "\u1100\u1161", "\uAC00" },
        { "\uAC00\u11A8", "\uAC01" },
        { "q\u0307\u0323", "q\u0323\u0307" },
        { "\u00C5\u0301", "\u01FA" },
        { "a\u0328\u0301\u0328", "\u0105\u0328\u0301" },
        { "\U0001D15E", "\U0001D157\U0001D165" },
        { "\u0915\u093C", "\u0915\u093C" },
        { "x\u0301\u0300", "x\u0301\u0300" },
        { "\u0301abc", "\u0301abc" },
        { "Zoe\u0308 pin\u0303ata", "Zo\u00EB pi\u00F1ata" },
        { "\uD55C\uAD6D\uC5B4", "\uD55C\uAD6D\uC5B4" },
        { "plain ASCII", "plain ASCII" },
        { "", "" },
    };

    [Theory]
    [MemberData(nameof(PythonNfcResults))]
    public void MatchesPython(string input, string expected) => Assert.Equal(expected, UnicodeNfc.Normalize(input));

    [Fact]
    public void UnpairedSurrogatesArePreserved() =>
        Assert.Equal("a\uD800e\u0301"[..2] + "\u00E9", UnicodeNfc.Normalize("a\uD800e\u0301"));
}
