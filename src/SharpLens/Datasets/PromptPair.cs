using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpLens.Datasets;

/// <summary>
/// One clean/corrupted prompt pair of a dataset — one line of a dataset file:
/// <c>{"clean": …, "corrupted": …, "answer": …, "wrong": …, "candidates": [...], "labels": [...], "meta": {...}}</c>.
/// </summary>
/// <param name="Clean">the prompt whose answer is <paramref name="Answer"/></param>
/// <param name="Corrupted">the prompt of the same token length whose answer is <paramref name="Wrong"/></param>
/// <param name="Answer">the clean prompt's answer, one token (e.g. <c>" Mango"</c>, leading space included)</param>
/// <param name="Wrong">the corrupted prompt's answer, one token</param>
/// <param name="Candidates">optional: the tokens whose direct logit attribution is shown (default answer and wrong)</param>
/// <param name="Labels">optional: one label per token position of the prompts (e.g. <c>subject</c>, <c>sep</c>,
/// <c>END</c>); with labels on every pair, position-indexed results are aggregated by label</param>
/// <param name="Meta">optional: anything the dataset's maker records (a generator: template, order); not interpreted</param>
public sealed record PromptPair(
    string Clean, string Corrupted, string Answer, string Wrong,
    IReadOnlyList<string>? Candidates = null, IReadOnlyList<string>? Labels = null, JsonObject? Meta = null)
{
    /// <summary>The line of the file this pair was read from (1-based); 0 for a pair not read from a file.</summary>
    public int Line { get; init; }

    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = false };

    /// <summary>This pair as one JSONL line (no line break): keys in the order above, optional ones only when present,
    /// non-ASCII text kept as UTF-8 (control characters and quotes escaped).</summary>
    public string ToJsonLine()
    {
        var o = new JsonObject { ["clean"] = Clean, ["corrupted"] = Corrupted, ["answer"] = Answer, ["wrong"] = Wrong };
        if (Candidates != null) o["candidates"] = new JsonArray(Candidates.Select(c => (JsonNode?)c).ToArray());
        if (Labels != null) o["labels"] = new JsonArray(Labels.Select(l => (JsonNode?)l).ToArray());
        if (Meta != null) o["meta"] = Meta.DeepClone();
        return o.ToJsonString(Compact);
    }
}
