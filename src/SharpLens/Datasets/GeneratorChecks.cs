using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>The tokenizer checks every generated pair passes before it is written (a candidate that fails is skipped,
/// deterministically: the next one comes from the same random stream).</summary>
internal static class GeneratorChecks
{
    /// <summary>True when <paramref name="text"/> is the one token it adds after <paramref name="prompt"/>
    /// (<c>tokens(prompt + text) = tokens(prompt) + [token]</c>; EXPERIMENTS.md, "Answer tokens"). With SentencePiece
    /// vocabularies " Mango" alone is two tokens (<c>▁</c> + <c>▁Mango</c>) but one after a prompt.</summary>
    public static bool AddsOneToken(HfTokenizer tok, string prompt, string text) => tok.TryGetAnswerToken(prompt, text) is not null;

    /// <summary>A first filter for names: one token after a word ("Then"); each pair then checks its own prompt.</summary>
    public static bool IsSingleToken(HfTokenizer tok, string text) => AddsOneToken(tok, "Then", text);

    /// <summary>Builds a pair from the two labelled prompts when they pass every check, else null.</summary>
    public static PromptPair? Pair(HfTokenizer tok, LabeledPrompt clean, LabeledPrompt corrupted, string answer, string wrong,
        IReadOnlyList<string> candidates, System.Text.Json.Nodes.JsonObject meta)
    {
        string c = clean.Text, k = corrupted.Text;
        if (!AddsOneToken(tok, c, answer) || !AddsOneToken(tok, k, wrong)) return null;
        if (tok.TryGetAnswerToken(c, answer) == tok.TryGetAnswerToken(c, wrong)) return null;
        var labels = clean.TokenLabels(tok);
        if (labels == null || tok.Encode(k).Count != labels.Length || corrupted.TokenLabels(tok) == null) return null;
        if (tok.Encode(c).SequenceEqual(tok.Encode(k))) return null;
        var cands = candidates.Where(s => AddsOneToken(tok, c, s)).Distinct().ToArray();
        return new PromptPair(c, k, answer, wrong, cands, labels, meta);
    }

    /// <summary>How many candidates a generator may try before it gives up: plenty for rare misfits, bounded for a
    /// tokenizer that almost nothing fits.</summary>
    public static long MaxAttempts(int n) => 1000L + 200L * n;
}
