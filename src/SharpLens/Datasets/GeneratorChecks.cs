using SharpLens.Tokenization;

namespace SharpLens.Datasets;

/// <summary>The tokenizer checks every generated pair passes before it is written (a candidate that fails is skipped,
/// deterministically: the next one comes from the same random stream).</summary>
internal static class GeneratorChecks
{
    /// <summary>True when <paramref name="text"/> is one token alone and also the one token it adds after
    /// <paramref name="prompt"/> (<c>tokens(prompt + text) = tokens(prompt) + [token]</c>; EXPERIMENTS.md, "Answer tokens").</summary>
    public static bool AddsOneToken(HfTokenizer tok, string prompt, string text)
    {
        var alone = tok.Encode(text);
        if (alone.Count != 1) return false;
        var before = tok.Encode(prompt);
        var after = tok.Encode(prompt + text);
        return after.Count == before.Count + 1 && after[^1] == alone[0] && after.Take(before.Count).SequenceEqual(before);
    }

    public static bool IsSingleToken(HfTokenizer tok, string text) => tok.Encode(text).Count == 1;

    /// <summary>Builds a pair from the two labelled prompts when they pass every check, else null.</summary>
    public static PromptPair? Pair(HfTokenizer tok, LabeledPrompt clean, LabeledPrompt corrupted, string answer, string wrong,
        IReadOnlyList<string> candidates, System.Text.Json.Nodes.JsonObject meta)
    {
        string c = clean.Text, k = corrupted.Text;
        if (!AddsOneToken(tok, c, answer) || !AddsOneToken(tok, k, wrong)) return null;
        if (tok.Encode(answer)[0] == tok.Encode(wrong)[0]) return null;
        var labels = clean.TokenLabels(tok);
        if (labels == null || tok.Encode(k).Count != labels.Length || corrupted.TokenLabels(tok) == null) return null;
        if (tok.Encode(c).SequenceEqual(tok.Encode(k))) return null;
        var cands = candidates.Where(s => IsSingleToken(tok, s)).Distinct().ToArray();
        return new PromptPair(c, k, answer, wrong, cands, labels, meta);
    }

    /// <summary>How many candidates a generator may try before it gives up: plenty for rare misfits, bounded for a
    /// tokenizer that almost nothing fits.</summary>
    public static long MaxAttempts(int n) => 1000L + 200L * n;
}
