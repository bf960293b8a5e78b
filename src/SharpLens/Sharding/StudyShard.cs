using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Experiments;

namespace SharpLens.Sharding;

/// <summary>
/// The partial result a sharded study writes (<c>study --shard I/N</c>): <see cref="FileName"/> in its output folder,
/// never <c>results.json</c>, so a slice is never read as a whole study. The file holds a header
/// (<see cref="HeaderKey"/>: format, kind, index, count, the fingerprint of everything the result depends on and the
/// inputs it was computed from, the slice of work) and the slice's results under <see cref="ResultsKey"/>.
/// <see cref="ShardMerge"/> combines the N files into the results.json an unsharded run writes.
/// </summary>
public static class StudyShard
{
    public const string FileName = IO.OutputSet.ShardFile;
    public const string HeaderKey = "sharplens_shard";
    public const string ResultsKey = "results";
    public const int Format = 1;
    /// <summary>Kinds of sharded work: one pair's experiments dealt out, or a dataset's pairs in blocks.</summary>
    public const string PairKind = "pair", DatasetKind = "dataset";

    /// <summary>
    /// A single-pair study's slice: the chosen experiments (<paramref name="selected"/>; null: all), baselines aside,
    /// dealt round-robin in <see cref="StudyExperiments.All"/> order; every shard also runs the baselines (merging checks
    /// that they agree). Experiments whose defaults come from another's sweep (the head-pair layer, the top heads, the
    /// path-patching sender) compute that sweep themselves when it is in another shard, so values do not depend on the slicing.
    /// </summary>
    public static IReadOnlySet<string> Experiments(IReadOnlySet<string>? selected, ShardSpec shard)
    {
        var work = StudyExperiments.All.Where(e => e != StudyExperiments.Baselines && (selected?.Contains(e) ?? true)).ToList();
        var mine = shard.Deal(work).ToHashSet();
        mine.Add(StudyExperiments.Baselines);
        return mine;
    }

    /// <summary>The shard file's object: the header and the slice's results (which it takes over).</summary>
    /// <param name="inputs">everything the results depend on (<see cref="PairInputs"/>, or a dataset study's); its hash is the fingerprint</param>
    /// <param name="work">the slice, for people and for merging (experiment names, or [start, end) of the pairs)</param>
    public static JsonObject Wrap(JsonObject results, ShardSpec shard, string kind, JsonObject inputs, JsonNode work) => new()
    {
        [HeaderKey] = new JsonObject
        {
            ["format"] = Format,
            ["kind"] = kind,
            ["index"] = shard.Index,
            ["count"] = shard.Count,
            ["fingerprint"] = Fingerprint(inputs),
            ["inputs"] = inputs,
            ["work"] = work,
        },
        [ResultsKey] = results,
    };

    /// <summary>The SHA-256 (hex) of the inputs' JSON text.</summary>
    public static string Fingerprint(JsonObject inputs) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs.ToJsonString())));

    /// <summary>
    /// What a single-pair study's numbers depend on: the SharpLens version, the model (<see cref="ModelIdentity"/>), the
    /// prompts, answers, control and candidates, and every option. Shards with different inputs are refused by the merge.
    /// </summary>
    /// <param name="experiments">the whole study's experiments (before slicing; null: all)</param>
    public static JsonObject PairInputs(string modelDir, PromptSet prompts, StudyOptions options, IReadOnlySet<string>? experiments)
    {
        var prompt = new JsonObject();
        prompts.Describe(prompt);
        return new JsonObject
        {
            ["kind"] = PairKind,
            ["sharplens_version"] = typeof(Study).Assembly.GetName().Version?.ToString(),
            ["model"] = ModelIdentity(modelDir),
            ["prompts"] = new JsonObject
            {
                ["prompts"] = prompt["prompts"]!.DeepClone(), ["answers"] = prompt["answers"]!.DeepClone(),
                ["candidates"] = prompt["candidates"]!.DeepClone(), ["tokens"] = prompt["tokens"]!.DeepClone(),
            },
            ["options"] = OptionsJson(options, experiments),
        };
    }

    /// <summary>A study's options as JSON (experiments sorted by name; null fields: the default rule).</summary>
    public static JsonObject OptionsJson(StudyOptions options, IReadOnlySet<string>? experiments) => new()
    {
        ["processing"] = options.Processing == Processing.Tl ? "tl" : "hf",
        ["experiments"] = Json.Row((experiments ?? StudyExperiments.All.ToHashSet()).Order(StringComparer.Ordinal)),
        ["pair_layer"] = options.PairLayer,
        ["heads"] = options.Heads == null ? null : Json.Grid(options.Heads.Select(h => new[] { h.Layer, h.Head })),
        ["senders"] = options.Senders == null ? null : Json.Grid(options.Senders.Select(h => new[] { h.Layer, h.Head })),
        ["ablations"] = Json.Row(options.Ablations.Order().Select(a => a.ToString().ToLowerInvariant())),
        ["full_patterns"] = options.FullPatterns,
        ["top_tokens"] = options.TopTokens,
        ["default_top_heads"] = options.DefaultTopHeads,
    };

    /// <summary>
    /// What identifies a checkpoint wherever it lies (shards may run on machines that keep it at different paths):
    /// SHA-256 of config.json and of each tokenizer file, and each weight file's name, size and safetensors header hash
    /// (names, dtypes, shapes, offsets). Weights that differ only in their values are told apart by the merge, which
    /// checks that every shard computed the same baselines.
    /// </summary>
    public static JsonObject ModelIdentity(string modelDir)
    {
        var o = new JsonObject();
        foreach (string name in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
        {
            string path = Path.Combine(modelDir, name);
            if (File.Exists(path)) o[name] = HashFile(path);
        }
        var weights = new JsonArray();
        foreach (string path in Directory.GetFiles(modelDir, "*.safetensors").Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(path);
            weights.Add(new JsonObject { ["file"] = info.Name, ["bytes"] = info.Length, ["header_sha256"] = HeaderHash(path, info.Length) });
        }
        o["weights"] = weights;
        return o;
    }

    static string HashFile(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>SHA-256 of a safetensors file's 8-byte length and JSON header (at most 100 MB, as the loader allows).</summary>
    static string HeaderHash(string path, long length)
    {
        using var s = File.OpenRead(path);
        var len = new byte[8];
        if (length < 8 || s.ReadAtLeast(len, 8, throwOnEndOfStream: false) < 8) return "";
        long n = Math.Min(BitConverter.ToInt64(len), Math.Min(length - 8, 100L << 20));
        var header = new byte[8 + Math.Max(n, 0)];
        len.CopyTo(header, 0);
        s.ReadAtLeast(header.AsSpan(8), (int)Math.Max(n, 0), throwOnEndOfStream: false);
        return Convert.ToHexStringLower(SHA256.HashData(header));
    }
}
