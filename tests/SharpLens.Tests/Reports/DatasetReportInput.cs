using System.Text.Json.Nodes;
using SharpLens.Statistics;

namespace SharpLens.Tests.Reports;

/// <summary>
/// A dataset study's results.json in the layout of EXPERIMENTS.md ("Datasets"): metadata, <c>n_pairs</c>, <c>n_used</c>,
/// <c>excluded</c>, <c>per_pair</c>, <c>mean</c>, <c>std</c>, <c>ci95</c>, <c>recovery_of_means</c>, <c>bootstrap</c> —
/// the aggregates computed by the library's <see cref="DatasetAggregate"/> over pairs made from the demo model's
/// single-pair results: pair i scales every head's final-position patching recovery by a known factor, so how many pairs
/// a head "recovers" in follows from the construction.
/// </summary>
internal static class DatasetReportInput
{
    /// <summary>The factor applied to head patching recoveries in pair <paramref name="i"/>: 1.0, 0.9, …, so the
    /// strongest head stays strong in the first pairs and fades in the last ones.</summary>
    public static double Factor(int i) => 1.0 - 0.1 * i;

    public static JsonObject Build(int pairs = 8)
    {
        var single = ReportInput.Build();
        var perPair = new List<JsonObject>();
        for (int i = 0; i < pairs; i++)
        {
            var p = new JsonObject();
            foreach (var (key, value) in single)
                if (key is not ("pattern_clean" or "pattern_corrupted" or "timings" or "model" or "prompts" or "token_strings"))
                    p[key] = value?.DeepClone();
            double f = Factor(i);
            p["head_z_patch_last_recovery"] = Scale(p["head_z_patch_last_recovery"]!, f);
            p["clean_logit_diff"] = (double)p["clean_logit_diff"]! * (1 + 0.05 * i);
            perPair.Add(p);
        }
        var o = new JsonObject
        {
            ["sharplens_version"] = "0.0.0-test", ["processing"] = "hf", ["model"] = single["model"]!.DeepClone(),
            ["dataset"] = "pairs.jsonl", ["n_pairs"] = pairs + 2, ["n_used"] = pairs,
            ["excluded"] = new JsonArray(new JsonObject { ["line"] = 3, ["reason"] = "baselines do not hold" },
                new JsonObject { ["line"] = 7, ["reason"] = "answer is not one token" }),
            ["answers"] = single["answers"]!.DeepClone(), ["top_heads"] = single["top_heads"]!.DeepClone(),
            ["per_pair"] = DatasetAggregate.PerPair(perPair),
        };
        foreach (var (key, value) in DatasetAggregate.Summarize(perPair, null, new Bootstrap(200, 1))) o[key] = value?.DeepClone();
        return o;
    }

    static JsonArray Scale(JsonNode grid, double f) =>
        new(grid.AsArray().Select(row => (JsonNode?)new JsonArray(row!.AsArray().Select(x => (JsonNode?)((double)x! * f)).ToArray())).ToArray());
}
