using System.Text;

namespace SharpLens.Tokenization;

/// <summary>
/// Hugging Face <c>tokenizers</c>' decoder chain (Microsoft.ML.Tokenizers has no counterpart for tokenizer.json
/// decoders): the tokens' strings pass through each step in turn and are then concatenated. Steps: ByteLevel (GPT-2's
/// alphabet back to bytes), Replace (<c>▁</c> → space), ByteFallback (<c>&lt;0xNN&gt;</c> runs back to UTF-8, U+FFFD per
/// byte when invalid), Fuse, Strip (SentencePiece's leading space), Metaspace.
/// </summary>
internal static class TokenDecoder
{
    /// <summary>Decodes token strings. <paramref name="whole"/> false leaves out the steps that only make sense at the
    /// start of a text (Strip, Metaspace's prefix removal), so one token shows as it reads inside a text (" Mango").</summary>
    public static string Decode(IReadOnlyList<DecoderStep> steps, List<string> tokens, bool byteLevelVocabulary, bool whole = true)
    {
        if (steps.Count == 0 && byteLevelVocabulary) steps = [new DecoderStep.ByteLevel()];
        foreach (var step in steps)
            tokens = step switch
            {
                DecoderStep.ByteLevel => [ByteLevel(tokens)],
                DecoderStep.Replace r => tokens.Select(t => t.Replace(r.Pattern, r.Content, StringComparison.Ordinal)).ToList(),
                DecoderStep.ByteFallback => ByteFallback(tokens),
                DecoderStep.Fuse => [string.Concat(tokens)],
                DecoderStep.Strip s => whole ? tokens.Select(t => Strip(t, s)).ToList() : tokens,
                DecoderStep.Metaspace m => tokens.Select((t, i) =>
                {
                    t = t.Replace(m.Replacement, " ", StringComparison.Ordinal);
                    return whole && i == 0 && m.PrependScheme != "never" && t.StartsWith(' ') ? t[1..] : t;
                }).ToList(),
                _ => throw new InvalidOperationException(step.ToString()),
            };
        // Like the Rust crate, a tokenizer without a decoder joins its tokens with spaces.
        return steps.Count == 0 ? string.Join(" ", tokens) : string.Concat(tokens);
    }

    /// <summary>A token whose characters are all in the byte alphabet is those bytes; any other (an added token with a
    /// space, say) is its own UTF-8, as the Rust crate's ByteLevel decoder does.</summary>
    static string ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string token in tokens)
            if (ByteLevelAlphabet.IsByteLevel(token)) ByteLevelAlphabet.AppendBytes(token, bytes);
            else ByteLevelAlphabet.AppendUtf8(token, bytes);
        return ByteLevelAlphabet.DecodeUtf8(bytes);
    }

    static List<string> ByteFallback(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var pending = new List<byte>();
        void Flush()
        {
            if (pending.Count == 0) return;
            try { output.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(pending.ToArray())); }
            catch (DecoderFallbackException) { for (int i = 0; i < pending.Count; i++) output.Add("\uFFFD"); }
            pending.Clear();
        }
        foreach (string token in tokens)
        {
            if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>' &&
                byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            {
                pending.Add(b);
                continue;
            }
            Flush();
            output.Add(token);
        }
        Flush();
        return output;
    }

    static string Strip(string token, DecoderStep.Strip s)
    {
        int start = 0, stop = token.Length;
        for (int n = 0; n < s.Start && start < stop && token.AsSpan(start).StartsWith(s.Content, StringComparison.Ordinal); n++) start += s.Content.Length;
        for (int n = 0; n < s.Stop && stop - s.Content.Length >= start && token.AsSpan(0, stop).EndsWith(s.Content, StringComparison.Ordinal); n++) stop -= s.Content.Length;
        return token[start..stop];
    }
}
