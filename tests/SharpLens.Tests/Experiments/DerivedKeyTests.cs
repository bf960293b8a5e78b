using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>The keys marked † in EXPERIMENTS.md, tested by their definitions, and the hf/tl contrast.</summary>
public class DerivedKeyTests
{
    static double D(JsonNode? n) => n!.GetValue<double>();
    static double[] Row(JsonNode? n) => n!.AsArray().Select(D).ToArray();
    static double[][] Grid(JsonNode? n) => n!.AsArray().Select(Row).ToArray();

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("setcomp-demo")]
    public void SuperadditivityIsPairMinusSingles(string fixture)
    {
        var r = ReferenceExperimentTests.Compute(fixture, Processing.Hf);
        var pair = Grid(r["head_pair_z_patch_last_recovery"]);
        var sup = Grid(r["head_pair_superadditivity"]);
        var single = Grid(r["head_z_patch_last_recovery"])[r["head_pair_layer"]!.GetValue<int>()];
        for (int i = 0; i < pair.Length; i++)
            for (int j = 0; j < pair.Length; j++)
            {
                Assert.Equal(i == j ? 0 : pair[i][j] - pair[i][i] - pair[j][j], sup[i][j], 12);
                Assert.Equal(pair[i][j], pair[j][i], 12);
            }
        for (int i = 0; i < pair.Length; i++) Assert.True(Math.Abs(pair[i][i] - single[i]) < 1e-5, "diagonal = the head alone");
    }

    [Fact]
    public void AblationFractionsAreOverTheRunsOwnBaseline()
    {
        var r = ReferenceExperimentTests.Compute("setcomp-demo", Processing.Hf);
        foreach (var run in new[] { "clean", "corrupted" })
        {
            double baseline = D(r[$"{run}_logit_diff"]);
            foreach (var comp in new[] { "attn", "mlp" })
            {
                var raw = Row(r[$"zero_ablate_{comp}_{run}_logit_diff"]);
                var frac = Row(r[$"zero_ablate_{comp}_{run}_fraction"]);
                for (int l = 0; l < raw.Length; l++) Assert.Equal(raw[l] / baseline, frac[l], 12);
            }
            var rawH = Grid(r[$"zero_ablate_head_{run}_logit_diff"]);
            var fracH = Grid(r[$"zero_ablate_head_{run}_fraction"]);
            Assert.Equal(rawH[1][0] / baseline, fracH[1][0], 12);
        }
    }

    [Fact]
    public void TopHeadsAreTheLargestAbsoluteFinalPositionRecoveries()
    {
        var r = ReferenceExperimentTests.Compute("setcomp-demo", Processing.Hf);
        var heads = Grid(r["head_z_patch_last_recovery"]);
        var top = r["top_heads"]!.AsArray().Select(x => (x![0]!.GetValue<int>(), x[1]!.GetValue<int>())).ToList();
        Assert.Equal(4, top.Count);
        Assert.Equal((1, 0), top[0]);   // the demo README: L1H0 (0.62) then L1H1 (0.46)
        Assert.Equal((1, 1), top[1]);
        double weakestTop = top.Min(t => Math.Abs(heads[t.Item1][t.Item2]));
        var rest = heads.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).Where(x => !top.Contains((x.l, x.h)));
        Assert.All(rest, x => Assert.True(Math.Abs(x.v) <= weakestTop));
    }

    [Theory]
    [InlineData(Processing.Hf)]
    [InlineData(Processing.Tl)]
    public void DlaComponentsSumToTheLogits(Processing processing)
    {
        var r = ReferenceExperimentTests.Compute("tiny-qwen2", processing);
        foreach (var key in new[] { "dla_clean", "dla_corrupted", "dla_candidates_clean" })
        {
            var o = r[key]!;
            for (int t = 0; t < o["tokens"]!.AsArray().Count; t++)
            {
                double sum = D(o["embed"]![t]);
                sum += o["heads"]!.AsArray().SelectMany(l => l!.AsArray()).Sum(h => D(h![t]));
                sum += o["mlp"]!.AsArray().Sum(m => D(m![t]));
                if (o["attn_bias"] is JsonArray bias) sum += bias.Sum(b => D(b![t]));
                Assert.True(Math.Abs(sum - D(o["logits"]![t])) < 1e-3, $"{key} token {t}: {sum} vs {D(o["logits"]![t])}");
            }
        }
    }

    [Fact]
    public void HeadTopTokensAreTheHighestDlaIds()
    {
        using var model = HookedTransformer.Load(Fixtures.Dir("setcomp-demo"));
        var r = ReferenceExperimentTests.Compute("setcomp-demo", Processing.Hf);
        var top = r["head_top_tokens_clean"]!.AsArray();
        Assert.Equal(model.Config.NLayers, top.Count);
        var ids = top[1]![0]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(10, ids.Length);
        Assert.Equal(10, ids.Distinct().Count());
        // by definition: the 10 ids with the highest DLA of that head's final-position result over the whole vocabulary
        var tokens = ReferenceExperimentTests.TokensOf(Fixtures.Json("setcomp-demo", "reference_experiments.json"));
        var runs = new StudyRuns(model, tokens);
        int[] all = Enumerable.Range(0, model.Config.VocabSize).ToArray();
        var dla = Row(new DirectLogitAttribution(runs, Processing.Hf).For(clean: true, all)["heads"]![1]![0]);
        var expected = all.OrderByDescending(t => dla[t]).Take(10).ToArray();
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void PatchingIsIdenticalUnderBothProcessingsWhileHeadAblationAndDlaDiffer()
    {
        var hf = ReferenceExperimentTests.Compute("tiny-qwen2", Processing.Hf);
        var tl = ReferenceExperimentTests.Compute("tiny-qwen2", Processing.Tl);
        foreach (var key in new[] { "resid_pre_patch_recovery", "attn_out_patch_last_recovery", "head_z_patch_all_recovery",
                     "head_pair_z_patch_last_recovery", "control_resid_pre_patch_last_recovery", "zero_ablate_attn_clean_logit_diff" })
            Assert.Equal(hf[key]!.ToJsonString(), tl[key]!.ToJsonString());
        // tiny-qwen2 has value biases: zeroing hook_z under tl keeps b_V·W_O, so the head ablations differ
        Assert.NotEqual(hf["zero_ablate_head_clean_logit_diff"]!.ToJsonString(), tl["zero_ablate_head_clean_logit_diff"]!.ToJsonString());
        // W_U centring shifts every logit of a row by the same amount: DLA values move, logit differences do not
        var lh = Row(hf["dla_clean"]!["logits"]); var lt = Row(tl["dla_clean"]!["logits"]);
        Assert.NotEqual(lh[0], lt[0], 3);
        Assert.Equal(lh[0] - lh[1], lt[0] - lt[1], 4);
        Assert.NotNull(tl["dla_clean"]!["attn_bias"]);
        Assert.Null(hf["dla_clean_tl"]);
    }

    [Fact]
    public void OvRanksCoverAnswerWrongAndCandidates()
    {
        using var model = HookedTransformer.Load(Fixtures.Dir("setcomp-demo"));
        var reference = Fixtures.Json("setcomp-demo", "reference_experiments.json");
        var tokens = ReferenceExperimentTests.TokensOf(reference);
        int[] ov = [tokens.Answer, tokens.Wrong, 5, 17];
        var ranks = OvCircuit.CopyRanks(model, ov);
        var expected = reference["ov_copy_rank"]!.AsArray();
        for (int l = 0; l < ranks.Length; l++)
            for (int h = 0; h < ranks[l].Length; h++)
            {
                Assert.Equal(4, ranks[l][h].Length);
                Assert.Equal(expected[l]![h]![0]!.GetValue<int>(), ranks[l][h][0]);
                Assert.InRange(ranks[l][h][3], 1, model.Config.VocabSize);
            }
    }
}
