using System.Text.Json.Nodes;
using SharpLens.IO;

namespace SharpLens.Sharding;

/// <summary>One shard file as read, with where it came from (for messages).</summary>
public sealed record ShardInput(string Source, JsonObject File);

/// <summary>
/// Combines the N partial results of a sharded study (<see cref="StudyShard"/>) into the results.json object an
/// unsharded run writes: the same keys and, within 1e-6 relative, the same numbers. It refuses — an input error naming
/// the files — anything that is not exactly one complete set: a file that is not a shard, shards of another format,
/// shards whose fingerprints differ (another model, prompts, dataset or options: the message names what differs),
/// shards of different counts, a shard given twice, a missing shard, and shards that computed the same value differently.
/// </summary>
public static class ShardMerge
{
    /// <summary>Relative tolerance for values two shards both computed (the baselines; the metadata must be equal).</summary>
    public const double Tolerance = 1e-6;

    /// <summary>Merges a complete set of shards (in any order): a single pair's (<see cref="MergePair"/>) or a dataset
    /// study's (<see cref="DatasetShards.Merge"/>).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) for a set that cannot be merged, saying why.</exception>
    public static JsonObject Merge(IReadOnlyList<ShardInput> shards)
    {
        var ordered = CheckSet(shards);
        string kind = Header(ordered[0]).Kind;
        if (kind == StudyShard.PairKind) return MergePair(ordered);
        if (kind == StudyShard.DatasetKind) return DatasetShards.Merge(ordered);
        throw SharpLensException.Input($"{ordered[0].Source}: shards of kind \"{UntrustedText.Quote(kind)}\" cannot be merged by this version of SharpLens");
    }

    /// <summary>The header fields of a shard file (checked).</summary>
    public static (string Kind, int Index, int Count, string Fingerprint) Header(ShardInput s)
    {
        if (s.File[StudyShard.HeaderKey] is not JsonObject h)
        {
            string what = s.File["resid_pre_patch_recovery"] != null || s.File["clean_logit_diff"] != null || s.File["per_pair"] != null || s.File["n_pairs"] != null
                ? "a complete results.json, not a shard of a sharded study" : "not a shard of a sharded study (no sharplens_shard header)";
            throw SharpLensException.Input($"{s.Source}: {what}; merge takes the --out folders of study --shard runs");
        }
        try
        {
            int format = h["format"]!.GetValue<int>();
            if (format != StudyShard.Format)
                throw SharpLensException.Input($"{s.Source}: shard format {format}, which this version of SharpLens does not read (it reads format {StudyShard.Format}); rerun that shard");
            var r = (h["kind"]!.GetValue<string>(), h["index"]!.GetValue<int>(), h["count"]!.GetValue<int>(), h["fingerprint"]!.GetValue<string>());
            if (r.Item3 < 1 || r.Item2 < 0 || r.Item2 >= r.Item3) throw new FormatException();
            if (s.File[StudyShard.ResultsKey] is not JsonObject) throw new FormatException();
            return r;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw SharpLensException.Input($"{s.Source}: a damaged shard file (its {StudyShard.HeaderKey} header or {StudyShard.ResultsKey} is missing or mistyped); rerun that shard");
        }
    }

    /// <summary>Checks that the shards are one complete set of one study and returns them in index order.</summary>
    static List<ShardInput> CheckSet(IReadOnlyList<ShardInput> shards)
    {
        if (shards.Count == 0) throw SharpLensException.Usage("merge needs the shards' folders");
        var first = shards[0];
        var (_, _, count, fingerprint) = Header(first);
        var byIndex = new ShardInput?[count];
        foreach (var s in shards)
        {
            var (_, index, n, fp) = Header(s);
            if (fp != fingerprint)
            {
                string? d = JsonDiff.FirstDifference(Inputs(first), Inputs(s));
                if (d != null && d.StartsWith("options.pairs_per_batch", StringComparison.Ordinal))
                    throw SharpLensException.Input($"{s.Source} and {first.Source} are shards of runs with different --pairs-per-batch (inputs.{d}): "
                        + "it sets the tiles that both the batches and the shards' blocks follow, so their pairs do not fit together; "
                        + "rerun the shards with one --pairs-per-batch");
                string what = d != null ? $"; they differ at inputs.{d}" : "";
                throw SharpLensException.Input($"{s.Source} and {first.Source} are shards of different studies (another model, prompts, dataset or "
                    + $"options{what}); merge the shards of one study");
            }
            if (n != count)
                throw SharpLensException.Input($"{s.Source} is shard {index}/{n} but {first.Source} is of {count} shards: merge the shards of one sharding");
            if (byIndex[index] is { } twice)
                throw SharpLensException.Input($"shard {index}/{count} is given twice: {twice.Source} and {s.Source}; give each shard once");
            byIndex[index] = s;
        }
        var missing = Enumerable.Range(0, count).Where(i => byIndex[i] == null).ToList();
        if (missing.Count > 0)
            throw SharpLensException.Input($"shard{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing.Take(20).Select(i => $"{i}/{count}"))}"
                + $"{(missing.Count > 20 ? $" and {missing.Count - 20} more" : "")} of {count} {(missing.Count == 1 ? "is" : "are")} missing; "
                + "merge needs every shard of the study (run the missing ones with the same options)");
        return byIndex.Select(s => s!).ToList();
    }

    static JsonNode? Inputs(ShardInput s) => s.File[StudyShard.HeaderKey]?["inputs"];

    /// <summary>The results of a shard (the object under <see cref="StudyShard.ResultsKey"/>).</summary>
    public static JsonObject Results(ShardInput s) => (JsonObject)s.File[StudyShard.ResultsKey]!;

    /// <summary>
    /// A single-pair study: the union of the shards' keys. A key several shards wrote (the metadata, the baselines, the
    /// top heads) must agree; <c>timings</c> adds the shards' times (so <c>total_s</c> is the compute all shards spent),
    /// <c>warnings</c> joins theirs, and <c>model.path</c> is the first shard's.
    /// </summary>
    static JsonObject MergePair(IReadOnlyList<ShardInput> shards)
    {
        var merged = new JsonObject();
        var owner = new Dictionary<string, ShardInput>();
        foreach (var s in shards)
            foreach (var (key, value) in Results(s))
            {
                if (!merged.ContainsKey(key))
                {
                    merged[key] = value?.DeepClone();
                    owner[key] = s;
                    continue;
                }
                switch (key)
                {
                    case "timings":
                        AddTimings((JsonObject)merged[key]!, value as JsonObject);
                        break;
                    case "warnings":
                        foreach (var w in value?.AsArray() ?? [])
                            if (!merged[key]!.AsArray().Any(x => JsonNode.DeepEquals(x, w))) merged[key]!.AsArray().Add(w?.DeepClone());
                        break;
                    default:
                        CheckAgree(key, merged[key], value, owner[key], s);
                        break;
                }
            }
        return merged;
    }

    /// <summary>Two shards wrote <paramref name="key"/>: the values must agree (the model's path may differ between machines).</summary>
    public static void CheckAgree(string key, JsonNode? a, JsonNode? b, ShardInput first, ShardInput second)
    {
        if (key == "model" && a is JsonObject x && b is JsonObject y)
        {
            (x, y) = ((JsonObject)x.DeepClone(), (JsonObject)y.DeepClone());
            x.Remove("path");
            y.Remove("path");
            (a, b) = (x, y);
        }
        if (JsonDiff.FirstDifference(a, b, Tolerance, key) is { } d)
            throw SharpLensException.Input($"{first.Source} and {second.Source} disagree on {d}: the shards were not computed from the same "
                + "weights (or by the same SharpLens); rerun them on one model");
    }

    /// <summary>Adds the numbers of <paramref name="add"/> into <paramref name="into"/> key by key.</summary>
    public static void AddTimings(JsonObject into, JsonObject? add)
    {
        foreach (var (k, v) in add ?? [])
        {
            if (v is not JsonValue value || !value.TryGetValue<double>(out double t)) continue;
            double before = into[k] is JsonValue old && old.TryGetValue<double>(out double o) ? o : 0;
            into[k] = Math.Round(before + t, 4);
        }
    }
}
