using System.Text.Json.Nodes;
using SharpLens.Sharding;

namespace SharpLens.Tests.Sharding;

/// <summary>ShardMerge on hand-made shard files: what a complete set gives, and every set it refuses.</summary>
public class ShardMergeTests
{
    static JsonObject Inputs(string prompt = "a b c") => new()
    {
        ["kind"] = StudyShard.PairKind, ["model"] = new JsonObject { ["config.json"] = "abc" }, ["prompts"] = new JsonObject { ["clean"] = prompt },
    };

    /// <summary>Shard <paramref name="i"/> of <paramref name="n"/>: the metadata, baselines and key_i.</summary>
    static ShardInput Shard(int i, int n, JsonObject? inputs = null, double clean = 2.5, string path = "/m")
    {
        var results = new JsonObject
        {
            ["model"] = new JsonObject { ["n_layers"] = 4, ["path"] = path },
            ["clean_logit_diff"] = clean,
            ["corrupted_logit_diff"] = -1.25,
            [$"key_{i}"] = new JsonArray(i, i + 0.5),
            ["timings"] = new JsonObject { ["baselines_s"] = 1.0, [$"key_{i}_s"] = 0.25, ["total_s"] = 2.0 },
            ["warnings"] = new JsonArray(),
        };
        var file = StudyShard.Wrap(results, new ShardSpec(i, n), StudyShard.PairKind, inputs ?? Inputs(), new JsonArray($"key_{i}"));
        return new ShardInput($"s{i}/shard.json", file);
    }

    static SharpLensException Refused(params ShardInput[] shards)
    {
        var e = Assert.Throws<SharpLensException>(() => ShardMerge.Merge(shards));
        Assert.Equal(ExitCode.Input, e.Code);
        return e;
    }

    [Fact]
    public void ACompleteSet_InAnyOrder_GivesTheUnionOfKeys_TimesAdded()
    {
        var m = ShardMerge.Merge([Shard(2, 3), Shard(0, 3, path: "/elsewhere"), Shard(1, 3)]);
        Assert.Equal(2.5, m["clean_logit_diff"]!.GetValue<double>());
        for (int i = 0; i < 3; i++) Assert.Equal($"[{i},{i + 0.5}]", m[$"key_{i}"]!.ToJsonString());
        Assert.Equal("/elsewhere", m["model"]!["path"]!.GetValue<string>());   // shard 0's; paths may differ between machines
        Assert.Equal(3.0, m["timings"]!["baselines_s"]!.GetValue<double>());
        Assert.Equal(6.0, m["timings"]!["total_s"]!.GetValue<double>());
        Assert.Equal(0.25, m["timings"]!["key_1_s"]!.GetValue<double>());
        Assert.False(m.ContainsKey(StudyShard.HeaderKey));
    }

    [Fact]
    public void AMissingShard_IsNamed()
    {
        var e = Refused(Shard(0, 4), Shard(2, 4));
        Assert.Contains("shards 1/4, 3/4 of 4 are missing", e.Message);
    }

    [Fact]
    public void AShardGivenTwice_IsNamedWithBothFiles()
    {
        var twice = Shard(1, 2) with { Source = "copy/shard.json" };
        var e = Refused(Shard(0, 2), Shard(1, 2), twice);
        Assert.Contains("shard 1/2 is given twice: s1/shard.json and copy/shard.json", e.Message);
    }

    [Fact]
    public void ShardsOfAnotherStudy_AreRefused_NamingWhatDiffers()
    {
        var e = Refused(Shard(0, 2), Shard(1, 2, Inputs("x y z")));
        Assert.Contains("shards of different studies", e.Message);
        Assert.Contains("inputs.prompts.clean", e.Message);
    }

    [Fact]
    public void ShardsOfDifferentCounts_AreRefused()
    {
        var e = Refused(Shard(0, 2), Shard(1, 3));
        Assert.Contains("s1/shard.json is shard 1/3 but s0/shard.json is of 2 shards", e.Message);
    }

    [Fact]
    public void ShardsThatComputedTheBaselinesDifferently_AreRefused()
    {
        var e = Refused(Shard(0, 2), Shard(1, 2, clean: 2.6));
        Assert.Contains("disagree on clean_logit_diff", e.Message);
        // within the tolerance: the same
        Assert.NotNull(ShardMerge.Merge([Shard(0, 2), Shard(1, 2, clean: 2.5 * (1 + 1e-7))]));
    }

    [Fact]
    public void AResultsJsonOrAnyOtherFile_IsNotAShard()
    {
        var results = new ShardInput("r/results.json", new JsonObject { ["clean_logit_diff"] = 1.0, ["resid_pre_patch_recovery"] = new JsonArray() });
        Assert.Contains("a complete results.json, not a shard", Refused(results).Message);
        Assert.Contains("no sharplens_shard header", Refused(new ShardInput("x.json", new JsonObject { ["a"] = 1 })).Message);
        var damaged = Shard(0, 1);
        damaged.File[StudyShard.HeaderKey]!["index"] = "zero";
        Assert.Contains("a damaged shard file", Refused(damaged).Message);
        var future = Shard(0, 1);
        future.File[StudyShard.HeaderKey]!["format"] = 99;
        Assert.Contains("shard format 99", Refused(future).Message);
    }

    [Fact]
    public void DatasetShards_ThatAreDamagedOrHoldOtherPairs_AreRefused()
    {
        ShardInput Dataset(int i, JsonNode? part) => new($"d{i}/shard.json", StudyShard.Wrap(new JsonObject { [DatasetShards.PairsKey] = part },
            new ShardSpec(i, 2), StudyShard.DatasetKind, new JsonObject { ["kind"] = StudyShard.DatasetKind }, new JsonArray()));
        JsonObject Part(params int[] indices) => new()
        {
            ["pair_count"] = 4,
            ["pairs"] = new JsonArray(indices.Select(i => (JsonNode?)new JsonObject { ["index"] = i, ["line"] = i + 1, ["excluded"] = "no gap" }).ToArray()),
            ["options"] = new JsonObject { ["resamples"] = 10, ["seed"] = 0, ["baseline_rule"] = "sign" },
        };
        Assert.Contains("a damaged dataset shard", Refused(Dataset(0, Part(0, 1)), Dataset(1, null)).Message);
        Assert.Contains("a damaged dataset shard", Refused(Dataset(0, Part(0, 1)), Dataset(1, new JsonObject { ["pairs"] = "x" })).Message);
        Assert.Contains("shard 1/2 should hold pairs 2–3 of 4", Refused(Dataset(0, Part(0, 1)), Dataset(1, Part(2))).Message);
        // a complete set whose every pair fails its baselines: the dataset study's own input error
        Assert.Contains("no pair of the 4 passes its baselines", Refused(Dataset(0, Part(0, 1)), Dataset(1, Part(2, 3))).Message);
    }

    [Fact]
    public void TheFingerprint_CoversEveryOption()
    {
        var baseline = new SharpLens.Experiments.StudyOptions();
        string Of(SharpLens.Experiments.StudyOptions o, IReadOnlySet<string>? experiments = null) =>
            StudyShard.Fingerprint(new JsonObject { ["options"] = StudyShard.OptionsJson(o, experiments) });
        var variants = new[]
        {
            Of(baseline), Of(baseline with { Processing = SharpLens.Experiments.Processing.Tl }), Of(baseline with { PairLayer = 1 }),
            Of(baseline with { Heads = [(1, 0)] }), Of(baseline with { Senders = [(1, 1)] }), Of(baseline with { TopTokens = 5 }),
            Of(baseline with { Ablations = new HashSet<SharpLens.Experiments.AblationKind> { SharpLens.Experiments.AblationKind.Mean } }),
            Of(baseline, new HashSet<string> { "baselines", "dla" }),
        };
        Assert.Equal(variants.Length, variants.Distinct().Count());
        Assert.Equal(Of(baseline), Of(new SharpLens.Experiments.StudyOptions()));   // the same options, the same fingerprint
    }

    [Fact]
    public void JsonDiff_ComparesNumbersRelatively_AndNamesThePath()
    {
        var a = JsonNode.Parse("""{"x": [1.0, {"y": 1e-20}], "s": "t"}""");
        Assert.Null(JsonDiff.FirstDifference(a, JsonNode.Parse("""{"x": [1.0000001, {"y": 3e-20}], "s": "t"}"""), 1e-6));
        Assert.Equal("x[0] (1 and 1.00001)", JsonDiff.FirstDifference(a, JsonNode.Parse("""{"x": [1.00001, {"y": 0}], "s": "t"}"""), 1e-6));
        Assert.StartsWith("s (", JsonDiff.FirstDifference(a, JsonNode.Parse("""{"x": [1.0, {"y": 0}], "s": "u"}"""), 1e-6));
        Assert.Equal("x[1].y (only in the first)", JsonDiff.FirstDifference(a, JsonNode.Parse("""{"x": [1.0, {}], "s": "t"}"""), 1e-6));
        Assert.Equal("x (lengths 2 and 1)", JsonDiff.FirstDifference(a, JsonNode.Parse("""{"x": [1.0], "s": "t"}"""), 1e-6));
        Assert.Null(JsonDiff.FirstDifference(JsonNode.Parse("[1, 2.0]"), new JsonArray(1.0, 2)));   // however a number is held
    }
}
