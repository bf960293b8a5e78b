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

    const string SupportedKind = "SharpLens reads BPE tokenizers: byte-level (GPT-2, Qwen, Llama 3) and SentencePiece-converted (Llama 2, Mistral, Gemma)";

    readonly string _source;

    TokenizerJsonReader(string source) => _source = source;

    /// <summary>Reads and checks the tokenizer. <paramref name="tokenizerSource"/> and
    /// <paramref name="configSource"/> name the files in error messages.</summary>
    public static TokenizerDefinition Read(string tokenizerJson, string? tokenizerConfigJson,
                                           string tokenizerSource, string configSource)
    {
        var definition = new TokenizerJsonReader(tokenizerSource).ReadTokenizer(tokenizerJson);
        if (tokenizerConfigJson is null) return definition;
        return new TokenizerJsonReader(configSource).ApplyConfig(tokenizerConfigJson, definition);
    }

    TokenizerDefinition ReadTokenizer(string json)
    {
        using var document = Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Malformed("the top level must be a JSON object");

        var model = Get(root, "model") ?? throw Malformed("it has no \"model\" section");
        if (model.ValueKind != JsonValueKind.Object) throw Malformed("\"model\" must be an object");
        CheckModelOptions(model);
        var normalizers = new List<NormalizerStep>();
        ReadNormalizer(Get(root, "normalizer"), normalizers);
        var preTokenizers = new List<PreTokenizerStep>();
        ReadPreTokenizer(Get(root, "pre_tokenizer"), preTokenizers);
        var decoders = new List<DecoderStep>();
        ReadDecoder(Get(root, "decoder"), decoders);

        var (vocabulary, vocabularyTokenById) = ReadVocabulary(model);
        var merges = ReadMerges(model);
        var addedTokens = ReadAddedTokens(Get(root, "added_tokens"), vocabularyTokenById);
        string? unknownToken = ReadString(Get(model, "unk_token"), "model.unk_token");
        if (unknownToken is not null && !vocabulary.ContainsKey(unknownToken))
            throw Malformed($"model.unk_token \"{Q(unknownToken)}\" is not in the vocabulary");
        var options = new BpeModelOptions(unknownToken,
            ReadBool(Get(model, "fuse_unk"), "model.fuse_unk", false),
            ReadBool(Get(model, "byte_fallback"), "model.byte_fallback", false),
            ReadBool(Get(model, "ignore_merges"), "model.ignore_merges", false));
        if (options.ByteFallback && !vocabulary.ContainsKey("<0x00>"))
            throw Malformed("model.byte_fallback is true but the vocabulary has no <0x00>…<0xFF> byte tokens");
        var template = ReadPostProcessor(Get(root, "post_processor"), vocabulary, addedTokens) ?? SpecialTemplate.None;
        return new TokenizerDefinition(vocabulary, vocabularyTokenById, merges, addedTokens, normalizers, preTokenizers,
            options, template, decoders);
    }

    /// <summary>
    /// <c>add_bos_token</c> / <c>add_eos_token</c> of tokenizer_config.json, as transformers' Llama and Gemma fast
    /// tokenizers apply them (<c>update_post_processor</c>): when given, they decide whether BOS leads and EOS ends the
    /// template, whatever tokenizer.json's post-processor says.
    /// </summary>
    TokenizerDefinition ApplyConfig(string json, TokenizerDefinition definition)
    {
        using var document = Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Malformed("the top level must be a JSON object");
        var prefix = definition.Template.Prefix.ToList();
        var suffix = definition.Template.Suffix.ToList();
        if (Get(root, "add_bos_token") is { } addBos)
        {
            int? bos = SpecialTokenId(root, "bos_token", definition);
            prefix.RemoveAll(id => id == bos);
            if (ReadBool(addBos, "add_bos_token", false))
                prefix.Insert(0, bos ?? throw Unsupported("\"add_bos_token\": true without a \"bos_token\" the tokenizer defines"));
        }
        if (Get(root, "add_eos_token") is { } addEos)
        {
            int? eos = SpecialTokenId(root, "eos_token", definition);
            suffix.RemoveAll(id => id == eos);
            if (ReadBool(addEos, "add_eos_token", false))
                suffix.Add(eos ?? throw Unsupported("\"add_eos_token\": true without an \"eos_token\" the tokenizer defines"));
        }
        return definition with { Template = new SpecialTemplate(prefix, suffix) };
    }

    int? SpecialTokenId(JsonElement config, string key, TokenizerDefinition definition)
    {
        string? content = Get(config, key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } e => e.GetString(),
            { ValueKind: JsonValueKind.Object } e => ReadString(Get(e, "content"), key + ".content"),
            _ => throw Malformed($"{key} must be a string or an object with \"content\""),
        };
        if (string.IsNullOrEmpty(content)) return null;
        foreach (var added in definition.AddedTokens) if (added.Content == content) return added.Id;
        return definition.Vocabulary.TryGetValue(content, out int id) ? id : null;
    }

    void CheckModelOptions(JsonElement model)
    {
        string type = ReadString(Get(model, "type"), "model.type") ?? "BPE";
        if (type != "BPE")
            throw Unsupported($"model type \"{Q(type)}\" (Unigram, WordPiece and WordLevel tokenizers)");
        if (Get(model, "dropout") is { } dropout &&
            (dropout.ValueKind != JsonValueKind.Number || !dropout.TryGetDouble(out double p) || p != 0))
            throw Unsupported("BPE dropout");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (!string.IsNullOrEmpty(ReadString(Get(model, affix), "model." + affix)))
                throw Unsupported($"a non-empty model.{affix}");
    }

    void ReadNormalizer(JsonElement? normalizer, List<NormalizerStep> steps)
    {
        if (normalizer is not { } element) return;
        string type = ReadType(element, "normalizer");
        switch (type)
        {
            case "NFC": steps.Add(new NormalizerStep.Nfc()); return;
            case "Prepend":
                steps.Add(new NormalizerStep.Prepend(ReadString(Get(element, "prepend"), "Prepend.prepend") ?? throw Malformed("Prepend has no \"prepend\"")));
                return;
            case "Replace":
                var (pattern, content) = ReadReplace(element, "normalizer");
                steps.Add(new NormalizerStep.Replace(pattern, content));
                return;
            case "Sequence":
                foreach (var part in ReadArray(Get(element, "normalizers"), "normalizer.normalizers")) ReadNormalizer(part, steps);
                return;
            default:
                throw Unsupported($"the normalizer \"{Q(type)}\" (NFC, Prepend and Replace are)");
        }
    }

    (string Pattern, string Content) ReadReplace(JsonElement element, string what)
    {
        var pattern = Get(element, "pattern") ?? throw Malformed($"{what} Replace has no \"pattern\"");
        string content = ReadString(Get(element, "content"), what + " Replace.content") ?? throw Malformed($"{what} Replace has no \"content\"");
        if (ReadString(Get(pattern, "String"), what + " Replace.pattern.String") is { Length: > 0 } literal) return (literal, content);
        throw Unsupported($"a {what} Replace with a regex pattern (a string pattern is)");
    }

    void ReadPreTokenizer(JsonElement? preTokenizer, List<PreTokenizerStep> steps)
    {
        if (preTokenizer is not { } element) return;
        string type = ReadType(element, "pre_tokenizer");
        switch (type)
        {
            case "ByteLevel":
                if (ReadBool(Get(element, "add_prefix_space"), "pre_tokenizer.add_prefix_space", false))
                    throw Unsupported("\"add_prefix_space\": true");
                bool useRegex = ReadBool(Get(element, "use_regex"), "pre_tokenizer.use_regex", true);
                if (useRegex) CheckRegex(Gpt2SplitPattern);
                steps.Add(new PreTokenizerStep.ByteLevel(useRegex));
                return;
            case "Split":
                steps.Add(ReadSplit(element));
                return;
            case "Metaspace":
                string replacement = ReadString(Get(element, "replacement"), "Metaspace.replacement") ?? "\u2581";
                string scheme = ReadString(Get(element, "prepend_scheme"), "Metaspace.prepend_scheme")
                    ?? (ReadBool(Get(element, "add_prefix_space"), "Metaspace.add_prefix_space", true) ? "always" : "never");
                if (scheme is not ("always" or "first" or "never")) throw Unsupported($"Metaspace prepend_scheme \"{Q(scheme)}\"");
                steps.Add(new PreTokenizerStep.Metaspace(replacement, scheme, ReadBool(Get(element, "split"), "Metaspace.split", true)));
                return;
            case "Sequence":
                foreach (var part in ReadArray(Get(element, "pretokenizers"), "pre_tokenizer.pretokenizers")) ReadPreTokenizer(part, steps);
                return;
            default:
                throw Unsupported($"the pre-tokenizer \"{Q(type)}\"");
        }
    }

    PreTokenizerStep.Split ReadSplit(JsonElement split)
    {
        string behavior = ReadString(Get(split, "behavior"), "Split.behavior") ?? throw Malformed("Split has no \"behavior\"");
        if (behavior is not ("Isolated" or "MergedWithPrevious" or "MergedWithNext"))
            throw Unsupported($"Split behaviour \"{Q(behavior)}\" (Isolated, MergedWithPrevious and MergedWithNext are)");
        if (ReadBool(Get(split, "invert"), "Split.invert", false)) throw Unsupported("an inverted Split");
        var pattern = Get(split, "pattern") ?? throw Malformed("Split has no \"pattern\"");
        if (pattern.ValueKind != JsonValueKind.Object) throw Malformed("Split.pattern must be an object");
        string regex = ReadString(Get(pattern, "Regex"), "Split.pattern.Regex")
            ?? (ReadString(Get(pattern, "String"), "Split.pattern.String") is { } literal ? Regex.Escape(literal)
                : throw Malformed("Split.pattern has neither \"Regex\" nor \"String\""));
        CheckRegex(regex);
        return new PreTokenizerStep.Split(regex, behavior);
    }

    void CheckRegex(string pattern)
    {
        Regex regex;
        try { regex = new Regex(pattern, RegexOptions.None, HfTokenizer.SplitRegexTimeout); }
        catch (ArgumentException e) { throw Unsupported($"a split regex that .NET cannot compile ({Q(e.Message)})"); }
        try
        {
            if (regex.IsMatch("")) throw Unsupported("a split regex that matches empty text");
        }
        catch (RegexMatchTimeoutException) { throw Unsupported("a split regex that backtracks without end on empty text"); }
    }

    /// <summary>The TemplateProcessing of the post-processor (null: none adds tokens). ByteLevel post-processors only
    /// trim offsets, which SharpLens does not report, so they change no id.</summary>
    SpecialTemplate? ReadPostProcessor(JsonElement? postProcessor, Dictionary<string, int> vocabulary, List<AddedToken> added)
    {
        if (postProcessor is not { } element) return null;
        string type = ReadType(element, "post_processor");
        switch (type)
        {
            case "ByteLevel": return null;
            case "Sequence":
                SpecialTemplate? found = null;
                foreach (var part in ReadArray(Get(element, "processors"), "post_processor.processors"))
                    if (ReadPostProcessor(part, vocabulary, added) is { } t)
                        found = found is null ? t : throw Unsupported("two TemplateProcessing post-processors in a sequence");
                return found;
            case "TemplateProcessing":
                var prefix = new List<int>();
                var suffix = new List<int>();
                bool seenSequence = false;
                foreach (var piece in ReadArray(Get(element, "single"), "post_processor.single"))
                {
                    if (piece.ValueKind == JsonValueKind.Object && piece.TryGetProperty("Sequence", out _))
                    {
                        if (seenSequence) throw Unsupported("a TemplateProcessing that repeats the sequence");
                        seenSequence = true;
                        continue;
                    }
                    var special = Get(piece, "SpecialToken") ?? throw Malformed("a TemplateProcessing piece is neither Sequence nor SpecialToken");
                    string name = ReadString(Get(special, "id"), "SpecialToken.id") ?? throw Malformed("a SpecialToken has no \"id\"");
                    var ids = Get(Get(element, "special_tokens") ?? default, name) is { } entry
                        ? ReadArray(Get(entry, "ids"), $"special_tokens.{name}.ids").Select(e => ReadId(e, "special token id")).ToList()
                        : added.FirstOrDefault(a => a.Content == name) is { } a ? [a.Id]
                        : vocabulary.TryGetValue(name, out int v) ? [v]
                        : throw Malformed($"the TemplateProcessing token \"{Q(name)}\" is not defined");
                    (seenSequence ? suffix : prefix).AddRange(ids);
                }
                if (!seenSequence) throw Malformed("the TemplateProcessing \"single\" template has no $A sequence");
                return new SpecialTemplate(prefix, suffix);
            default:
                throw Unsupported($"the post-processor \"{Q(type)}\" (it adds special tokens)");
        }
    }

    void ReadDecoder(JsonElement? decoder, List<DecoderStep> steps)
    {
        if (decoder is not { } element) return;
        string type = ReadType(element, "decoder");
        switch (type)
        {
            case "ByteLevel": steps.Add(new DecoderStep.ByteLevel()); return;
            case "ByteFallback": steps.Add(new DecoderStep.ByteFallback()); return;
            case "Fuse": steps.Add(new DecoderStep.Fuse()); return;
            case "Replace":
                var (pattern, content) = ReadReplace(element, "decoder");
                steps.Add(new DecoderStep.Replace(pattern, content));
                return;
            case "Strip":
                string strip = ReadString(Get(element, "content"), "Strip.content") ?? " ";
                int start = Get(element, "start") is { } s ? ReadId(s, "Strip.start") : 0;
                int stop = Get(element, "stop") is { } e ? ReadId(e, "Strip.stop") : 0;
                steps.Add(new DecoderStep.Strip(strip, start, stop));
                return;
            case "Metaspace":
                string replacement = ReadString(Get(element, "replacement"), "Metaspace.replacement") ?? "\u2581";
                string scheme = ReadString(Get(element, "prepend_scheme"), "Metaspace.prepend_scheme")
                    ?? (ReadBool(Get(element, "add_prefix_space"), "Metaspace.add_prefix_space", true) ? "always" : "never");
                steps.Add(new DecoderStep.Metaspace(replacement, scheme));
                return;
            case "Sequence":
                foreach (var part in ReadArray(Get(element, "decoders"), "decoder.decoders")) ReadDecoder(part, steps);
                return;
            default:
                throw Unsupported($"the decoder \"{Q(type)}\"");
        }
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

    List<(string, string)> ReadMerges(JsonElement model)
    {
        var merges = ReadArray(Get(model, "merges"), "model.merges");
        var result = new List<(string, string)>(merges.Count);
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
                result.Add((text[..space], text[(space + 1)..]));
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2 &&
                     merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                string left = merge[0].GetString()!, right = merge[1].GetString()!;
                if (left.Length == 0 || right.Length == 0) throw Malformed($"merge #{i} has an empty side");
                result.Add((left, right));
            }
            else throw Malformed($"merge #{i} must be \"left right\" or [\"left\", \"right\"]");
        }
        return result;
    }

    List<AddedToken> ReadAddedTokens(JsonElement? addedTokens, Dictionary<int, string> vocabularyIds)
    {
        var result = new List<AddedToken>();
        if (addedTokens is null) return result;
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        var byId = new Dictionary<int, string>();
        foreach (var token in ReadArray(addedTokens, "added_tokens"))
        {
            if (token.ValueKind != JsonValueKind.Object) throw Malformed("each added token must be an object");
            int id = ReadId(Get(token, "id") ?? throw Malformed("an added token has no \"id\""), "added token id");
            string content = ReadString(Get(token, "content"), "added token content") ?? throw Malformed($"added token {id} has no \"content\"");
            if (content.Length == 0) throw Malformed($"added token {id} is empty");
            if (vocabularyIds.TryGetValue(id, out var inVocabulary) && inVocabulary != content)
                throw Malformed($"added token \"{Q(content)}\" reuses id {id} of vocabulary token \"{Q(inVocabulary)}\"");
            bool knownContent = byContent.TryGetValue(content, out int previousId);
            if (knownContent && previousId != id) throw Malformed($"added token \"{Q(content)}\" has two ids");
            if (byId.TryGetValue(id, out var previousContent) && previousContent != content)
                throw Malformed($"added tokens \"{Q(previousContent)}\" and \"{Q(content)}\" share id {id}");
            if (knownContent) continue;
            byContent[content] = id;
            byId[id] = content;
            result.Add(new AddedToken(content, id,
                ReadBool(Get(token, "special"), "added token special", false),
                ReadBool(Get(token, "lstrip"), "added token lstrip", false),
                ReadBool(Get(token, "rstrip"), "added token rstrip", false),
                ReadBool(Get(token, "single_word"), "added token single_word", false),
                ReadBool(Get(token, "normalized"), "added token normalized", false)));
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
