using System.Text.Json.Nodes;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Tokenization;

/// <summary>Behaviour on the hand-made tokenizer of <see cref="TinyTokenizerJson"/>, and load errors.</summary>
public class HfTokenizerBehaviourTests
{
    static HfTokenizer Tiny(bool mergesAsPairs = true) =>
        HfTokenizer.FromJson(TinyTokenizerJson.Build(mergesAsPairs).ToJsonString());

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BothMergeFormsApplyMergesInRankOrder(bool mergesAsPairs)
    {
        var tokenizer = Tiny(mergesAsPairs);
        // " abc": Ġ a b c → Ġ ab c (rank 0) → Ġab c (rank 1 beats ab+c, rank 2).
        Assert.Equal([4, 5, 2], tokenizer.Encode("ab abc"));
        Assert.Equal("ab abc", tokenizer.Decode([4, 5, 2]));
    }

    [Fact]
    public void MergeFormsGiveIdenticalIds()
    {
        var pairs = Tiny(mergesAsPairs: true);
        var strings = Tiny(mergesAsPairs: false);
        foreach (var text in new[] { "abc", "ab ab abc", "cab  ba", "a b c" })
            Assert.Equal(pairs.Encode(text), strings.Encode(text));
    }

    [Fact]
    public void AddedTokensAreSplitOutBeforeBpe()
    {
        var tokenizer = Tiny();
        Assert.Equal([TinyTokenizerJson.ThinkId, 4, TinyTokenizerJson.EndThinkId], tokenizer.Encode("<think>ab</think>"));
        Assert.Equal([TinyTokenizerJson.ImStartId, 4], tokenizer.Encode("<|im_start|>ab"));
        Assert.Equal(TinyTokenizerJson.ThinkId, tokenizer.TryGetSingleToken("<think>"));
        Assert.Equal("<|im_start|>ab<think>", tokenizer.Decode([TinyTokenizerJson.ImStartId, 4, TinyTokenizerJson.ThinkId]));
        // Without the surrounding brackets it is ordinary text.
        Assert.Equal([8, 9, 10, 11, 12], tokenizer.Encode("think"));
    }

    [Fact]
    public void IdsAndTokenTexts()
    {
        var tokenizer = Tiny();
        Assert.Equal(TinyTokenizerJson.EndThinkId, tokenizer.MaxTokenId);
        Assert.True(tokenizer.IsDefined(19));
        Assert.False(tokenizer.IsDefined(TinyTokenizerJson.EndThinkId + 1));
        Assert.Equal(" ab", tokenizer.TokenText(5));
        Assert.Null(tokenizer.TryGetSingleToken("abab"));
        Assert.Null(tokenizer.TryGetSingleToken(""));
        Assert.Empty(tokenizer.Encode(""));
        var error = Assert.Throws<SharpLensException>(() => tokenizer.Decode([4, 999]));
        Assert.Equal(ExitCode.Input, error.Code);
    }

    [Fact]
    public void TextIsNfcNormalizedBeforeSplitting()
    {
        var json = TinyTokenizerJson.Build();
        json["model"]!["vocab"]!["Ã"] = 30;
        json["model"]!["vocab"]!["©"] = 31; // "é" is C3 A9 in UTF-8
        var tokenizer = HfTokenizer.FromJson(json.ToJsonString());
        Assert.Equal([30, 31], tokenizer.Encode("\u00e9"));
        Assert.Equal([30, 31], tokenizer.Encode("e\u0301"));
        Assert.Equal("\u00e9", tokenizer.Decode(tokenizer.Encode("e\u0301")));
    }

    // ---------- unsupported tokenizers: one clear Checkpoint error saying "not supported" ----------

    public static TheoryData<string, Action<JsonObject>> UnsupportedVariants() => new()
    {
        { "Bert post-processor", j => j["post_processor"] = JsonNode.Parse("""{"type":"BertProcessing","sep":["[SEP]",1],"cls":["[CLS]",0]}""") },
        { "Unigram model", j => j["model"]!["type"] = "Unigram" },
        { "WordPiece model", j => j["model"]!["type"] = "WordPiece" },
        { "WordLevel model", j => j["model"]!["type"] = "WordLevel" },
        { "NFKC normalizer", j => j["normalizer"] = JsonNode.Parse("""{"type":"NFKC"}""") },
        { "Lowercase normalizer", j => j["normalizer"] = JsonNode.Parse("""{"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"Lowercase"}]}""") },
        { "regex .NET cannot compile", j => SplitPattern(j)["Regex"] = @"(?<name" },
        { "add_prefix_space", j => j["pre_tokenizer"]!["pretokenizers"]![1]!["add_prefix_space"] = true },
        { "Split behaviour Removed", j => j["pre_tokenizer"]!["pretokenizers"]![0]!["behavior"] = "Removed" },
        { "dropout", j => j["model"]!["dropout"] = 0.1 },
        { "regex Replace normalizer", j => j["normalizer"] = JsonNode.Parse("""{"type":"Replace","pattern":{"Regex":" +"},"content":"▁"}""") },
        { "Metaspace prepend_scheme", j => j["pre_tokenizer"] = JsonNode.Parse("""{"type":"Metaspace","replacement":"▁","prepend_scheme":"sometimes","split":false}""") },
        { "CTC decoder", j => j["decoder"] = JsonNode.Parse("""{"type":"CTC"}""") },
    };

    static JsonNode SplitPattern(JsonObject json) => json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!;

    [Theory]
    [MemberData(nameof(UnsupportedVariants))]
    public void UnsupportedTokenizersAreRefused(string variant, Action<JsonObject> change)
    {
        var json = TinyTokenizerJson.Build();
        change(json);
        var error = Assert.Throws<SharpLensException>(() => HfTokenizer.FromJson(json.ToJsonString()));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains("not supported", error.Message);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.False(string.IsNullOrEmpty(variant));
    }

    // ---------- layouts Microsoft.ML.Tokenizers cannot reproduce, encoded by BpePipeline ----------

    /// <summary>The two engines agree: <c>single_word</c> on an unused added token sends the tokenizer through
    /// <see cref="BpePipeline"/>, and every text without that token encodes as Microsoft.ML.Tokenizers encodes it.</summary>
    [Fact]
    public void OwnPipelineAgreesWithMicrosoftMlTokenizers()
    {
        var json = TinyTokenizerJson.Build();
        json["added_tokens"]![2]!["single_word"] = true;
        var pipeline = HfTokenizer.FromJson(json.ToJsonString());
        var ml = Tiny();
        Assert.False(pipeline.UsesMicrosoftMlTokenizers);
        Assert.True(ml.UsesMicrosoftMlTokenizers);
        foreach (var text in new[] { "abc", "ab ab abc", "cab  ba", "a b c", "<|im_start|>ab<think>c", "  ab  abc ", "" })
            Assert.Equal(ml.Encode(text), pipeline.Encode(text));
    }

    [Fact]
    public void IgnoreMergesEmitsAWordOfTheVocabularyWhole()
    {
        var json = TinyTokenizerJson.Build();
        json["model"]!["vocab"]!["ba"] = 30; // no merge builds "ba"
        Assert.Equal([1, 0], HfTokenizer.FromJson(json.ToJsonString()).Encode("ba")); // b a
        json["model"]!["ignore_merges"] = true;
        Assert.Equal([30], HfTokenizer.FromJson(json.ToJsonString()).Encode("ba"));
    }

    [Fact]
    public void RstripAddedTokenSwallowsTheSpacesAfterIt()
    {
        var json = TinyTokenizerJson.Build();
        json["added_tokens"]![1]!["rstrip"] = true;
        var tokenizer = HfTokenizer.FromJson(json.ToJsonString());
        Assert.Equal(Tiny().Encode("<think>ab"), tokenizer.Encode("<think>   ab"));
        Assert.NotEqual(Tiny().Encode("<think>ab"), Tiny().Encode("<think>   ab"));
    }

    [Fact]
    public void ByteFallbackWithoutByteTokensIsRefused()
    {
        var json = TinyTokenizerJson.Build();
        json["model"]!["byte_fallback"] = true;
        var error = Assert.Throws<SharpLensException>(() => HfTokenizer.FromJson(json.ToJsonString()));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains("<0x00>", error.Message);
    }

    [Fact]
    public void TemplateProcessingAndAddBosTokenDecideTheBos()
    {
        var json = TinyTokenizerJson.Build();
        json["post_processor"] = JsonNode.Parse(
            """{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|im_start|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{}}""");
        var templated = HfTokenizer.FromJson(json.ToJsonString());
        Assert.Equal([TinyTokenizerJson.ImStartId, 4], templated.Encode("ab", addSpecialTokens: true));
        Assert.Equal([4], templated.Encode("ab"));
        // add_bos_token false in tokenizer_config.json removes it, as transformers' Llama tokenizers do
        var off = HfTokenizer.FromJson(json.ToJsonString(), """{"add_bos_token": false, "bos_token": "<|im_start|>"}""");
        Assert.Equal([4], off.Encode("ab", addSpecialTokens: true));
        // add_bos_token true adds it where the post-processor does not
        var on = HfTokenizer.FromJson(TinyTokenizerJson.Build().ToJsonString(), """{"add_bos_token": true, "bos_token": {"content": "<|im_start|>"}}""");
        Assert.Equal([TinyTokenizerJson.ImStartId, 4], on.Encode("ab", addSpecialTokens: true));
        Assert.False(Tiny().AddsBos);
    }

    [Fact]
    public void ConfigThatAddsAnUndefinedBosIsRefused()
    {
        var error = Assert.Throws<SharpLensException>(() =>
            HfTokenizer.FromJson(TinyTokenizerJson.Build().ToJsonString(), """{"add_bos_token": true, "bos_token": "<s>"}"""));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains("not supported", error.Message);
        Assert.Contains("tokenizer_config.json", error.Message);
    }

    [Fact]
    public void SimpleCompilableRegexIsAccepted()
    {
        var json = TinyTokenizerJson.Build();
        SplitPattern(json)["Regex"] = @"\S+|\s+";
        Assert.Equal([4, 3, 14], HfTokenizer.FromJson(json.ToJsonString()).Encode("ab abc"));
    }

    [Fact]
    public void TextTheRegexDoesNotMatchStillGetsTokenized()
    {
        var json = TinyTokenizerJson.Build();
        SplitPattern(json)["Regex"] = "c"; // Isolated: "ab", "c" and " ab" are all pieces
        var tokenizer = HfTokenizer.FromJson(json.ToJsonString());
        Assert.Equal([4, 2, 5], tokenizer.Encode("abc ab"));
    }

    // ---------- malformed input and missing files ----------

    public static TheoryData<string, string> MalformedJson() => new()
    {
        { "empty", "" },
        { "truncated", TinyTokenizerJson.Build().ToJsonString()[..200] },
        { "array", "[]" },
        { "no model", """{"added_tokens": []}""" },
        { "no vocab", """{"model": {"type": "BPE", "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""" },
        { "vocab id is text", """{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""" },
        { "merge of unknown token", """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a q"]}, "pre_tokenizer": {"type": "ByteLevel"}}""" },
        { "merge with two spaces", """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a a"]}, "pre_tokenizer": {"type": "ByteLevel"}}""" },
        { "duplicate id", """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""" },
    };

    [Theory]
    [MemberData(nameof(MalformedJson))]
    public void MalformedTokenizerJsonGivesACheckpointError(string variant, string json)
    {
        var error = Assert.Throws<SharpLensException>(() => HfTokenizer.FromJson(json));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.False(string.IsNullOrEmpty(variant));
    }

    [Fact]
    public void MissingTokenizerFileNamesThePath()
    {
        string dir = Fixtures.TempDir("tok");
        var error = Assert.Throws<SharpLensException>(() => HfTokenizer.Load(dir));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains(Path.Combine(dir, "tokenizer.json"), error.Message);
    }

    [Fact]
    public void MalformedFilesOnDiskNameThePath()
    {
        string dir = Fixtures.TempDir("tok");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": ");
        var error = Assert.Throws<SharpLensException>(() => HfTokenizer.Load(dir));
        Assert.Contains(Path.Combine(dir, "tokenizer.json"), error.Message);

        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TinyTokenizerJson.Build().ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{not json");
        error = Assert.Throws<SharpLensException>(() => HfTokenizer.Load(dir));
        Assert.Equal(ExitCode.Checkpoint, error.Code);
        Assert.Contains(Path.Combine(dir, "tokenizer_config.json"), error.Message);
    }
}
