using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Datasets;

/// <summary>The demo model and a small generated set-completion dataset, studied once for the tests of this class.</summary>
public sealed class DatasetStudyFixture : IDisposable
{
    public HookedTransformer Model { get; }
    public HfTokenizer Tokenizer { get; }
    public IReadOnlyList<PreparedPair> Pairs { get; }
    public DatasetStudyOptions Options { get; }
    public DatasetStudyResult Result { get; }
    public DatasetReference Reference { get; }
    /// <summary>Every pair's result from <see cref="DatasetStudy.ComputePairs"/> (what a shard writes).</summary>
    public IReadOnlyList<PairResult> All { get; }

    /// <summary>Experiments small enough to keep the class quick, covering every kind of key (position-indexed, layer,
    /// head grids, the three ablations and the joint grid).</summary>
    public static readonly IReadOnlySet<string> Experiments = new HashSet<string>
        { StudyExperiments.Baselines, StudyExperiments.ResidPatch, StudyExperiments.AttnMlpPatch, StudyExperiments.HeadPatch, StudyExperiments.Ablation };

    public DatasetStudyFixture()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        Tokenizer = HfTokenizer.Load(dir);
        Model = HookedTransformer.Load(dir);
        Pairs = PromptDataset.FromPairs(SetCompletionTask.Generate(Tokenizer, 3, seed: 7)).Prepare(Tokenizer, ModelConfig.Load(dir));
        Options = new DatasetStudyOptions
        {
            Study = new StudyOptions
            {
                Experiments = Experiments, Heads = [(1, 1), (2, 1), (3, 0)],
                Ablations = new HashSet<AblationKind> { AblationKind.Zero, AblationKind.Mean, AblationKind.Resample },
            },
            Resamples = 300, Seed = 5,
        };
        Reference = DatasetStudy.Reference(Model, Pairs, Options)!;
        // the two halves a sharded run uses: pairs computed in two slices, then aggregated
        All = DatasetStudy.ComputePairs(Model, Pairs, [2], Reference, Options, Tokenizer.IsDefined)
            .Concat(DatasetStudy.ComputePairs(Model, Pairs, [0, 1], Reference, Options, Tokenizer.IsDefined)).ToList();
        Result = DatasetStudy.Aggregate(Pairs.Count, All, Options);
    }

    public void Dispose() => Model.Dispose();
}

public class DatasetStudyTests(DatasetStudyFixture f) : IClassFixture<DatasetStudyFixture>
{
    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-3 + 1e-4 * Math.Abs(expected), $"{what}: {actual} vs {expected}");

    static IEnumerable<double> Leaves(JsonNode? n) => n switch
    {
        JsonArray a => a.SelectMany(Leaves),
        JsonObject o => o.Where(kv => kv.Key != "tokens").SelectMany(kv => Leaves(kv.Value)),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => [],   // e.g. "method"
        JsonValue v => [v.TryGetValue(out int i) ? i : v.GetValue<double>()],
        _ => [],
    };

    [Fact]
    public void PerPairValuesEqualSinglePairStudiesOfTheSamePairs()
    {
        var json = f.Result.ToJson();
        Assert.Equal(3, (int)json["n_pairs"]!);
        Assert.Equal(f.Result.UsedCount, json["per_pair"]!["clean_logit_diff"]!.AsArray().Count);
        Assert.True(f.Result.UsedCount >= 2, "the demo model should pass most generated pairs");
        var single = f.Options.Study with { Ablations = new HashSet<AblationKind> { AblationKind.Zero } };
        for (int u = 0; u < f.Result.UsedCount; u++)
        {
            var pair = f.Pairs[f.Result.Used[u].Index];
            var alone = Study.Run(f.Model, pair.Prompts.Tokens, single, f.Tokenizer.IsDefined);
            int compared = 0;
            foreach (var (key, value) in alone)
            {
                if (key is "timings" or "processing" || key.StartsWith("pattern_", StringComparison.Ordinal)) continue;
                var mine = json["per_pair"]![key]![u];
                var a = Leaves(value).ToArray(); var b = Leaves(mine).ToArray();
                Assert.Equal(a.Length, b.Length);
                for (int i = 0; i < a.Length; i++) Close(a[i], b[i], $"pair {u} {key}[{i}]");
                compared++;
            }
            Assert.True(compared > 20, $"only {compared} keys compared");
        }
    }

    [Fact]
    public void MeanAblationWritesTheDatasetMeanAtEachLabel()
    {
        // By hand: the mean of hook_attn_out of layer 1 over every used pair's clean and corrupted run, per label.
        string hook = f.Model.HookNames.Layers[1].AttnOut;
        int d = f.Model.Config.DModel;
        var sums = new Dictionary<string, (double[] Sum, int Count)>();
        foreach (var u in f.Result.Used)
        {
            var p = f.Pairs[u.Index];
            foreach (var ids in new[] { p.Prompts.Tokens.Clean, p.Prompts.Tokens.Corrupted })
            {
                var (_, cache) = f.Model.RunWithCache([ids], hook);
                var data = cache[hook].Data;
                for (int t = 0; t < ids.Length; t++)
                {
                    string label = p.Pair.Labels![t];
                    var (sum, count) = sums.TryGetValue(label, out var s) ? s : (new double[d], 0);
                    for (int e = 0; e < d; e++) sum[e] += data[t * d + e];
                    sums[label] = (sum, count + 1);
                }
            }
        }
        var json = f.Result.ToJson();
        for (int u = 0; u < f.Result.UsedCount; u++)
        {
            var p = f.Pairs[f.Result.Used[u].Index];
            var ids = p.Prompts.Tokens.Clean;
            var hooks = new HookSet().Add(hook, ctx =>
            {
                for (int t = 0; t < ctx.Shape[0]; t++)
                {
                    var (sum, count) = sums[p.Pair.Labels![t + ctx.PosOffset]];
                    for (int e = 0; e < d; e++) ctx.Data[t * d + e] = (float)(sum[e] / count);
                }
            });
            var logits = f.Model.RunWithHooks([ids], hooks).Slice(0);
            int V = f.Model.Config.VocabSize, last = ids.Length - 1;
            double byHand = (double)logits[last * V + p.Prompts.Tokens.Answer] - logits[last * V + p.Prompts.Tokens.Wrong];
            Close(byHand, (double)json["per_pair"]!["mean_ablate_attn_clean_logit_diff"]![u]![1]!, $"pair {u}");
        }
    }

    [Fact]
    public void ResampleAblationTakesItsPartnersActivations()
    {
        var json = f.Result.ToJson();
        string hook = f.Model.HookNames.Layers[2].MlpOut;
        int u = 0;
        var p = f.Pairs[f.Result.Used[u].Index];
        int partner = f.Reference.PartnerOf(f.Result.Used[u].Index)!.Value;
        Assert.NotEqual(f.Result.Used[u].Index, partner);
        Assert.Null(f.Reference.Exclusions[partner]);
        var values = f.Reference.ResampleValues(f.Result.Used[u].Index)!;
        // the partner's own activation at the same label (set-completion pairs share most labels)
        var q = f.Pairs[partner];
        var (_, cache) = f.Model.RunWithCache([q.Prompts.Tokens.Corrupted], hook);
        int d = f.Model.Config.DModel;
        var v = values(hook, false).Span;
        int end = p.Pair.Labels!.ToList().IndexOf("END"), theirEnd = q.Pair.Labels!.ToList().IndexOf("END");
        for (int e = 0; e < d; e++) Assert.Equal(cache[hook].Data[theirEnd * d + e], v[end * d + e]);
        var ids = p.Prompts.Tokens.Corrupted;
        var copy = values(hook, false).ToArray();
        var logits = f.Model.RunWithHooks([ids], new HookSet().Add(hook, ctx => copy.AsSpan(ctx.PosOffset * d, ctx.Data.Length).CopyTo(ctx.Data))).Slice(0);
        int V = f.Model.Config.VocabSize, last = ids.Length - 1;
        Close((double)logits[last * V + p.Prompts.Tokens.Answer] - logits[last * V + p.Prompts.Tokens.Wrong],
            (double)json["per_pair"]!["resample_ablate_mlp_corrupted_logit_diff"]![u]![2]!, "resample");
        // the same seed draws the same partners
        var again = DatasetStudy.Reference(f.Model, f.Pairs, f.Options)!;
        Assert.Equal(partner, again.PartnerOf(f.Result.Used[u].Index));
    }

    [Fact]
    public void JointAblationDiagonalIsTheSingleHeadAndKeysAreAggregated()
    {
        var json = f.Result.ToJson();
        var heads = f.Options.Study.Heads!;
        for (int u = 0; u < f.Result.UsedCount; u++)
            for (int i = 0; i < heads.Count; i++)
            {
                var (l, h) = heads[i];
                Close((double)json["per_pair"]!["zero_ablate_head_clean_logit_diff"]![u]![l]![h]!,
                    (double)json["per_pair"]!["joint_ablate_head_pair_clean_logit_diff"]![u]![i]![i]!, $"diagonal {i}");
            }
        // --heads fixes the joint heads for every pair, so the grid is averaged
        Assert.Equal(heads.Count, json["mean"]!["joint_ablate_head_pair_corrupted_logit_diff"]!.AsArray().Count);
        foreach (var kind in new[] { "zero", "mean", "resample" })
            Assert.NotNull(json["ci95"]![$"{kind}_ablate_head_clean_logit_diff"]);
        Assert.Equal("label", (string)json["position_aggregation"]!);
        Assert.Contains("END", json["labels"]!.AsArray().Select(x => (string)x!));
        Assert.Equal(300, (int)json["bootstrap"]!["resamples"]!);
    }

    [Fact]
    public void WithoutLabelsPositionsAggregateByOffsetFromTheEnd()
    {
        var byOffset = DatasetStudy.Aggregate(f.All.Count, f.All.Select(r => r with { Labels = null }), f.Options).ToJson();
        Assert.Equal("offset", (string)byOffset["position_aggregation"]!);
        var offsets = byOffset["offsets"]!.AsArray().Select(x => (int)x!).ToArray();
        Assert.Equal(0, offsets[^1]);
        int shortest = f.Result.Used.Min(u => f.Pairs[u.Index].Prompts.Tokens.Length);
        Assert.Equal(shortest, offsets.Length);
        // the final slot is every pair's final position
        var finals = f.Result.Used.Select(u => (double)u.Results!["resid_pre_patch_recovery"]![0]!.AsArray()[^1]!).Average();
        Assert.Equal(finals, (double)byOffset["mean"]!["resid_pre_patch_recovery"]![0]![offsets.Length - 1]!, 12);
    }

    [Fact]
    public void BootstrapIsDeterministicAndIndependentOfTheOrderPairsArriveIn()
    {
        var all = f.All;
        var a = DatasetStudy.Aggregate(f.Pairs.Count, all, f.Options).ToJson();
        // a shard's pairs written as JSON, read back in another order: the same result
        var shuffled = all.Reverse().Select(r => PairResult.FromJson(JsonNode.Parse(r.ToJson().ToJsonString())!.AsObject()));
        var b = DatasetStudy.Aggregate(f.Pairs.Count, shuffled, f.Options).ToJson();
        Assert.Equal(a["ci95"]!.ToJsonString(), b["ci95"]!.ToJsonString());
        Assert.Equal(a["per_pair"]!.ToJsonString(), b["per_pair"]!.ToJsonString());
        var other = DatasetStudy.Aggregate(f.Pairs.Count, all, f.Options with { Seed = 6 }).ToJson();
        Assert.NotEqual(a["ci95"]!["head_z_patch_last_recovery"]!.ToJsonString(), other["ci95"]!["head_z_patch_last_recovery"]!.ToJsonString());
        Assert.Equal(a["mean"]!.ToJsonString(), other["mean"]!.ToJsonString());
    }
}

/// <summary>Pairs whose baselines fail: excluded and listed, and a dataset where none passes is an input error.</summary>
public class DatasetExclusionTests
{
    static readonly DatasetStudyOptions BaselinesOnly = new()
    {
        Study = new StudyOptions { Experiments = new HashSet<string> { StudyExperiments.Baselines, StudyExperiments.AttnMlpPatch } },
        Resamples = 50,
    };

    static (HookedTransformer, HfTokenizer, List<PromptPair>) Setup()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        return (HookedTransformer.Load(dir), tok, SetCompletionTask.Generate(tok, 3, seed: 7).ToList());
    }

    /// <summary>Answer and wrong swapped: the clean logit diff turns negative, so the pair fails its baselines.</summary>
    static PromptPair Swapped(PromptPair p) => p with { Answer = p.Wrong, Wrong = p.Answer, Candidates = null };

    [Fact]
    public void PairsWhoseBaselinesFailAreExcludedByLine()
    {
        var (model, tok, pairs) = Setup();
        using var _ = model;
        pairs[1] = Swapped(pairs[1]);
        var prepared = PromptDataset.FromPairs(pairs).Prepare(tok, model.Config);
        var r = DatasetStudy.Run(model, prepared, BaselinesOnly, tok.IsDefined).ToJson();
        Assert.Equal(3, (int)r["n_pairs"]!);
        Assert.Equal(2, (int)r["n_used"]!);
        var excluded = Assert.Single(r["excluded"]!.AsArray());
        Assert.Equal(2, (int)excluded!["line"]!);
        Assert.Contains("clean logit diff", (string)excluded["reason"]!);
        Assert.Equal(2, r["per_pair"]!["attn_out_patch_last_recovery"]!.AsArray().Count);
        Assert.Equal([1, 3], r["pair_lines"]!.AsArray().Select(x => (int)x!));

        // the gap rule keeps a pair whose corrupted run has no preference of its own, the sign rule does not
        Assert.Null(DatasetStudy.ExclusionReason(BaselineRule.Gap, 2.0, 0.5));
        Assert.Contains("corrupted logit diff", DatasetStudy.ExclusionReason(BaselineRule.Sign, 2.0, 0.5));
        Assert.NotNull(DatasetStudy.ExclusionReason(BaselineRule.Gap, 2.0, 2.5));
    }

    [Fact]
    public void IoiAbcPairsDefaultToTheGapRule()
    {
        var qwen = HfTokenizer.Load(Fixtures.Dir("qwen-tokenizer"));
        Assert.Equal(BaselineRule.Gap, DatasetStudy.DefaultRule(IoiTask.Generate(qwen, 6, 1)));
        Assert.Equal(BaselineRule.Gap, DatasetStudy.DefaultRule(IoiTask.Generate(qwen, 6, 1, IoiCorruption.AllNames)));
        var (model, tok, pairs) = Setup();
        model.Dispose();
        Assert.Equal(BaselineRule.Sign, DatasetStudy.DefaultRule(pairs));
    }

    [Fact]
    public void NoPairPassingIsAnInputError()
    {
        var (model, tok, pairs) = Setup();
        using var _ = model;
        var prepared = PromptDataset.FromPairs(pairs.Select(Swapped)).Prepare(tok, model.Config);
        var e = Assert.Throws<SharpLensException>(() => DatasetStudy.Run(model, prepared, BaselinesOnly, tok.IsDefined));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains("no pair of the 3 passes its baselines", e.Message);
        Assert.Contains("line 1:", e.Message);
    }
}

/// <summary>Mean ablation in a single-pair study: the mean of the pair's clean and corrupted activations, position by position.</summary>
public class SinglePairMeanAblationTests
{
    [Fact]
    public void MeanIsOverTheCleanAndCorruptedRuns()
    {
        string dir = Fixtures.Dir("setcomp-demo");
        var tok = HfTokenizer.Load(dir);
        using var model = HookedTransformer.Load(dir);
        var prompts = PromptSet.Prepare(tok, model.Config, PromptSet.SeedClean, PromptSet.SeedCorrupted, PromptSet.SeedAnswer, PromptSet.SeedWrong);
        var o = Study.Run(model, prompts.Tokens, new StudyOptions
        {
            Experiments = new HashSet<string> { StudyExperiments.Baselines, StudyExperiments.Ablation }, Heads = [(1, 1)],
            Ablations = new HashSet<AblationKind> { AblationKind.Mean },
        }, tok.IsDefined);
        Assert.Null(o["zero_ablate_attn_clean_logit_diff"]);
        var t = prompts.Tokens;
        string hook = model.HookNames.Layers[2].Z;
        var (_, clean) = model.RunWithCache([t.Clean], hook);
        var (_, corrupted) = model.RunWithCache([t.Corrupted], hook);
        int H = model.Config.NHeads, e = model.Config.DHead, head = 3, V = model.Config.VocabSize, last = t.Last;
        var logits = model.RunWithHooks([t.Corrupted], new HookSet().Add(hook, ctx =>
        {
            for (int p = 0; p < ctx.Shape[0]; p++)
                for (int i = 0; i < e; i++)
                {
                    int at = ((p + ctx.PosOffset) * H + head) * e + i;
                    ctx.Data[(p * H + head) * e + i] = (clean[hook].Data[at] + corrupted[hook].Data[at]) / 2;
                }
        })).Slice(0);
        double byHand = (double)logits[last * V + t.Answer] - logits[last * V + t.Wrong];
        double mine = (double)o["mean_ablate_head_corrupted_logit_diff"]![2]![head]!;
        Assert.True(Math.Abs(byHand - mine) <= 2e-3 + 1e-4 * Math.Abs(byHand), $"{mine} vs {byHand}");
        Assert.Single(o["joint_ablate_heads"]!.AsArray());
        Assert.Throws<SharpLensException>(() => Study.Run(model, prompts.Tokens, new StudyOptions
            { Ablations = new HashSet<AblationKind> { AblationKind.Resample } }, tok.IsDefined));
    }
}
