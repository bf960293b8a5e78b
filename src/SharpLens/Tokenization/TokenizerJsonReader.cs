using System.Text.Json;
using System.Text.RegularExpressions;
using SharpLens.IO;

namespace SharpLens.Tokenization;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (and optionally <c>tokenizer_config.json</c>) into a
/// <see cref="TokenizerDefinition"/>. Anything malformed, or a feature SharpLens cannot reproduce exactly,
/// ends in one <see cref="SharpLensException"/> (<see cref="ExitCode.Checkpoint"/>) naming the file:
/// wrong token ids are never produced silently.
/// </summary>
internal sealed class TokenizerJsonReader
{
    /// <summary>The pre-tokenizer regex of GPT-2's ByteLevel pre-tokenizer with <c>use_regex: true</c>.</summary>
    internal const string Gpt2SplitPattern =
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama 3's split regex: digits in groups of up to three (Qwen splits every digit).</summary>
    internal const string Llama3SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    const string SupportedKind = "SharpLens reads byte-level BPE tokenizers such as Qwen2's";

    readonly string _source;

    TokenizerJsonReader(string source) => _source = source;

    /// <summary>Reads and checks the tokenizer. <paramref name="tokenizerSource"/> and
    /// <paramref name="configSource"/> name the files in error messages.</summary>
    public static TokenizerDefinition Read(string tokenizerJson, string? tokenizerConfigJson,
                                           string tokenizerSource, string configSource)
    {
        if (tokenizerConfigJson is not null) new TokenizerJsonReader(configSource).CheckConfig(tokenizerConfigJson);
        return new TokenizerJsonReader(tokenizerSource).ReadTokenizer(tokenizerJson);
    }

    TokenizerDefinition ReadTokenizer(string json)
    {
        using var document = Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Malformed("the top level must be a JSON object");

        var model = Get(root, "model") ?? throw Malformed("it has no \"model\" section");
        if (model.ValueKind != JsonValueKind.Object) throw Malformed("\"model\" must be an object");
        CheckModelOptions(model);
        bool nfc = ReadNormalizer(Get(root, "normalizer"));
        string splitPattern = ReadPreTokenizer(Get(root, "pre_tokenizer"));
        CheckPostProcessor(Get(root, "post_processor"));
        CheckDecoder(Get(root, "decoder"));

        var (vocabulary, vocabularyTokenById) = ReadVocabulary(model);
        var merges = ReadMerges(model);
        var addedTokens = ReadAddedTokens(Get(root, "added_tokens"), vocabularyTokenById);
        string? unknownToken = ReadString(Get(model, "unk_token"), "model.unk_token");
        if (unknownToken is not null && !vocabulary.ContainsKey(unknownToken))
            throw Malformed($"model.unk_token \"{Q(unknownToken)}\" is not in the vocabulary");
        return new TokenizerDefinition(vocabulary, vocabularyTokenById, merges, addedTokens, splitPattern, nfc, unknownToken);
    }

    void CheckConfig(string json)
    {
        using var document = Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Malformed("the top level must be a JSON object");
        if (ReadBool(Get(root, "add_bos_token"), "add_bos_token", false))
            throw Unsupported("\"add_bos_token\": true (a BOS token added to every prompt, as in Llama)");
        if (ReadBool(Get(root, "add_eos_token"), "add_eos_token", false))
            throw Unsupported("\"add_eos_token\": true (an EOS token added to every prompt)");
    }

    void CheckModelOptions(JsonElement model)
    {
        string type = ReadString(Get(model, "type"), "model.type") ?? "BPE";
        if (type != "BPE")
            throw Unsupported($"model type \"{Q(type)}\" (SentencePiece-style and WordPiece tokenizers)");
        if (ReadBool(Get(model, "byte_fallback"), "model.byte_fallback", false))
            throw Unsupported("\"byte_fallback\": true (SentencePiece-style BPE)");
        if (ReadBool(Get(model, "ignore_merges"), "model.ignore_merges", false))
            throw Unsupported("\"ignore_merges\": true (Llama 3 style BPE)");
        if (Get(model, "dropout") is { } dropout &&
            (dropout.ValueKind != JsonValueKind.Number || !dropout.TryGetDouble(out double p) || p != 0))
            throw Unsupported("BPE dropout");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (!string.IsNullOrEmpty(ReadString(Get(model, affix), "model." + affix)))
                throw Unsupported($"a non-empty model.{affix}");
    }

    bool ReadNormalizer(JsonElement? normalizer)
    {
        if (normalizer is not { } element) return false;
        string type = ReadType(element, "normalizer");
        if (type == "NFC") return true;
        if (type == "Sequence")
        {
            var parts = ReadArray(Get(element, "normalizers"), "normalizer.normalizers");
            if (parts.Count == 0) return false;
            if (parts.Count == 1) return ReadNormalizer(parts[0]);
        }
        throw Unsupported($"the normalizer \"{Q(type)}\" (only NFC is)");
    }

    string ReadPreTokenizer(JsonElement? preTokenizer)
    {
        if (preTokenizer is not { } element) throw Unsupported("a tokenizer without a pre-tokenizer");
        string type = ReadType(element, "pre_tokenizer");
        string pattern;
        if (type == "ByteLevel")
        {
            // GPT-2 style: the ByteLevel pre-tokenizer does the splitting itself.
            if (!ReadBool(Get(element, "use_regex"), "pre_tokenizer.use_regex", true))
                throw Unsupported("a ByteLevel pre-tokenizer without a split regex");
            CheckByteLevelPreTokenizer(element);
            pattern = Gpt2SplitPattern;
        }
        else if (type == "Sequence")
        {
            var parts = ReadArray(Get(element, "pretokenizers"), "pre_tokenizer.pretokenizers");
            if (parts.Count != 2 || ReadType(parts[0], "pre_tokenizer") != "Split" ||
                ReadType(parts[1], "pre_tokenizer") != "ByteLevel")
                throw Unsupported("this pre-tokenizer sequence (only Split followed by ByteLevel is)");
            if (ReadBool(Get(parts[1], "use_regex"), "pre_tokenizer.use_regex", true))
                throw Unsupported("a ByteLevel pre-tokenizer with use_regex after a Split");
            CheckByteLevelPreTokenizer(parts[1]);
            pattern = ReadSplitPattern(parts[0]);
        }
        else if (type == "Metaspace") throw Unsupported("the Metaspace pre-tokenizer (SentencePiece-style)");
        else throw Unsupported($"the pre-tokenizer \"{Q(type)}\"");

        CheckRegex(pattern);
        return pattern;
    }

    void CheckByteLevelPreTokenizer(JsonElement byteLevel)
    {
        if (ReadBool(Get(byteLevel, "add_prefix_space"), "pre_tokenizer.add_prefix_space", false))
            throw Unsupported("\"add_prefix_space\": true");
    }

    string ReadSplitPattern(JsonElement split)
    {
        string behavior = ReadString(Get(split, "behavior"), "Split.behavior") ?? throw Malformed("Split has no \"behavior\"");
        if (behavior != "Isolated") throw Unsupported($"Split behaviour \"{Q(behavior)}\" (only Isolated is)");
        if (ReadBool(Get(split, "invert"), "Split.invert", false)) throw Unsupported("an inverted Split");
        var pattern = Get(split, "pattern") ?? throw Malformed("Split has no \"pattern\"");
        if (pattern.ValueKind != JsonValueKind.Object) throw Malformed("Split.pattern must be an object");
        if (ReadString(Get(pattern, "Regex"), "Split.pattern.Regex") is { } regex) return regex;
        if (ReadString(Get(pattern, "String"), "Split.pattern.String") is { } literal) return Regex.Escape(literal);
        throw Malformed("Split.pattern has neither \"Regex\" nor \"String\"");
    }

    void CheckRegex(string pattern)
    {
        if (pattern == Llama3SplitPattern) throw Unsupported("Llama 3's split regex");
        Regex regex;
        try { regex = new Regex(pattern, RegexOptions.None, HfTokenizer.SplitRegexTimeout); }
        catch (ArgumentException e) { throw Unsupported($"a split regex that .NET cannot compile ({Q(e.Message)})"); }
        try
        {
            if (regex.IsMatch("")) throw Unsupported("a split regex that matches empty text");
        }
        catch (RegexMatchTimeoutException) { throw Unsupported("a split regex that backtracks without end on empty text"); }
    }

    void CheckPostProcessor(JsonElement? postProcessor)
    {
        if (postProcessor is not { } element) return;
        string type = ReadType(element, "post_processor");
        switch (type)
        {
            case "ByteLevel": return;
            case "Sequence":
                foreach (var part in ReadArray(Get(element, "processors"), "post_processor.processors"))
                    CheckPostProcessor(part);
                return;
            case "TemplateProcessing":
                foreach (var piece in ReadArray(Get(element, "single"), "post_processor.single"))
                    if (piece.ValueKind != JsonValueKind.Object || !piece.TryGetProperty("Sequence", out _))
                        throw Unsupported("a post-processor that adds special tokens such as BOS (TemplateProcessing, as in Llama 3)");
                return;
            default:
                throw Unsupported($"the post-processor \"{Q(type)}\" (it adds special tokens)");
        }
    }

    void CheckDecoder(JsonElement? decoder)
    {
        if (decoder is not { } element) return;
        string type = ReadType(element, "decoder");
        if (type == "ByteLevel") return;
        if (type == "Sequence")
        {
            foreach (var part in ReadArray(Get(element, "decoders"), "decoder.decoders")) CheckDecoder(part);
            return;
        }
        throw Unsupported($"the decoder \"{Q(type)}\" (SentencePiece-style decoding)");
    }

    (Dictionary<string, int> IdByToken, Dictionary<int, string> TokenById) ReadVocabulary(JsonElement model)
    {
        var vocab = Get(model, "vocab") ?? throw Malformed("model has no \"vocab\"");
        if (vocab.ValueKind != JsonValueKind.Object) throw Malformed("model.vocab must be an object {token: id}");
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokenById = new Dictionary<int, string>();
        foreach (var entry in vocab.EnumerateObject())
        {
            string name = entry.Name;
            // the message is built only on failure: this loop runs once per vocabulary entry (151k for Qwen)
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                id = ReadId(entry.Value, $"the id of vocabulary token \"{Q(name)}\"");
            if (!tokens.TryAdd(name, id)) throw Malformed($"vocabulary token \"{Q(name)}\" appears twice");
            if (!tokenById.TryAdd(id, name)) throw Malformed($"vocabulary id {id} is used by two tokens");
        }
        if (tokens.Count == 0) throw Malformed("model.vocab is empty");
        return (tokens, tokenById);
    }

    List<string> ReadMerges(JsonElement model)
    {
        var merges = ReadArray(Get(model, "merges"), "model.merges");
        var result = new List<string>(merges.Count);
        for (int i = 0; i < merges.Count; i++)
        {
            var merge = merges[i];
            if (merge.ValueKind == JsonValueKind.String)
            {
                // Older form: "left right", exactly one space.
                string text = merge.GetString()!;
                int space = text.IndexOf(' ');
                if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
                    throw Malformed($"merge #{i} \"{Q(text)}\" is not of the form \"left right\"");
                result.Add(text);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2 &&
                     merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                string left = merge[0].GetString()!, right = merge[1].GetString()!;
                if (left.Length == 0 || right.Length == 0) throw Malformed($"merge #{i} has an empty side");
                if (left.Contains(' ') || right.Contains(' '))
                    throw Unsupported($"merge #{i}, whose tokens contain a space");
                result.Add(left + " " + right);
            }
            else throw Malformed($"merge #{i} must be \"left right\" or [\"left\", \"right\"]");
        }
        return result;
    }

    List<(string Content, int Id)> ReadAddedTokens(JsonElement? addedTokens, Dictionary<int, string> vocabularyIds)
    {
        var result = new List<(string, int)>();
        if (addedTokens is null) return result;
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        var byId = new Dictionary<int, string>();
        foreach (var token in ReadArray(addedTokens, "added_tokens"))
        {
            if (token.ValueKind != JsonValueKind.Object) throw Malformed("each added token must be an object");
            int id = ReadId(Get(token, "id") ?? throw Malformed("an added token has no \"id\""), "added token id");
            string content = ReadString(Get(token, "content"), "added token content") ?? throw Malformed($"added token {id} has no \"content\"");
            if (content.Length == 0) throw Malformed($"added token {id} is empty");
            foreach (var flag in new[] { "single_word", "lstrip", "rstrip" })
                if (ReadBool(Get(token, flag), "added token " + flag, false))
                    throw Unsupported($"added token \"{Q(content)}\" with \"{flag}\": true");
            if (vocabularyIds.TryGetValue(id, out var inVocabulary) && inVocabulary != content)
                throw Malformed($"added token \"{Q(content)}\" reuses id {id} of vocabulary token \"{Q(inVocabulary)}\"");
            bool knownContent = byContent.TryGetValue(content, out int previousId);
            if (knownContent && previousId != id) throw Malformed($"added token \"{Q(content)}\" has two ids");
            if (byId.TryGetValue(id, out var previousContent) && previousContent != content)
                throw Malformed($"added tokens \"{Q(previousContent)}\" and \"{Q(content)}\" share id {id}");
            if (knownContent) continue;
            byContent[content] = id;
            byId[id] = content;
            result.Add((content, id));
        }
        return result;
    }

    // ---- JSON helpers: every failure becomes a SharpLensException naming the file ----

    JsonDocument Parse(string json)
    {
        try { return JsonDocument.Parse(json); }
        catch (JsonException e) { throw Malformed($"it is not valid JSON ({Q(e.Message)})"); }
    }

    /// <summary>The property <paramref name="name"/> of an object, or null when absent or JSON null.</summary>
    static JsonElement? Get(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) &&
        value.ValueKind != JsonValueKind.Null ? value : null;

    string ReadType(JsonElement element, string what) =>
        element.ValueKind != JsonValueKind.Object ? throw Malformed($"{what} must be an object")
        : ReadString(Get(element, "type"), what + ".type") ?? throw Malformed($"{what} has no \"type\"");

    string? ReadString(JsonElement? element, string what) => element switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } e => e.GetString(),
        _ => throw Malformed($"{what} must be a string"),
    };

    bool ReadBool(JsonElement? element, string what, bool whenAbsent) => element switch
    {
        null => whenAbsent,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw Malformed($"{what} must be true or false"),
    };

    int ReadId(JsonElement element, string what) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out int id) && id >= 0
            ? id : throw Malformed($"{what} must be a non-negative integer");

    List<JsonElement> ReadArray(JsonElement? element, string what) => element switch
    {
        null => throw Malformed($"it has no \"{what}\""),
        { ValueKind: JsonValueKind.Array } e => e.EnumerateArray().ToList(),
        _ => throw Malformed($"{what} must be an array"),
    };

    /// <summary>A name or value from the file as a message quotes it: escaped and cut short.</summary>
    static string Q(string? text) => UntrustedText.Quote(text);

    SharpLensException Malformed(string problem) =>
        SharpLensException.Checkpoint($"{_source}: not a usable tokenizer file: {problem}.");

    SharpLensException Unsupported(string feature) =>
        SharpLensException.Checkpoint($"{_source}: {feature} is not supported yet; {SupportedKind}.");
}
