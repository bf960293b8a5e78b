namespace SharpLens.Tokenization;

/// <summary>
/// What SharpLens needs from a Hugging Face <c>tokenizer.json</c> after it has been read and checked: a BPE model
/// (byte-level, or SentencePiece-converted with <c>byte_fallback</c>), its normalizer, pre-tokenizer, post-processor
/// and decoder steps, and its added tokens.
/// </summary>
/// <param name="Vocabulary">Token string → id (byte-level alphabet strings, or SentencePiece pieces with <c>▁</c>).</param>
/// <param name="VocabularyTokenById">The same vocabulary, id → token.</param>
/// <param name="Merges">Merges in rank order, each as (left, right).</param>
/// <param name="AddedTokens">Added tokens (special or not) in the order the file lists them.</param>
/// <param name="Normalizers">The normalizer steps in order (empty: none).</param>
/// <param name="PreTokenizers">The pre-tokenizer steps in order (empty: the whole normalized text is one word).</param>
/// <param name="Model">The BPE model's options.</param>
/// <param name="Template">What the post-processor puts around a single sequence (TemplateProcessing), as ids.</param>
/// <param name="Decoders">The decoder steps in order.</param>
internal sealed record TokenizerDefinition(
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyDictionary<int, string> VocabularyTokenById,
    IReadOnlyList<(string Left, string Right)> Merges,
    IReadOnlyList<AddedToken> AddedTokens,
    IReadOnlyList<NormalizerStep> Normalizers,
    IReadOnlyList<PreTokenizerStep> PreTokenizers,
    BpeModelOptions Model,
    SpecialTemplate Template,
    IReadOnlyList<DecoderStep> Decoders)
{
    /// <summary>Byte-level BPE: the vocabulary is in GPT-2's byte alphabet (a ByteLevel pre-tokenizer).</summary>
    public bool IsByteLevel => PreTokenizers.Any(p => p is PreTokenizerStep.ByteLevel);
}

/// <summary>An added token of <c>tokenizer.json</c> with the flags that change how it is found in a text.</summary>
internal sealed record AddedToken(string Content, int Id, bool Special, bool LStrip, bool RStrip, bool SingleWord, bool Normalized);

/// <summary>BPE model options of <c>tokenizer.json</c>'s <c>model</c>.</summary>
internal sealed record BpeModelOptions(string? UnknownToken, bool FuseUnknown, bool ByteFallback, bool IgnoreMerges);

/// <summary>The ids TemplateProcessing puts before and after a single sequence (e.g. <c>&lt;s&gt; $A</c>: [1] and []).</summary>
internal sealed record SpecialTemplate(IReadOnlyList<int> Prefix, IReadOnlyList<int> Suffix)
{
    public static readonly SpecialTemplate None = new([], []);
}

internal abstract record NormalizerStep
{
    public sealed record Nfc : NormalizerStep;
    public sealed record Prepend(string Text) : NormalizerStep;
    public sealed record Replace(string Pattern, string Content) : NormalizerStep;
}

internal abstract record PreTokenizerStep
{
    /// <summary><c>Split</c> with a regex (or an escaped literal) and behaviour Isolated or MergedWithPrevious/Next.</summary>
    public sealed record Split(string Pattern, string Behavior) : PreTokenizerStep;
    /// <summary>Bytes to GPT-2's alphabet; with <paramref name="UseRegex"/> GPT-2's split regex first.</summary>
    public sealed record ByteLevel(bool UseRegex) : PreTokenizerStep;
    /// <summary>Spaces to <paramref name="Replacement"/>, a prefix by <paramref name="PrependScheme"/> (always, first, never),
    /// and with <paramref name="SplitWords"/> a new word at each replacement character.</summary>
    public sealed record Metaspace(string Replacement, string PrependScheme, bool SplitWords) : PreTokenizerStep;
}

internal abstract record DecoderStep
{
    public sealed record ByteLevel : DecoderStep;
    public sealed record Replace(string Pattern, string Content) : DecoderStep;
    public sealed record ByteFallback : DecoderStep;
    public sealed record Fuse : DecoderStep;
    public sealed record Strip(string Content, int Start, int Stop) : DecoderStep;
    public sealed record Metaspace(string Replacement, string PrependScheme) : DecoderStep;
}
