using System.Text;
using System.Text.RegularExpressions;

namespace SharpLens.Tokenization;

/// <summary>
/// Hugging Face <c>tokenizers</c>' encoding pipeline for the BPE layouts Microsoft.ML.Tokenizers' <c>BpeTokenizer</c>
/// cannot reproduce, written from the Rust crate's semantics:
/// <list type="bullet">
/// <item>SentencePiece-converted BPE (Llama 2, Mistral, Phi-3, Gemma): <c>byte_fallback</c> to <c>&lt;0xNN&gt;</c> tokens
/// and <c>fuse_unk</c> have no counterpart in <c>BpeOptions</c>, and the Prepend/Replace normalizers with no
/// pre-tokenizer make the whole text one BPE word, which its pre-tokenizer interface cannot express;</item>
/// <item><c>ignore_merges</c> (Llama 3): a pre-tokenized word that is itself in the vocabulary is one token even when
/// the merges would not build it; <c>BpeTokenizer</c> always merges;</item>
/// <item>added tokens with <c>lstrip</c>/<c>rstrip</c>/<c>single_word</c> (Phi-3), and <c>normalized</c> added tokens
/// matched in the normalized text, which <c>BpeTokenizer</c>'s special tokens (matched in the raw text) do not do.</item>
/// </list>
/// Everything else (GPT-2, Qwen, GPT-NeoX) stays on Microsoft.ML.Tokenizers (see <see cref="HfTokenizer"/>).
/// </summary>
internal sealed class BpePipeline
{
    readonly TokenizerDefinition _def;
    readonly Dictionary<(int, int), (int Rank, int Merged)> _merges;
    readonly Dictionary<char, AddedToken[]> _rawAdded, _normalizedAdded; // by first char, longest first
    readonly Regex[] _splitRegexes;
    readonly Regex? _gpt2Regex;
    readonly int[] _byteTokens = new int[256];
    readonly int? _unknownId;

    public BpePipeline(TokenizerDefinition definition, string source)
    {
        _def = definition;
        var vocab = definition.Vocabulary;
        _merges = new Dictionary<(int, int), (int, int)>(definition.Merges.Count);
        for (int rank = 0; rank < definition.Merges.Count; rank++)
        {
            var (left, right) = definition.Merges[rank];
            if (!vocab.TryGetValue(left, out int a) || !vocab.TryGetValue(right, out int b) || !vocab.TryGetValue(left + right, out int merged))
                throw SharpLensException.Checkpoint($"{source}: not a usable tokenizer file: merge #{rank} \"{IO.UntrustedText.Quote(left + " " + right)}\" uses or makes a token that is not in the vocabulary.");
            _merges.TryAdd((a, b), (rank, merged)); // the first (lowest-ranked) occurrence wins, as in the Rust crate
        }
        _rawAdded = IndexByFirstChar(definition.AddedTokens.Where(t => !t.Normalized));
        _normalizedAdded = IndexByFirstChar(definition.AddedTokens.Where(t => t.Normalized));
        _splitRegexes = definition.PreTokenizers.Select(p => p is PreTokenizerStep.Split s
            ? new Regex(s.Pattern, RegexOptions.Compiled, HfTokenizer.SplitRegexTimeout) : null!).ToArray();
        if (definition.PreTokenizers.Any(p => p is PreTokenizerStep.ByteLevel { UseRegex: true }))
            _gpt2Regex = new Regex(TokenizerJsonReader.Gpt2SplitPattern, RegexOptions.Compiled, HfTokenizer.SplitRegexTimeout);
        for (int b = 0; b < 256; b++) _byteTokens[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        _unknownId = definition.Model.UnknownToken is { } unk ? vocab[unk] : null;
    }

    static Dictionary<char, AddedToken[]> IndexByFirstChar(IEnumerable<AddedToken> tokens) =>
        tokens.GroupBy(t => t.Content[0]).ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());

    /// <summary>The ids of <paramref name="text"/> without the post-processor's special tokens.</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (piece, addedId, start) in SplitAdded(text, _rawAdded))
        {
            if (addedId >= 0) { ids.Add(addedId); continue; }
            string normalized = Normalize(piece);
            // normalized added tokens are found in the normalized text (the Rust crate's second pass)
            foreach (var (part, id, _) in SplitAdded(normalized, _normalizedAdded))
            {
                if (id >= 0) { ids.Add(id); continue; }
                foreach (string word in PreTokenize(part, isFirst: start == 0))
                    if (word.Length > 0) Bpe(word, ids);
            }
        }
        return ids;
    }

    /// <summary>Leftmost-longest matches of added tokens, with their lstrip / rstrip / single_word rules;
    /// each piece is either text (id -1) or one added token.</summary>
    static List<(string Text, int Id, int Start)> SplitAdded(string text, Dictionary<char, AddedToken[]> added)
    {
        var pieces = new List<(string, int, int)>();
        if (added.Count == 0) { if (text.Length > 0) pieces.Add((text, -1, 0)); return pieces; }
        int segmentStart = 0, i = 0;
        while (i < text.Length)
        {
            AddedToken? hit = null;
            if (added.TryGetValue(text[i], out var candidates))
                foreach (var t in candidates)
                    if (text.Length - i >= t.Content.Length && string.CompareOrdinal(text, i, t.Content, 0, t.Content.Length) == 0)
                    {
                        int end = i + t.Content.Length;
                        if (t.SingleWord && ((i > 0 && IsWordChar(text[i - 1])) || (end < text.Length && IsWordChar(text[end])))) continue;
                        hit = t;
                        break;
                    }
            if (hit is null) { i++; continue; }
            int start = i, stop = i + hit.Content.Length;
            if (hit.LStrip) while (start > segmentStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (hit.RStrip) while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
            if (start > segmentStart) pieces.Add((text[segmentStart..start], -1, segmentStart));
            pieces.Add((hit.Content, hit.Id, start));
            segmentStart = i = stop;
        }
        if (segmentStart < text.Length) pieces.Add((text[segmentStart..], -1, segmentStart));
        return pieces;
    }

    static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    string Normalize(string text)
    {
        foreach (var step in _def.Normalizers)
            text = step switch
            {
                NormalizerStep.Nfc => text.Normalize(NormalizationForm.FormC),
                NormalizerStep.Prepend p => text.Length == 0 ? text : p.Text + text,
                NormalizerStep.Replace r => text.Replace(r.Pattern, r.Content, StringComparison.Ordinal),
                _ => throw new InvalidOperationException(step.ToString()),
            };
        return text;
    }

    List<string> PreTokenize(string text, bool isFirst)
    {
        var words = new List<string> { text };
        for (int s = 0; s < _def.PreTokenizers.Count; s++)
        {
            var next = new List<string>();
            foreach (string word in words)
                switch (_def.PreTokenizers[s])
                {
                    case PreTokenizerStep.Split split: SplitWord(word, _splitRegexes[s], split.Behavior, next); break;
                    case PreTokenizerStep.ByteLevel:
                        var pieces = new List<string>();
                        if (_gpt2Regex is null) pieces.Add(word); else SplitWord(word, _gpt2Regex, "Isolated", pieces);
                        foreach (string piece in pieces) next.Add(ByteLevelAlphabet.ToByteLevel(piece));
                        break;
                    case PreTokenizerStep.Metaspace m:
                        string replaced = word.Replace(" ", m.Replacement, StringComparison.Ordinal);
                        if (!replaced.StartsWith(m.Replacement, StringComparison.Ordinal) && (m.PrependScheme == "always" || (m.PrependScheme == "first" && isFirst)))
                            replaced = m.Replacement + replaced;
                        if (m.SplitWords) SplitWord(replaced, new Regex(Regex.Escape(m.Replacement)), "MergedWithNext", next);
                        else next.Add(replaced);
                        break;
                }
            words = next;
        }
        return words;
    }

    /// <summary>The Rust crate's <c>split</c> with a delimiter behaviour: matches alone (Isolated), glued to the text
    /// before them (MergedWithPrevious) or after them (MergedWithNext).</summary>
    static void SplitWord(string text, Regex regex, string behavior, List<string> output)
    {
        var parts = new List<(int Start, int End, bool IsMatch)>();
        int covered = 0;
        for (var m = regex.Match(text); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            if (m.Index > covered) parts.Add((covered, m.Index, false));
            parts.Add((m.Index, m.Index + m.Length, true));
            covered = m.Index + m.Length;
        }
        if (covered < text.Length) parts.Add((covered, text.Length, false));
        var merged = new List<(int Start, int End)>();
        if (behavior == "Isolated") merged.AddRange(parts.Select(p => (p.Start, p.End)));
        else if (behavior == "MergedWithPrevious")
        {
            bool previousMatch = false;
            foreach (var (start, end, isMatch) in parts)
            {
                if (isMatch && !previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, end);
                else merged.Add((start, end));
                previousMatch = isMatch;
            }
        }
        else // MergedWithNext
        {
            bool previousMatch = false;
            for (int i = parts.Count - 1; i >= 0; i--)
            {
                var (start, end, isMatch) = parts[i];
                if (isMatch && !previousMatch && merged.Count > 0) merged[^1] = (start, merged[^1].End);
                else merged.Add((start, end));
                previousMatch = isMatch;
            }
            merged.Reverse();
        }
        foreach (var (start, end) in merged) output.Add(text[start..end]);
    }

    /// <summary>One word through the BPE model: characters to ids (byte fallback, unknown token), then the merges,
    /// lowest rank first and leftmost among equals, as the Rust crate's priority queue applies them.</summary>
    void Bpe(string word, List<int> ids)
    {
        var vocab = _def.Vocabulary;
        if (_def.Model.IgnoreMerges && vocab.TryGetValue(word, out int whole)) { ids.Add(whole); return; }
        var symbols = new List<int>(word.Length);
        int pendingUnknown = 0; // the Rust crate holds an unknown symbol back until the next known character
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1)
        {
            string ch = word.Substring(i, char.IsSurrogatePair(word, i) ? 2 : 1);
            if (vocab.TryGetValue(ch, out int id))
            {
                if (pendingUnknown > 0) { symbols.Add(_unknownId!.Value); pendingUnknown = 0; }
                symbols.Add(id);
                continue;
            }
            if (_def.Model.ByteFallback)
            {
                var bytes = Encoding.UTF8.GetBytes(ch);
                if (bytes.All(b => _byteTokens[b] >= 0)) { foreach (byte b in bytes) symbols.Add(_byteTokens[b]); continue; }
            }
            if (_unknownId is { } unk)
            {
                if (pendingUnknown > 0 && !_def.Model.FuseUnknown) symbols.Add(unk);
                pendingUnknown++;
            }
            // no unknown token: the Rust crate drops the character
        }
        if (pendingUnknown > 0) symbols.Add(_unknownId!.Value);

        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1, bestMerged = 0;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_merges.TryGetValue((symbols[i], symbols[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, bestAt, bestMerged) = (m.Rank, i, m.Merged);
            if (bestAt < 0) break;
            symbols[bestAt] = bestMerged;
            symbols.RemoveAt(bestAt + 1);
        }
        ids.AddRange(symbols);
    }
}
