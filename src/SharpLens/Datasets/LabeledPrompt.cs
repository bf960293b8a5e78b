using System.Text;
using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>
/// A prompt built from labelled pieces of text (<c>"Man"</c> = subject, <c>" has"</c> = has, …) whose labels are carried
/// over to its tokens: a token takes the label of the piece its first character belongs to, and the final token is
/// always <c>END</c>. Pieces carry their own leading space, as byte-level BPE words do, so tokens and pieces line up.
/// </summary>
internal sealed class LabeledPrompt
{
    /// <summary>The label of the final position, where the answer is predicted.</summary>
    public const string End = "END";

    readonly List<(string Text, string Label)> _pieces = [];

    public LabeledPrompt Add(string text, string label)
    {
        _pieces.Add((text, label));
        return this;
    }

    public string Text => string.Concat(_pieces.Select(p => p.Text));

    /// <summary>One label per token of <see cref="Text"/>; null when the tokens do not decode back to the text piece by
    /// piece (then the prompt is not used).</summary>
    public string[]? TokenLabels(HfTokenizer tok)
    {
        string text = Text;
        int[] ids = tok.Encode(text).ToArray();
        if (ids.Length == 0 || tok.Decode(ids) != text) return null;
        // Start of each piece in the text, to find the piece a character belongs to.
        var starts = new int[_pieces.Count];
        for (int i = 1; i < starts.Length; i++) starts[i] = starts[i - 1] + _pieces[i - 1].Text.Length;
        var labels = new string[ids.Length];
        int offset = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            int piece = Array.BinarySearch(starts, offset);
            if (piece < 0) piece = ~piece - 1;
            labels[t] = _pieces[piece].Label;
            string prefix = tok.Decode(ids[..(t + 1)]);
            if (!text.StartsWith(prefix, StringComparison.Ordinal) || prefix.Length <= offset) return null;   // a token split a character
            offset = prefix.Length;
        }
        labels[^1] = End;
        return labels;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var (text, label) in _pieces) sb.Append($"[{label}]{text}");
        return sb.ToString();
    }
}
