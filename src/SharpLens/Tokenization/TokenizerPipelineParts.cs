using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SharpLens.Tokenization;

/// <summary>Unicode NFC normalization, as the Hugging Face <c>{"type": "NFC"}</c> normalizer.</summary>
internal sealed class NfcNormalizer : Normalizer
{
    /// <inheritdoc/>
    public override string Normalize(string original) => original.Normalize(System.Text.NormalizationForm.FormC);

    /// <inheritdoc/>
    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}

/// <summary>
/// Hugging Face <c>Split</c> with behaviour <c>Isolated</c>: the regex matches become pieces and so does any
/// text between matches. <see cref="RegexPreTokenizer"/> yields the matches (and splits out added tokens);
/// this wrapper adds the unmatched gaps, which <see cref="RegexPreTokenizer"/> alone would drop, and stops
/// with an error instead of looping forever if a pattern matches empty text.
/// </summary>
internal sealed class IsolatedSplitPreTokenizer(Regex splitRegex, IReadOnlyDictionary<string, int> addedTokens) : PreTokenizer
{
    readonly RegexPreTokenizer _matcher = new(splitRegex, addedTokens);

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : WithGaps(_matcher.PreTokenize(text), text.Length);

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : WithGaps(_matcher.PreTokenize(text.ToString()), text.Length);

    static IEnumerable<(int Offset, int Length)> WithGaps(IEnumerable<(int Offset, int Length)> matches, int textLength)
    {
        int covered = 0;
        foreach (var (offset, length) in matches)
        {
            if (length == 0)
                throw SharpLensException.Checkpoint(
                    "the tokenizer's split regex matched empty text, which is not supported yet");
            if (offset > covered) yield return (covered, offset - covered);
            yield return (offset, length);
            covered = offset + length;
        }
        if (covered < textLength) yield return (covered, textLength - covered);
    }
}
