using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>
/// A dataset study's results.json (EXPERIMENTS.md, "Datasets": <c>n_pairs</c>, <c>n_used</c>, <c>excluded</c>,
/// <c>per_pair</c>, <c>mean</c>, <c>std</c>, <c>ci95</c>, <c>recovery_of_means</c>) read by the report: its figures show
/// the mean over the used pairs, drawn as a single-pair study's keys would be.
/// </summary>
internal static class DatasetResults
{
    static readonly HashSet<string> Aggregates = ["per_pair", "mean", "std", "ci95", "recovery_of_means", "not_aggregated", "metadata"];

    /// <summary>True for the results of a dataset study (a <c>per_pair</c> and a <c>mean</c> object).</summary>
    public static bool IsDataset(JsonObject r) => r["per_pair"] is JsonObject && r["mean"] is JsonObject;

    /// <summary>
    /// The metadata, then every key of <c>mean</c> under its single-pair name. Position-indexed keys are aligned by label
    /// or by offset from the final position, so the positions are named by those slots (<c>token_strings</c>) and the
    /// single prompts' <c>tokens</c> and <c>differing_positions</c>, which would name other positions, are left out.
    /// </summary>
    public static JsonObject MeanView(JsonObject r)
    {
        var o = new JsonObject();
        foreach (var (k, val) in r)
            if (!Aggregates.Contains(k) && k is not ("tokens" or "token_strings" or "differing_positions")) o[k] = val?.DeepClone();
        foreach (var (k, val) in (JsonObject)r["mean"]!) o[k] = val?.DeepClone();
        if (r["metadata"] is JsonObject strings)   // the string keys every pair shares (method), as a single study writes them
            foreach (var (k, val) in strings)
                if (val is JsonValue && !o.ContainsKey(k)) o[k] = val.DeepClone();
        if (SlotNames(r) is { } slots)
        {
            JsonArray Names() => new(slots.Select(s => (JsonNode?)s).ToArray());
            o["token_strings"] = new JsonObject { ["clean"] = Names(), ["corrupted"] = Names() };
        }
        return o;
    }

    /// <summary>The names of the aligned positions: the <c>labels</c>, or the <c>offsets</c> written "final", "final−1", ….</summary>
    public static string[]? SlotNames(JsonObject r)
    {
        if (ResultsView.Strs(r["labels"]) is { Length: > 0 } labels) return labels;
        if (ResultsView.Ints(r["offsets"]) is { Length: > 0 } offsets) return offsets.Select(d => d == 0 ? "final" : $"final−{-d}").ToArray();
        return null;
    }
}
