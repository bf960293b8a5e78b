using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SharpLens.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE tokenizer (Qwen2 family and alike) read from <c>tokenizer.json</c>.
/// Encoding is done by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>, configured to match the
/// Hugging Face pipeline: NFC normalization, added tokens split out first, the <c>Split</c> regex
/// (behaviour Isolated), byte-level BPE. No BOS or EOS token is ever added.
/// Tokenizers that would need anything else are refused when loading (<see cref="ExitCode.Checkpoint"/>).
/// </summary>
public sealed class HfTokenizer
{
    /// <summary>Name of the file <see cref="Load"/> reads.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>Name of the optional configuration file <see cref="Load"/> also checks.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>How long the split regex may take to find one piece of a text. Real split regexes take microseconds; a
    /// hostile or broken one that backtracks catastrophically (<c>(a+)+$</c>) would otherwise run for ever.</summary>
    public static readonly TimeSpan SplitRegexTimeout = TimeSpan.FromSeconds(2);

    readonly BpeTokenizer _bpe;
    readonly IReadOnlyDictionary<int, string> _vocabularyTokenById; // byte-level alphabet strings
    readonly Dictionary<int, string> _addedTokenById;               // plain text
    readonly string _source;                                        // the tokenizer.json, for messages

    HfTokenizer(BpeTokenizer bpe, IReadOnlyDictionary<int, string> vocabularyTokenById, Dictionary<int, string> addedTokenById, string source)
    {
        _bpe = bpe;
        _source = source;
        _vocabularyTokenById = vocabularyTokenById;
        _addedTokenById = addedTokenById;
        MaxTokenId = Math.Max(vocabularyTokenById.Keys.Max(), addedTokenById.Count == 0 ? 0 : addedTokenById.Keys.Max());
    }

    /// <summary>Largest id this tokenizer defines, added tokens included (Qwen2.5: 151,664).</summary>
    public int MaxTokenId { get; }

    /// <summary>
    /// Checks that every id this tokenizer can produce has a row in the model's embedding: <see cref="MaxTokenId"/>
    /// must be below <c>vocab_size</c>. A larger <c>vocab_size</c> is normal (Qwen pads 151,646 ids to 151,936 rows).
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when the tokenizer and the weights do not belong together.</exception>
    public void EnsureFits(Loading.ModelConfig config, string modelDir)
    {
        if (MaxTokenId < config.VocabSize) return;
        throw SharpLensException.Checkpoint(
            $"{modelDir}: {TokenizerFileName} defines token ids up to {MaxTokenId}, but config.json has vocab_size {config.VocabSize}, " +
            $"so ids {config.VocabSize}–{MaxTokenId} have no embedding row; the tokenizer does not belong to these weights (use the model's own {TokenizerFileName})");
    }

    /// <summary>Loads <c>modelDir/tokenizer.json</c>, checking <c>modelDir/tokenizer_config.json</c> too when present.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when a file is missing, unreadable,
    /// malformed, or describes a tokenizer that is not supported yet; the message names the file.</exception>
    public static HfTokenizer Load(string modelDir)
    {
        string tokenizerPath = Path.Combine(modelDir, TokenizerFileName);
        string configPath = Path.Combine(modelDir, TokenizerConfigFileName);
        if (!File.Exists(tokenizerPath))
            throw SharpLensException.Checkpoint($"{tokenizerPath}: not found (the model directory has no {TokenizerFileName}).");
        string tokenizerJson = ReadFile(tokenizerPath);
        string? configJson = File.Exists(configPath) ? ReadFile(configPath) : null;
        return Create(tokenizerJson, configJson, tokenizerPath, configPath);
    }

    /// <summary>Builds a tokenizer from the text of a <c>tokenizer.json</c> and, optionally, of a
    /// <c>tokenizer_config.json</c>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for malformed or unsupported input.</exception>
    public static HfTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        return Create(tokenizerJson, tokenizerConfigJson, TokenizerFileName, TokenizerConfigFileName);
    }

    /// <summary>The token ids of <paramref name="text"/>, exactly as Hugging Face <c>tokenizers</c> gives them
    /// (added tokens such as <c>&lt;|im_start|&gt;</c> recognised in the text; no BOS).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when the split regex takes longer than
    /// <see cref="SplitRegexTimeout"/> to find one piece: the tokenizer.json is at fault, not the text.</exception>
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        try
        {
            return _bpe.EncodeToIds(text).ToArray();
        }
        catch (RegexMatchTimeoutException)
        {
            throw SharpLensException.Checkpoint(
                $"{_source}: its split regex took over {SplitRegexTimeout.TotalSeconds:0} s to find one piece of the text and was stopped; " +
                "it backtracks catastrophically (a nested repetition such as (a+)+): use the model's original tokenizer.json");
        }
    }

    /// <summary>The text of a sequence of ids: byte-level decoding, added (special) tokens shown as written,
    /// invalid UTF-8 (e.g. half a character) replaced by U+FFFD.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) for an id the tokenizer does not define.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (_addedTokenById.TryGetValue(id, out var added)) ByteLevelAlphabet.AppendUtf8(added, bytes);
            else if (_vocabularyTokenById.TryGetValue(id, out var token)) ByteLevelAlphabet.AppendBytes(token, bytes);
            else throw SharpLensException.Input($"token id {id} is not defined by this tokenizer (ids go up to {MaxTokenId}).");
        }
        return ByteLevelAlphabet.DecodeUtf8(bytes);
    }

    /// <summary>One token decoded on its own, e.g. <c>" Mango"</c> for Qwen's 90863.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) for an undefined id.</exception>
    public string TokenText(int id) => Decode([id]);

    /// <summary>Whether <paramref name="id"/> is a vocabulary or added token of this tokenizer.</summary>
    public bool IsDefined(int id) => _vocabularyTokenById.ContainsKey(id) || _addedTokenById.ContainsKey(id);

    /// <summary>The id of <paramref name="text"/> when it encodes to exactly one token, otherwise null.</summary>
    public int? TryGetSingleToken(string text)
    {
        var ids = Encode(text);
        return ids.Count == 1 ? ids[0] : null;
    }

    static HfTokenizer Create(string tokenizerJson, string? configJson, string tokenizerSource, string configSource)
    {
        var definition = TokenizerJsonReader.Read(tokenizerJson, configJson, tokenizerSource, configSource);

        // Longest first: the added-token regex is an alternation, and HF prefers the longest match.
        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (content, id) in definition.AddedTokens.OrderByDescending(t => t.Content.Length))
            addedTokens[content] = id;

        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges,
            SpecialTokens = addedTokens.Count == 0 ? null : addedTokens,
            Normalizer = definition.NormalizeToNfc ? new NfcNormalizer() : null,
            PreTokenizer = new IsolatedSplitPreTokenizer(new Regex(definition.SplitPattern, RegexOptions.Compiled, SplitRegexTimeout), addedTokens),
            UnknownToken = definition.UnknownToken,
            ByteLevel = true,
        };
        BpeTokenizer bpe;
        try { bpe = BpeTokenizer.Create(options); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // Microsoft.ML.Tokenizers checks the merges against the vocabulary.
            throw SharpLensException.Checkpoint($"{tokenizerSource}: not a usable tokenizer file: {e.Message}");
        }

        var addedTokenById = definition.AddedTokens.ToDictionary(t => t.Id, t => t.Content);
        return new HfTokenizer(bpe, definition.VocabularyTokenById, addedTokenById, tokenizerSource);
    }

    static string ReadFile(string path)
    {
        IO.RegularFile.Require(path, path, ExitCode.Checkpoint); // a FIFO would block the read below
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SharpLensException.Checkpoint($"{path}: cannot be read ({e.Message}).");
        }
    }
}
