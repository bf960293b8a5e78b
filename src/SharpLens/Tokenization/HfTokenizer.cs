using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SharpLens.Tokenization;

/// <summary>
/// A Hugging Face BPE tokenizer read from <c>tokenizer.json</c> (and <c>tokenizer_config.json</c>): byte-level BPE
/// (GPT-2, Qwen, GPT-NeoX, Llama 3) and SentencePiece-converted BPE (Llama 2, Mistral, Phi-3, Gemma).
/// Byte-level BPE with the merges always applied is encoded by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>,
/// configured to match the Hugging Face pipeline (NFC, added tokens split out first, the <c>Split</c> regex, byte-level
/// BPE); the layouts it cannot reproduce go through <see cref="BpePipeline"/> (which says why). The post-processor's
/// special tokens (BOS) are added only when asked (<see cref="Encode(string, bool)"/>); decoding follows the file's
/// decoder chain (<see cref="TokenDecoder"/>). Tokenizers that would need anything else are refused when loading
/// (<see cref="ExitCode.Checkpoint"/>).
/// </summary>
public sealed class HfTokenizer
{
    /// <summary>Name of the file <see cref="Load"/> reads.</summary>
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>Name of the optional configuration file <see cref="Load"/> also reads (<c>add_bos_token</c>, <c>add_eos_token</c>).</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>How long the split regex may take to find one piece of a text. Real split regexes take microseconds; a
    /// hostile or broken one that backtracks catastrophically (<c>(a+)+$</c>) would otherwise run for ever.</summary>
    public static readonly TimeSpan SplitRegexTimeout = TimeSpan.FromSeconds(2);

    readonly BpeTokenizer? _bpe;                                    // Microsoft.ML.Tokenizers, where it reproduces HF
    readonly BpePipeline? _pipeline;                                // otherwise
    readonly TokenizerDefinition _definition;
    readonly IReadOnlyDictionary<int, string> _vocabularyTokenById;
    readonly Dictionary<int, AddedToken> _addedTokenById;
    readonly string _source;                                        // the tokenizer.json, for messages

    HfTokenizer(BpeTokenizer? bpe, BpePipeline? pipeline, TokenizerDefinition definition, string source)
    {
        _bpe = bpe;
        _pipeline = pipeline;
        _definition = definition;
        _source = source;
        _vocabularyTokenById = definition.VocabularyTokenById;
        _addedTokenById = definition.AddedTokens.ToDictionary(t => t.Id);
        MaxTokenId = Math.Max(_vocabularyTokenById.Keys.Max(), _addedTokenById.Count == 0 ? 0 : _addedTokenById.Keys.Max());
    }

    /// <summary>Whether Microsoft.ML.Tokenizers encodes (true) or SharpLens' own <see cref="BpePipeline"/> does.</summary>
    internal bool UsesMicrosoftMlTokenizers => _bpe is not null;

    /// <summary>The ids the post-processor puts before a text when special tokens are added (e.g. BOS [1] for Mistral;
    /// empty for GPT-2 and Qwen), after <c>add_bos_token</c> of tokenizer_config.json.</summary>
    public IReadOnlyList<int> SpecialPrefix => _definition.Template.Prefix;

    /// <summary>The ids the post-processor puts after a text (EOS with <c>add_eos_token</c>; usually none).</summary>
    public IReadOnlyList<int> SpecialSuffix => _definition.Template.Suffix;

    /// <summary>Whether encoding with special tokens (Hugging Face's default) starts with BOS.</summary>
    public bool AddsBos => SpecialPrefix.Count > 0;

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

    /// <summary>The token ids of <paramref name="text"/>, exactly as Hugging Face <c>tokenizers</c> gives them with
    /// <c>add_special_tokens=False</c> (added tokens such as <c>&lt;|im_start|&gt;</c> recognised in the text; no BOS).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when the split regex takes longer than
    /// <see cref="SplitRegexTimeout"/> to find one piece: the tokenizer.json is at fault, not the text.</exception>
    public IReadOnlyList<int> Encode(string text) => Encode(text, addSpecialTokens: false);

    /// <summary>The token ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/> the post-processor's
    /// special tokens around them (<see cref="SpecialPrefix"/>, <see cref="SpecialSuffix"/>), as Hugging Face's default
    /// <c>add_special_tokens=True</c>.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) as <see cref="Encode(string)"/>.</exception>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        IReadOnlyList<int> ids;
        try
        {
            ids = text.Length == 0 ? [] : _bpe is not null ? _bpe.EncodeToIds(text).ToArray() : _pipeline!.Encode(text);
        }
        catch (RegexMatchTimeoutException)
        {
            throw SharpLensException.Checkpoint(
                $"{_source}: its split regex took over {SplitRegexTimeout.TotalSeconds:0} s to find one piece of the text and was stopped; " +
                "it backtracks catastrophically (a nested repetition such as (a+)+): use the model's original tokenizer.json");
        }
        if (!addSpecialTokens || (SpecialPrefix.Count == 0 && SpecialSuffix.Count == 0)) return ids;
        return [.. SpecialPrefix, .. ids, .. SpecialSuffix];
    }

    /// <summary>The text of a sequence of ids through the tokenizer's decoder (byte-level, or SentencePiece's
    /// Replace / ByteFallback / Fuse / Strip), added tokens shown as written, invalid UTF-8 (e.g. half a character)
    /// replaced by U+FFFD.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) for an id the tokenizer does not define.</exception>
    public string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>As <see cref="Decode(IEnumerable{int})"/>; <paramref name="skipSpecialTokens"/> leaves out special added
    /// tokens such as BOS, as Hugging Face's <c>skip_special_tokens=True</c>.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens) => Decode(ids, skipSpecialTokens, whole: true);

    string Decode(IEnumerable<int> ids, bool skipSpecialTokens, bool whole)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (int id in ids)
        {
            if (_addedTokenById.TryGetValue(id, out var added))
            {
                if (!(skipSpecialTokens && added.Special)) tokens.Add(added.Content);
            }
            else if (_vocabularyTokenById.TryGetValue(id, out var token)) tokens.Add(token);
            else throw SharpLensException.Input($"token id {id} is not defined by this tokenizer (ids go up to {MaxTokenId}).");
        }
        return TokenDecoder.Decode(_definition.Decoders, tokens, _definition.IsByteLevel, whole);
    }

    /// <summary>One token decoded on its own as it reads inside a text, e.g. <c>" Mango"</c> for Qwen's 90863 and for
    /// Mistral's <c>▁Mango</c> (SentencePiece's strip of a text's leading space is not applied to a lone token).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) for an undefined id.</exception>
    public string TokenText(int id) => Decode([id], skipSpecialTokens: false, whole: false);

    /// <summary>Whether <paramref name="id"/> is an added token marked special (BOS, EOS, <c>&lt;|im_end|&gt;</c>).</summary>
    public bool IsSpecial(int id) => _addedTokenById.TryGetValue(id, out var t) && t.Special;

    /// <summary>Whether <paramref name="id"/> is a vocabulary or added token of this tokenizer.</summary>
    public bool IsDefined(int id) => _vocabularyTokenById.ContainsKey(id) || _addedTokenById.ContainsKey(id);

    /// <summary>The id of <paramref name="text"/> when it encodes to exactly one token on its own, otherwise null.</summary>
    public int? TryGetSingleToken(string text)
    {
        var ids = Encode(text);
        return ids.Count == 1 ? ids[0] : null;
    }

    /// <summary>
    /// The one token <paramref name="answer"/> adds after <paramref name="prompt"/>:
    /// <c>tokens(prompt + answer) = tokens(prompt) + [id]</c>, otherwise null. With SentencePiece vocabularies
    /// <c>" Mango"</c> alone encodes as <c>▁</c> + <c>▁Mango</c>, yet after a prompt it is the single token <c>▁Mango</c>.
    /// </summary>
    public int? TryGetAnswerToken(string prompt, string answer)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(answer);
        if (answer.Length == 0) return null;
        var before = Encode(prompt);
        var after = Encode(prompt + answer);
        if (after.Count != before.Count + 1) return null;
        for (int i = 0; i < before.Count; i++) if (before[i] != after[i]) return null;
        return after[^1];
    }

    /// <summary>What <paramref name="answer"/> adds after <paramref name="prompt"/> when it is not one token, for
    /// messages: the pieces it encodes to there (or alone, when the prompt's own tokens change).</summary>
    public string DescribePieces(string prompt, string answer)
    {
        var before = Encode(prompt);
        var after = Encode(prompt + answer);
        bool extends = after.Count >= before.Count && before.SequenceEqual(after.Take(before.Count));
        var pieces = extends ? after.Skip(before.Count).ToList() : Encode(answer).ToList();
        string list = string.Join(" + ", pieces.Select(i => $"\"{IO.UntrustedText.Quote(TokenText(i))}\" ({i})"));
        return pieces.Count == 0 ? "no token" : extends ? $"{pieces.Count} tokens after the prompt, {list}" : $"{pieces.Count} tokens, {list}, and it changes the prompt's last tokens";
    }

    static HfTokenizer Create(string tokenizerJson, string? configJson, string tokenizerSource, string configSource)
    {
        var definition = TokenizerJsonReader.Read(tokenizerJson, configJson, tokenizerSource, configSource);
        if (!MicrosoftMlReproduces(definition, out string? splitPattern))
            return new HfTokenizer(null, new BpePipeline(definition, tokenizerSource), definition, tokenizerSource);

        // Longest first: the added-token regex is an alternation, and HF prefers the longest match.
        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in definition.AddedTokens.OrderByDescending(t => t.Content.Length))
            addedTokens[token.Content] = token.Id;

        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges.Select(m => m.Left + " " + m.Right),
            SpecialTokens = addedTokens.Count == 0 ? null : addedTokens,
            Normalizer = definition.Normalizers.Count > 0 ? new NfcNormalizer() : null,
            PreTokenizer = new IsolatedSplitPreTokenizer(new Regex(splitPattern!, RegexOptions.Compiled, SplitRegexTimeout), addedTokens),
            UnknownToken = definition.Model.UnknownToken,
            ByteLevel = true,
        };
        BpeTokenizer bpe;
        try { bpe = BpeTokenizer.Create(options); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // Microsoft.ML.Tokenizers checks the merges against the vocabulary.
            throw SharpLensException.Checkpoint($"{tokenizerSource}: not a usable tokenizer file: {e.Message}");
        }
        return new HfTokenizer(bpe, null, definition, tokenizerSource);
    }

    /// <summary>
    /// Whether Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> gives Hugging Face's ids for this tokenizer: byte-level
    /// BPE whose merges always apply, NFC or no normalizer, one split regex (GPT-2's ByteLevel one or a <c>Split</c>
    /// Isolated before a regex-less ByteLevel), added tokens without lstrip/rstrip/single_word, merges without spaces.
    /// Everything else goes to <see cref="BpePipeline"/>, whose summary says which feature <see cref="BpeTokenizer"/> lacks.
    /// </summary>
    static bool MicrosoftMlReproduces(TokenizerDefinition d, out string? splitPattern)
    {
        splitPattern = d.PreTokenizers switch
        {
            [PreTokenizerStep.ByteLevel { UseRegex: true }] => TokenizerJsonReader.Gpt2SplitPattern,
            [PreTokenizerStep.Split { Behavior: "Isolated" } split, PreTokenizerStep.ByteLevel { UseRegex: false }] => split.Pattern,
            _ => null,
        };
        return splitPattern is not null && !d.Model.IgnoreMerges && !d.Model.ByteFallback &&
               d.Normalizers.All(n => n is NormalizerStep.Nfc) &&
               d.AddedTokens.All(t => !t.LStrip && !t.RStrip && !t.SingleWord) &&
               d.Merges.All(m => !m.Left.Contains(' ') && !m.Right.Contains(' '));
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
