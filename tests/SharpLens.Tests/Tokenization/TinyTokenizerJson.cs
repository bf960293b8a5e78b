using System.Text.Json.Nodes;

namespace SharpLens.Tests.Tokenization;

/// <summary>A hand-made byte-level BPE tokenizer.json, small enough to read, mutate and fuzz.</summary>
internal static class TinyTokenizerJson
{
    public const string QwenSplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const int ImStartId = 20, ThinkId = 21, EndThinkId = 22;

    /// <summary>Vocabulary: single letters, 'Ġ' (space), "ab", "Ġab", "abc"; merges in rank order
    /// a+b, Ġ+ab, ab+c; added tokens &lt;|im_start|&gt; (special), &lt;think&gt; and &lt;/think&gt; (not special).</summary>
    public static JsonObject Build(bool mergesAsPairs = true)
    {
        var vocab = new JsonObject();
        string[] tokens = ["a", "b", "c", "Ġ", "ab", "Ġab", "<", ">", "t", "h", "i", "n", "k", "/", "abc", "|", "_", "m", "s", "r"];
        for (int i = 0; i < tokens.Length; i++) vocab[tokens[i]] = i;
        (string, string)[] merges = [("a", "b"), ("Ġ", "ab"), ("ab", "c")];
        var mergeArray = new JsonArray();
        foreach (var (l, r) in merges)
            mergeArray.Add(mergesAsPairs ? new JsonArray(l, r) : JsonValue.Create(l + " " + r));

        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(
                AddedToken(ImStartId, "<|im_start|>", special: true),
                AddedToken(ThinkId, "<think>", special: false),
                AddedToken(EndThinkId, "</think>", special: false)),
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = QwenSplitPattern },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    ByteLevel()),
            },
            ["post_processor"] = ByteLevel(),
            ["decoder"] = ByteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = mergeArray,
            },
        };
    }

    public static JsonObject ByteLevel() => new()
    {
        ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false,
    };

    static JsonObject AddedToken(int id, string content, bool special) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
        ["rstrip"] = false, ["normalized"] = false, ["special"] = special,
    };
}
