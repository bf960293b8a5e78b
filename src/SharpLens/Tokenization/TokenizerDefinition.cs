namespace SharpLens.Tokenization;

/// <summary>
/// What SharpLens needs from a Hugging Face <c>tokenizer.json</c> after it has been read and checked:
/// a byte-level BPE model with its split regex, optional NFC normalization and added tokens.
/// </summary>
/// <param name="Vocabulary">Byte-level token string → id.</param>
/// <param name="VocabularyTokenById">The same vocabulary, id → token.</param>
/// <param name="Merges">Merges in rank order, each as "left right".</param>
/// <param name="AddedTokens">Added tokens (special or not) in the order the file lists them.</param>
/// <param name="SplitPattern">The regex of the <c>Split</c> pre-tokenizer (behaviour Isolated).</param>
/// <param name="NormalizeToNfc">Whether the text is NFC-normalized before splitting.</param>
/// <param name="UnknownToken">The model's unknown token, or null (byte-level BPE never needs one).</param>
internal sealed record TokenizerDefinition(
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyDictionary<int, string> VocabularyTokenById,
    IReadOnlyList<string> Merges,
    IReadOnlyList<(string Content, int Id)> AddedTokens,
    string SplitPattern,
    bool NormalizeToNfc,
    string? UnknownToken);
