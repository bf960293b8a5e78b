using System.Text.Json.Nodes;
using CsCheck;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Tokenization;

/// <summary>
/// Property: whatever a damaged tokenizer.json looks like, <see cref="HfTokenizer.FromJson"/> either works
/// or throws <see cref="SharpLensException"/>; and a tokenizer that loads can encode and decode.
/// </summary>
public class HfTokenizerFuzzTests
{
    static readonly string ValidJson = TinyTokenizerJson.Build().ToJsonString();

    /// <summary>Values a mutation may put in place of any node of the JSON tree.</summary>
    static readonly string[] ReplacementValues =
    [
        "null", "true", "false", "0", "-1", "1.5", "2147483648", "1e300", "\"\"", "\"a\"", "\"a b\"", "\"BPE\"",
        "\"Unigram\"", "\"NFC\"", "\"Split\"", "\"ByteLevel\"", "\"Sequence\"", "\"Isolated\"", "\"(\"", "\"x*\"",
        "[]", "{}", "[\"a\",\"b\"]", "[\"a\"]", "[1,2]", "{\"type\":\"NFC\"}", "{\"type\":\"Sequence\"}",
        "{\"Regex\":\"\\\\s+\"}", "{\"id\":0,\"content\":\"a\"}", "{\"a\":0,\"b\":0}", "{\"zz\":99}",
    ];

    static readonly string[] Insertions = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "0", "-", "\\u12", "\u00e9"];

    static readonly Support.JsonMutator Mutator = new(ReplacementValues, Insertions);

    /// <summary>One edit of the JSON: as a tree (replace or remove a node) or as text (truncate, delete, insert).</summary>
    static string Mutate(string json, int kind, int where, int what) => Mutator.Mutate(json, kind, where, what);

    static readonly Gen<(int Kind, int Where, int What)> Edit = Support.JsonMutator.Edit;

    [Fact]
    public void DamagedTokenizerJsonLoadsOrFailsWithSharpLensException()
    {
        Edit.Array[1, 4].Sample(edits =>
        {
            string json = ValidJson;
            foreach (var (kind, where, what) in edits)
                if (json.Length > 0) json = Mutate(json, kind, where, what);
            HfTokenizer tokenizer;
            try { tokenizer = HfTokenizer.FromJson(json); }
            catch (SharpLensException e) when (e.Code == ExitCode.Checkpoint) { return; }

            // It loaded, so it must also work.
            foreach (var text in new[] { "ab abc", "<think>c</think> é!", "" })
            {
                var ids = tokenizer.Encode(text);
                Assert.All(ids, id => Assert.True(tokenizer.IsDefined(id)));
                tokenizer.Decode(ids);
            }
        }, iter: 100_000, time: 3, threads: 1); // whichever ends first: about three seconds
    }

    [Fact]
    public void UndamagedTinyTokenizerLoads() => Assert.Equal(22, HfTokenizer.FromJson(ValidJson).MaxTokenId);
}
