using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpLens.Statistics;

/// <summary>
/// The statistics of a dataset study (EXPERIMENTS.md, "Datasets"), from the single-pair results of its pairs: for every
/// numeric key, shaped like the single-pair key, the <c>mean</c>, the sample standard deviation <c>std</c> (null with one
/// pair) and a percentile bootstrap <c>ci95</c> (<c>[low, high]</c> at each leaf, <see cref="Bootstrap"/>); the
/// recovery keys recomputed from the mean logit differences (<c>recovery_of_means</c>); and <c>bootstrap</c>
/// (<c>{"resamples": B, "seed": S}</c>). Position-indexed keys (<see cref="PositionIndexedKeys"/>: the last axis is the token
/// position) are first aligned across pairs (<see cref="PositionAlignment"/>): by label when every pair has labels — then
/// <c>labels</c> names the slots — else by offset from the final position — then <c>offsets</c> does.
/// </summary>
public static class DatasetAggregate
{
    /// <summary>Keys whose last axis is the token position ([layer][pos], [layer][head][k_pos]).</summary>
    public static readonly IReadOnlySet<string> PositionIndexedKeys = new HashSet<string>
    {
        "resid_pre_patch_recovery", "atp_resid_pre_recovery", "pattern_last_row_clean", "pattern_last_row_corrupted",
    };

    /// <summary>Keys that are metadata or hold token ids, layer/head indices or timings: never averaged. Inside an
    /// object-valued key (a DLA object) the <c>tokens</c> entry is an id list and is left out too.</summary>
    public static readonly IReadOnlySet<string> ExcludedKeys = new HashSet<string>
    {
        "processing", "model", "prompts", "control_source", "answers", "answer_tokens", "tokens", "token_strings",
        "differing_positions", "candidates", "labels", "timings", "top_heads", "head_pair_layer", "ov_tokens",
        "head_top_tokens_clean", "head_top_tokens_corrupted", "path_patch_sender", "path_patch_senders", "joint_ablate_heads",
    };

    /// <summary><c>{key: [value of each pair, in order]}</c> for every key that all pairs have (values copied).</summary>
    public static JsonObject PerPair(IReadOnlyList<JsonObject> perPair)
    {
        var result = new JsonObject();
        if (perPair.Count == 0) return result;
        foreach (var (key, _) in perPair[0])
            if (perPair.All(p => p.ContainsKey(key)))
                result[key] = new JsonArray(perPair.Select(p => p[key]?.DeepClone()).ToArray());
        return result;
    }

    /// <summary>
    /// The aggregate keys over <paramref name="perPair"/> (each the results object of one pair's single-pair study, with
    /// its <c>clean_logit_diff</c> and <c>corrupted_logit_diff</c>): <c>mean</c>, <c>std</c>, <c>ci95</c>,
    /// <c>recovery_of_means</c>, <c>bootstrap</c>, <c>position_aggregation</c> ("label" or "offset") with <c>labels</c> or
    /// <c>offsets</c>, <c>not_aggregated</c> (<c>{key: reason}</c>) for numeric keys that could not be, such as a key
    /// whose shape differs between pairs (candidates of different counts), and <c>metadata</c> (<c>{key: value}</c>) for
    /// string keys such as <c>method</c>: the value once when every pair has the same, else the distinct values in order.
    /// </summary>
    /// <param name="labels">each pair's token labels (null, or a null entry, for pairs without)</param>
    /// <param name="bootstrap">resample count and seed; its draws depend only on the seed and the pair count</param>
    public static JsonObject Summarize(IReadOnlyList<JsonObject> perPair, IReadOnlyList<IReadOnlyList<string>?>? labels, Bootstrap bootstrap)
    {
        if (perPair.Count == 0) throw new ArgumentException("no pairs to aggregate", nameof(perPair));
        int n = perPair.Count;
        var mean = new JsonObject();
        var std = new JsonObject();
        var ci = new JsonObject();
        var recovery = new JsonObject();
        var skipped = new JsonObject();
        var metadata = new JsonObject();
        PositionAlignment? alignment = null;
        double[]? gaps = RecoveryGaps(perPair);

        foreach (var (key, _) in perPair[0])
        {
            if (ExcludedKeys.Contains(key)) continue;
            if (!perPair.All(p => p[key] != null)) { skipped[key] = "missing or null in some pairs"; continue; }
            JsonNode?[] values = perPair.Select(p => p[key]).ToArray();
            if (values.All(v => v is JsonValue j && j.GetValueKind() == System.Text.Json.JsonValueKind.String))
            {
                // a string (the study's method, why AtP is unavailable): metadata, carried once
                var distinct = values.Select(v => (string)v!).Distinct().ToList();
                metadata[key] = distinct.Count == 1 ? distinct[0] : new JsonArray(distinct.Select(v => (JsonNode?)v).ToArray());
                continue;
            }
            if (PositionIndexedKeys.Contains(key))
            {
                var aligned = AlignPositions(values, labels, out var keyAlignment, out string? why);
                if (aligned == null) { skipped[key] = why; continue; }
                values = aligned;
                alignment ??= keyAlignment;
            }
            var leaves = new double[n][];
            string? shape = null, reason = null;
            for (int i = 0; i < n && reason == null; i++)
            {
                var flat = new List<double>();
                if (!Flatten(values[i]!, flat, out string s)) reason = "not numeric";
                else if (shape != null && s != shape) reason = "its shape differs between pairs";
                shape ??= s;
                leaves[i] = flat.ToArray();
            }
            if (reason != null) { skipped[key] = reason; continue; }
            if (leaves[0].Length == 0) continue;

            int width = leaves[0].Length;
            var means = new double[width];
            var stds = new double?[width];
            var column = new double[n];
            for (int l = 0; l < width; l++)
            {
                for (int i = 0; i < n; i++) column[i] = leaves[i][l];
                means[l] = Descriptive.Mean(column);
                stds[l] = Descriptive.SampleStd(column);
            }
            var intervals = bootstrap.Ci95(leaves);
            var template = values[0]!;
            mean[key] = Rebuild(template, means.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            std[key] = Rebuild(template, stds.Select(v => v is { } d ? (JsonNode?)JsonValue.Create(d) : null).ToArray());
            ci[key] = Rebuild(template, intervals.Select(c => (JsonNode?)new JsonArray(c.Low, c.High)).ToArray());
            if (gaps != null && key.EndsWith("_recovery", StringComparison.Ordinal))
                recovery[key] = Rebuild(template, RecoveryOfMeans(leaves, gaps).Select(v => double.IsFinite(v) ? (JsonNode?)JsonValue.Create(v) : null).ToArray());
        }

        var o = new JsonObject();
        if (alignment != null)
        {
            o["position_aggregation"] = alignment.ByLabel ? "label" : "offset";
            if (alignment.ByLabel) o["labels"] = new JsonArray(alignment.Slots.Select(s => (JsonNode?)s).ToArray());
            else o["offsets"] = new JsonArray(alignment.Offsets.Select(s => (JsonNode?)s).ToArray());
        }
        o["mean"] = mean;
        o["std"] = std;
        o["ci95"] = ci;
        o["recovery_of_means"] = recovery;
        o["bootstrap"] = new JsonObject { ["resamples"] = bootstrap.Resamples, ["seed"] = bootstrap.Seed };
        o["not_aggregated"] = skipped;
        o["metadata"] = metadata;
        return o;
    }

    /// <summary>
    /// Recovery from the mean logit differences: with gap_i = clean_i − corrupted_i and patched_i = corrupted_i +
    /// recovery_i·gap_i, <c>(mean(patched) − mean(corrupted)) / (mean(clean) − mean(corrupted)) = Σ recovery_i·gap_i / Σ gap_i</c>
    /// — the gap-weighted mean of the per-pair recoveries, at every leaf (NaN where the gaps sum to 0; written as null).
    /// </summary>
    public static double[] RecoveryOfMeans(IReadOnlyList<double[]> recoveries, IReadOnlyList<double> gaps)
    {
        if (recoveries.Count != gaps.Count) throw new ArgumentException("one gap per pair", nameof(gaps));
        double total = gaps.Sum();
        var result = new double[recoveries[0].Length];
        for (int l = 0; l < result.Length; l++)
        {
            double weighted = 0;
            for (int i = 0; i < gaps.Count; i++) weighted += recoveries[i][l] * gaps[i];
            result[l] = weighted / total;
        }
        return result;
    }

    /// <summary>clean − corrupted logit diff per pair; null when a pair lacks either baseline.</summary>
    static double[]? RecoveryGaps(IReadOnlyList<JsonObject> perPair)
    {
        var gaps = new double[perPair.Count];
        for (int i = 0; i < perPair.Count; i++)
        {
            if (!TryNumber(perPair[i]["clean_logit_diff"], out double clean) || !TryNumber(perPair[i]["corrupted_logit_diff"], out double corrupted))
                return null;
            gaps[i] = clean - corrupted;
        }
        return gaps;
    }

    /// <summary>Each pair's position-indexed array with its last axis replaced by the alignment's slots.</summary>
    static JsonNode?[]? AlignPositions(JsonNode?[] values, IReadOnlyList<IReadOnlyList<string>?>? labels, out PositionAlignment? alignment, out string? why)
    {
        alignment = null;
        why = null;
        var lengths = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int? len = LastAxisLength(values[i]);
            if (len is not > 0) { why = "its position axis is not a non-empty numeric array"; return null; }
            lengths[i] = len.Value;
        }
        try { alignment = PositionAlignment.Create(lengths, labels); }
        catch (ArgumentException e) { why = e.Message; return null; }
        var a = alignment;
        return values.Select((v, i) => MapRows(v!, row => a.Align(i, row))).ToArray();
    }

    static int? LastAxisLength(JsonNode? node)
    {
        if (node is not JsonArray array) return null;
        if (array.Count == 0 || array[0] is not JsonArray) return array.All(x => TryNumber(x, out _)) ? array.Count : null;
        var lengths = array.Select(LastAxisLength).Distinct().ToArray();
        return lengths.Length == 1 ? lengths[0] : null;
    }

    /// <summary>Replaces every innermost numeric row of <paramref name="node"/> by <paramref name="map"/>(row).</summary>
    static JsonNode MapRows(JsonNode node, Func<double[], double[]> map)
    {
        var array = (JsonArray)node;
        if (array.Count > 0 && array[0] is JsonArray) return new JsonArray(array.Select(x => (JsonNode?)MapRows(x!, map)).ToArray());
        var row = array.Select(x => TryNumber(x, out double d) ? d : double.NaN).ToArray();
        return new JsonArray(map(row).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
    }

    /// <summary>Appends the numeric leaves of <paramref name="node"/> in document order; <paramref name="shape"/> describes
    /// its structure (arrays' lengths, objects' keys). False when a leaf is not a finite number.</summary>
    static bool Flatten(JsonNode node, List<double> leaves, out string shape)
    {
        var sb = new System.Text.StringBuilder();
        bool ok = Walk(node, leaves, sb);
        shape = sb.ToString();
        return ok;

        static bool Walk(JsonNode? node, List<double> leaves, System.Text.StringBuilder sb)
        {
            switch (node)
            {
                case JsonArray array:
                    sb.Append('[').Append(array.Count).Append(':');
                    foreach (var item in array) if (!Walk(item, leaves, sb)) return false;
                    sb.Append(']');
                    return true;
                case JsonObject obj:
                    sb.Append('{');
                    foreach (var (k, v) in obj)
                    {
                        if (k == "tokens") continue;   // token ids (DLA objects)
                        sb.Append(JsonSerializer.Serialize(k)).Append(':');
                        if (!Walk(v, leaves, sb)) return false;
                    }
                    sb.Append('}');
                    return true;
                default:
                    if (!TryNumber(node, out double d) || !double.IsFinite(d)) return false;
                    leaves.Add(d);
                    sb.Append('n');
                    return true;
            }
        }
    }

    /// <summary><paramref name="template"/>'s structure with its leaves, in document order, replaced by <paramref name="leaves"/>.</summary>
    static JsonNode? Rebuild(JsonNode template, JsonNode?[] leaves)
    {
        int next = 0;
        var result = Build(template);
        if (next != leaves.Length) throw new InvalidOperationException("leaf count mismatch while rebuilding an aggregate");
        return result;

        JsonNode? Build(JsonNode? node) => node switch
        {
            JsonArray array => new JsonArray(array.Select(Build).ToArray()),
            JsonObject obj => new JsonObject(obj.Where(kv => kv.Key != "tokens").Select(kv => KeyValuePair.Create(kv.Key, Build(kv.Value)))),
            _ => leaves[next++],
        };
    }

    static bool TryNumber(JsonNode? node, out double value)
    {
        value = 0;
        if (node is not JsonValue v) return false;
        if (v.TryGetValue(out double d)) { value = d; return true; }
        if (v.TryGetValue(out int i)) { value = i; return true; }
        if (v.TryGetValue(out long l)) { value = l; return true; }
        if (v.TryGetValue(out float f)) { value = f; return true; }
        if (v.TryGetValue(out decimal m)) { value = (double)m; return true; }
        if (v.TryGetValue(out JsonElement e) && e.ValueKind == JsonValueKind.Number) { value = e.GetDouble(); return true; }
        return false;
    }
}
