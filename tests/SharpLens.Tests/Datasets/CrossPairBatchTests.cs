using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary>A dataset study's pairs batched across pairs (<see cref="CrossPairSweeps"/>, <see cref="PatchSweep.RunAcross"/>)
/// against the same pairs one at a time and against single-pair studies, on the demo model.</summary>
public class CrossPairBatchTests
{
    /// <summary>Every sweep kind that runs across pairs, the head pairs at a fixed layer, and zero ablation (pair by pair).</summary>
    static readonly IReadOnlySet<string> Experiments = new HashSet<string>
    {
        StudyExperiments.Baselines, StudyExperiments.ResidPatch, StudyExperiments.AttnMlpPatch, StudyExperiments.HeadPatch,
        StudyExperiments.HeadPairPatch, StudyExperiments.ControlPatch, StudyExperiments.HeadInputPatch, StudyExperiments.Noising,
        StudyExperiments.Ablation,
    };

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-3 + 1e-4 * Math.Abs(expected), $"{what}: {actual} vs {expected}");

    static IEnumerable<double> Leaves(JsonNode? n) => n switch
    {
        JsonArray a => a.SelectMany(Leaves),
        JsonObject o => o.Where(kv => kv.Key != "tokens").SelectMany(kv => Leaves(kv.Value)),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => [],
        JsonValue v => [v.TryGetValue(out int i) ? i : v.GetValue<double>()],
        _ => [],
    };

    static int CompareKeys(JsonObject expected, JsonObject actual, string what)
    {
        int compared = 0;
        foreach (var (key, value) in expected)
        {
            if (key is "timings" or "processing" || key.StartsWith("pattern_", StringComparison.Ordinal)) continue;
            var a = Leaves(value).ToArray(); var b = Leaves(actual[key]).ToArray();
            Assert.True(a.Length == b.Length, $"{what} {key}: {b.Length} values, expected {a.Length}");
            for (int i = 0; i < a.Length; i++) Close(a[i], b[i], $"{what} {key}[{i}]");
            compared++;
        }
        return compared;
    }

    [Fact]
    public void GroupedPairsOfAMixedLengthDatasetEqualPairByPairAndSinglePairStudies()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        var pairs = PromptDataset.FromPairs(SetCompletionTask.Generate(tok, 7, seed: 11)).Prepare(tok, ModelConfig.Load(dir));
        var lengths = pairs.Select(p => p.Prompts.Tokens.Length).ToList();
        Assert.True(lengths.Distinct().Count() >= 2, "the dataset should mix prompt lengths: " + string.Join(",", lengths));
        Assert.True(Enumerable.Range(0, lengths.Count).GroupBy(i => (i / 4, lengths[i])).Any(g => g.Count() >= 2),
            "some pairs of a tile of 4 should share a length (a group > 1)");
        var study = new StudyOptions
        {
            Experiments = Experiments, PairLayer = 1, Heads = [(1, 1), (2, 1)],
            Ablations = new HashSet<AblationKind> { AblationKind.Zero },
        };
        var order = new[] { 5, 0, 3, 1, 6, 4, 2 };   // any order: yielded in this order, whatever the groups
        PairResult[] Compute(int perBatch) => DatasetStudy.ComputePairs(model, pairs, order, null,
            new DatasetStudyOptions { Study = study, BaselineRule = BaselineRule.Any, PairsPerBatch = perBatch }, tok.IsDefined).ToArray();
        var grouped = Compute(4);
        var alone = Compute(1);
        Assert.Equal(order, grouped.Select(r => r.Index));
        Assert.Equal(order, alone.Select(r => r.Index));
        for (int k = 0; k < order.Length; k++)
        {
            Assert.Equal(alone[k].Excluded, grouped[k].Excluded);
            if (grouped[k].Results is not { } mine) continue;
            Assert.True(CompareKeys(alone[k].Results!, mine, $"pair {order[k]} (4 vs 1 per batch)") > 20);
            var single = Study.Run(model, pairs[order[k]].Prompts.Tokens, study, tok.IsDefined);
            Assert.True(CompareKeys(single, mine, $"pair {order[k]} (vs its single-pair study)") > 20);
        }
        Assert.True(grouped.Count(r => r.Results != null) >= 4, "most pairs should be studied");
    }

    [Fact]
    public void ShardBlocksOfWholeTiles_FormTheUnshardedGroups_BitForBit()
    {
        // 10 pairs in tiles of 4, 3 shards: unaligned blocks (0–3, 4–6, 7–9) would cut tile 4–7 and batch its pairs
        // differently; aligned blocks (Block with the tile) hold whole tiles, so every pair's numbers are the whole run's.
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        // the first seed whose tile 4–7 holds a group that the unaligned blocks would cut (pair 7 shares a length with one of 4–6)
        bool Cut(IReadOnlyList<PreparedPair> ps) => Enumerable.Range(4, 3).Any(i => ps[i].Prompts.Tokens.Length == ps[7].Prompts.Tokens.Length);
        var pairs = Enumerable.Range(0, 100).Select(seed => PromptDataset.FromPairs(SetCompletionTask.Generate(tok, 10, seed: seed)).Prepare(tok, ModelConfig.Load(dir)))
            .First(Cut);
        var options = new DatasetStudyOptions
        {
            Study = new StudyOptions { Experiments = Experiments, PairLayer = 1, Heads = [(1, 1), (2, 1)], Ablations = new HashSet<AblationKind> { AblationKind.Zero } },
            BaselineRule = BaselineRule.Any, PairsPerBatch = 4,
        };
        string[] Json(IEnumerable<int> indices) => DatasetStudy.ComputePairs(model, pairs, indices, null, options, tok.IsDefined)
            .Select(r => r.ToJson().ToJsonString()).ToArray();
        var whole = Json(Enumerable.Range(0, 10));
        var sharded = Enumerable.Range(0, 3).SelectMany(i =>
        {
            var (start, end) = new SharpLens.Sharding.ShardSpec(i, 3).Block(10, 4);
            return Json(Enumerable.Range(start, end - start));
        }).ToArray();
        string Strip(string json) => System.Text.RegularExpressions.Regex.Replace(json, "\"seconds\":[^,}]*", "");
        Assert.Equal(whole.Select(Strip), sharded.Select(Strip));
        Assert.True(whole.Count(j => j.Contains("head_z_patch_last_recovery", StringComparison.Ordinal)) >= 5, "most pairs should be studied");
    }

    [Fact]
    public void RowsOfAGroupsPairsShareForwards()
    {
        // Each pair's one item touches layers 0 and 1: in a shared forward both pairs' layer-0 hooks fire before either
        // pair's layer-1 hook (A0 B0 A1 B1); forward by forward it would be A0 A1 B0 B1.
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        var pairs = PromptDataset.FromPairs(SetCompletionTask.Generate(tok, 12, seed: 3)).Prepare(tok, ModelConfig.Load(dir));
        var two = pairs.GroupBy(p => p.Prompts.Tokens.Length).First(g => g.Count() >= 2).Take(2).ToArray();
        var log = new List<string>();
        var names = model.HookNames;
        IReadOnlyList<Intervention> Item(string pair) =>
        [
            new Intervention(names.Layers[0].ResidPre, 0, (_, _, _) => log.Add(pair + "0")),
            new Intervention(names.Layers[1].ResidPre, 0, (_, _, _) => log.Add(pair + "1")),
        ];
        var values = CrossPairSweeps.Run(2, (k, across) =>
        {
            var runs = new StudyRuns(model, two[k].Prompts.Tokens) { AcrossPairs = across };
            return runs.SweepOn(clean: false, default).Run([Item(k == 0 ? "A" : "B")], StudyRuns.PairLogitDiff)[0];
        });
        Assert.Equal(["A0", "B0", "A1", "B1"], log);
        // and each row is its own pair's run: no-op interventions give each pair's corrupted logit diff
        for (int k = 0; k < 2; k++)
            Close(new StudyRuns(model, two[k].Prompts.Tokens).CorruptedLogitDiff, values[k], $"pair {k}");
    }

    [Fact]
    public void PairsPerBatchBelowOneIsAUsageError()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        var pairs = PromptDataset.FromPairs(SetCompletionTask.Generate(tok, 1, seed: 3)).Prepare(tok, ModelConfig.Load(dir));
        var e = Assert.Throws<SharpLensException>(() => DatasetStudy.ComputePairs(model, pairs, [0], null,
            new DatasetStudyOptions { PairsPerBatch = 0 }, tok.IsDefined).ToList());
        Assert.Equal(ExitCode.Usage, e.Code);
    }
}
