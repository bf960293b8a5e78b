using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.Model;

namespace SharpLens.Sharding;

/// <summary>
/// A dataset study in shards: shard I of N computes the pairs of its contiguous block of whole tiles of
/// <see cref="DatasetStudyOptions.PairsPerBatch"/> pairs (<see cref="ShardSpec.Block"/>), so it batches its pairs as the
/// unsharded run does,
/// with <see cref="DatasetStudy.ComputePairs"/> — after the reference pass over every pair when mean or resample ablation
/// is asked for, so that every shard ablates with the same means and partners — and keeps each pair's results
/// (<see cref="PairResult.ToJson"/>). <see cref="Merge"/> hands all pairs to <see cref="DatasetStudy.Aggregate"/>, whose
/// bootstrap draws depend on the seed and the pair count alone: the merged result is the unsharded one.
/// </summary>
public static class DatasetShards
{
    /// <summary>The key of a dataset shard's results that holds its pairs (the rest is the results.json metadata).</summary>
    public const string PairsKey = "dataset_shard";

    /// <summary>
    /// Computes this shard's pairs; returns the <see cref="PairsKey"/> object: <c>pair_count</c>, <c>block</c>
    /// [start, end), <c>pairs</c> (<see cref="PairResult.ToJson"/> each, in file order) and <c>options</c> (what the
    /// aggregation needs: resamples, seed, baseline rule; and pairs_per_batch, the tile the blocks are aligned to).
    /// </summary>
    public static JsonObject Compute(HookedTransformer model, IReadOnlyList<PreparedPair> pairs, DatasetStudyOptions options, ShardSpec shard,
        Func<int, bool> isDefinedToken, IProgress<DatasetProgress>? progress = null, CancellationToken ct = default)
    {
        var reference = DatasetStudy.Reference(model, pairs, options, (done, total) =>
            progress?.Report(new DatasetProgress(0, pairs.Count, 0, new StudyProgress("reference pass (baselines and means)", done, total))), ct);
        var (start, end) = shard.Block(pairs.Count, options.PairsPerBatch);
        var results = DatasetStudy.ComputePairs(model, pairs, Enumerable.Range(start, end - start), reference, options, isDefinedToken, progress, ct);
        return new JsonObject
        {
            ["pair_count"] = pairs.Count,
            ["block"] = new JsonArray(start, end),
            ["pairs"] = new JsonArray(results.Select(r => (JsonNode?)r.ToJson()).ToArray()),
            ["options"] = AggregationOptions(options),
        };
    }

    /// <summary>
    /// What a dataset study's numbers depend on: the SharpLens version, the model (<see cref="StudyShard.ModelIdentity"/>),
    /// the pairs (a hash of every pair and its line number: the same dataset wherever its file lies)
    /// and every option.
    /// </summary>
    public static JsonObject Inputs(string modelDir, IReadOnlyList<PreparedPair> pairs, DatasetStudyOptions options)
    {
        var text = new StringBuilder();
        foreach (var p in pairs)
            text.Append(p.Pair.Line).Append(' ').Append(p.Pair.ToJsonLine()).Append('\n');
        var studyOptions = StudyShard.OptionsJson(options.Study, options.Study.Experiments);
        foreach (var (k, v) in AggregationOptions(options)) studyOptions[k] = v?.DeepClone();
        return new JsonObject
        {
            ["kind"] = StudyShard.DatasetKind,
            ["sharplens_version"] = typeof(Study).Assembly.GetName().Version?.ToString(),
            ["model"] = StudyShard.ModelIdentity(modelDir),
            ["dataset"] = new JsonObject
            {
                ["pairs"] = pairs.Count,
                ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))),
            },
            ["options"] = studyOptions,
        };
    }

    static JsonObject AggregationOptions(DatasetStudyOptions o) => new()
    {
        ["resamples"] = o.Resamples,
        ["seed"] = o.Seed,
        ["baseline_rule"] = o.BaselineRule.ToString().ToLowerInvariant(),
        ["pairs_per_batch"] = o.PairsPerBatch,
    };

    /// <summary>The tile a shard's block is aligned to: its options' pairs_per_batch (1 in shards written before it was recorded,
    /// whose blocks were not aligned).</summary>
    static int Tile(JsonObject options) =>
        options["pairs_per_batch"] is { } t ? int.Parse(t.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) : 1;

    /// <summary>
    /// The results.json object of the whole dataset study from a complete, checked set of dataset shards in index order
    /// (<see cref="ShardMerge.Merge"/> calls it): the first shard's metadata (every shard's must agree but for the
    /// model's and dataset's paths), then <see cref="DatasetStudyResult.ToJson"/> of the aggregation over all pairs.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) when a shard's pairs are not its block, or no
    /// pair passes its baselines.</exception>
    public static JsonObject Merge(IReadOnlyList<ShardInput> ordered)
    {
        var all = new List<PairResult>();
        JsonObject? options = null;
        int pairCount = -1;
        var merged = new JsonObject();
        var warnings = new JsonArray();
        foreach (var s in ordered)
        {
            var results = ShardMerge.Results(s);
            var (_, index, count, _) = ShardMerge.Header(s);
            if (results[PairsKey] is not JsonObject part || part["pairs"] is not JsonArray pairs || part["options"] is not JsonObject o
                || part["pair_count"] is not JsonValue nv || !nv.TryGetValue(out int n) || n < 0)
                throw SharpLensException.Input($"{s.Source}: a damaged dataset shard (no {PairsKey}.pairs, options or pair_count); rerun that shard");
            pairCount = pairCount < 0 ? n : pairCount;
            options ??= o;
            int tile;
            try { tile = Tile(o); }
            catch (Exception e) when (e is FormatException or OverflowException) { tile = 0; }
            if (tile < 1)
                throw SharpLensException.Input($"{s.Source}: a damaged dataset shard (its {PairsKey}.options.pairs_per_batch is not a positive whole number); rerun that shard");
            var (start, end) = new ShardSpec(index, count).Block(pairCount, tile);
            List<PairResult> mine;
            try { mine = pairs.Select(p => PairResult.FromJson(p!.AsObject())).ToList(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or InvalidCastException)
            {
                throw SharpLensException.Input($"{s.Source}: a damaged dataset shard (a pair's result is mistyped: {e.Message}); rerun that shard");
            }
            if (!mine.Select(r => r.Index).SequenceEqual(Enumerable.Range(start, end - start)))
                throw SharpLensException.Input($"{s.Source}: shard {index}/{count} should hold pairs {start}–{end - 1} of {pairCount} but holds "
                    + $"{(mine.Count == 0 ? "none" : $"{mine.Count} others")}; the file was changed or cut short: rerun that shard");
            all.AddRange(mine);
            foreach (var (key, value) in results)
            {
                if (key == PairsKey) continue;
                if (key == "warnings") { foreach (var w in value?.AsArray() ?? []) warnings.Add(w?.DeepClone()); continue; }
                if (!merged.ContainsKey(key)) merged[key] = value?.DeepClone();
                else if (key != "dataset") ShardMerge.CheckAgree(key, merged[key], value, ordered[0], s);
            }
        }
        DatasetStudyOptions aggregation;
        try
        {
            aggregation = new DatasetStudyOptions
            {
                // through the JSON text: a number however the node holds it (parsed from a file, or built in memory)
                Resamples = int.Parse(options!["resamples"]!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture),
                Seed = long.Parse(options["seed"]!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture),
                BaselineRule = Enum.TryParse<BaselineRule>(options["baseline_rule"]!.GetValue<string>(), ignoreCase: true, out var rule)
                    ? rule : throw new FormatException(),
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw SharpLensException.Input($"{ordered[0].Source}: a damaged dataset shard (its {PairsKey}.options are mistyped); rerun that shard");
        }
        var result = DatasetStudy.Aggregate(pairCount, all, aggregation);
        foreach (var (k, v) in result.ToJson()) merged[k] = v?.DeepClone();
        merged.Remove("warnings");
        merged["warnings"] = warnings;
        return merged;
    }
}
