using System.Text.Json.Nodes;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>ActivationCache's DecomposeResid, StackHeadResults, AccumulatedResid, ApplyLnToStack and LogitAttrs against
/// the PyTorch references (dla_clean/dla_corrupted, logit_lens_logit_diff_*) and the identity that components sum to the logits.</summary>
public class CacheAnalysisTests
{
    public static TheoryData<string> Models => new() { "tiny-qwen2", "tiny-llama", "setcomp-demo" };

    static void Near(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-3 + 1e-4 * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");

    static double Num(JsonNode? n) => n!.GetValue<double>();

    [Theory, MemberData(nameof(Models))]
    public void DirectLogitAttribution_OnAPlainCache_MatchesTheReference(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int n = m.Config.NLayers, H = m.Config.NHeads;
        foreach (var run in new[] { "clean", "corrupted" })
        {
            var ids = reference["tokens"]![run]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
            var dla = reference[$"dla_{run}"]!;
            var (logits, cache) = m.RunWithCache([ids]);
            var decomposed = cache.DecomposeResid(pos: -1);
            Assert.Equal(["embed", .. Enumerable.Range(0, n).SelectMany(l => new[] { $"{l}_attn_out", $"{l}_mlp_out" })], decomposed.Labels);
            var heads = cache.StackHeadResults(pos: -1);
            for (int i = 0; i < 2; i++)
            {
                int token = dla["tokens"]![i]!.GetValue<int>();
                var attrs = cache.LogitAttrs(decomposed, token);              // [components, batch]
                Assert.Equal([decomposed.Count, 1], attrs.Shape);
                Near(Num(dla["embed"]![i]), attrs[0, 0], $"{run} embed");
                for (int l = 0; l < n; l++)
                    Near(Num(dla["mlp"]![l]![i]), attrs[Array.IndexOf(decomposed.Labels, $"{l}_mlp_out"), 0], $"{run} mlp {l}");
                var headAttrs = cache.LogitAttrs(heads, token);
                for (int l = 0; l < n; l++)
                    for (int h = 0; h < H; h++)
                        Near(Num(dla["heads"]![l]![h]![i]), headAttrs[l * H + h, 0], $"{run} L{l}H{h}");
                // the components sum to the logit: the reference's and the run's own
                double sum = Enumerable.Range(0, decomposed.Count).Sum(k => (double)attrs[k, 0]);
                Near(Num(dla["logits"]![i]), sum, $"{run} logit of {token}");
                Assert.True(Math.Abs(logits[0, ids.Length - 1, token] - sum) < 1e-3, $"{logits[0, ids.Length - 1, token]} vs {sum}");
            }
        }
    }

    [Theory, MemberData(nameof(Models))]
    public void LogitLens_OverAccumulatedResid_MatchesTheReference(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var next = Fixtures.Json(fixture, "reference_next.json");
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int answer = reference["answer_tokens"]!["clean"]!.GetValue<int>(), wrong = reference["answer_tokens"]!["corrupted"]!.GetValue<int>();
        foreach (var run in new[] { "clean", "corrupted" })
        {
            var ids = reference["tokens"]![run]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
            var (_, cache) = m.RunWithCache([ids]);
            var resid = cache.AccumulatedResid(pos: -1);
            Assert.Equal([.. Enumerable.Range(0, m.Config.NLayers).Select(l => $"{l}_pre"), "final_post"], resid.Labels);
            // EXPERIMENTS.md: each layer's stream through the final norm with its own scale
            var lens = cache.LogitAttrs(cache.ApplyLnToStack(resid, ownScale: true), answer, wrong);
            var expected = next[$"logit_lens_logit_diff_{run}"]!.AsArray();
            Assert.Equal(expected.Count, lens.Shape[0]);
            for (int k = 0; k < expected.Count; k++) Near(Num(expected[k]), lens[k, 0], $"{run} {resid.Labels[k]}");
        }
    }

    [Fact]
    public void StackHeadResults_FromZ_EqualsTheCachedResult_AndTheRemainderCompletesTheStream()
    {
        var reference = Fixtures.Json("tiny-qwen2", "reference_experiments.json");
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        var ids = reference["tokens"]!["clean"]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        var (_, full) = m.RunWithCache([ids, ids]);
        var (_, zOnly) = m.RunWithCache([ids, ids], n => !n.EndsWith("hook_result"));
        var a = full.StackHeadResults(2);
        var b = zOnly.StackHeadResults(2);
        Assert.Equal(2 * m.Config.NHeads, a.Count);
        Assert.Equal([2 * m.Config.NHeads, 2, ids.Length, m.Config.DModel], a.Stack.Shape);
        for (int i = 0; i < a.Stack.Length; i++) Assert.True(Math.Abs(a.Stack.Data[i] - b.Stack.Data[i]) < 1e-4, $"[{i}]");
        // heads + remainder = blocks.2.hook_resid_pre; scaled by ln1 they sum to the normed input / w
        var withRest = zOnly.StackHeadResults(2, inclRemainder: true, applyLn: true);
        Assert.Equal("remainder", withRest.Labels[^1]);
        var resid = full["blocks.2.hook_resid_pre"]; var scale = full["blocks.2.ln1.hook_scale"];
        int d = m.Config.DModel, T = ids.Length;
        for (int bt = 0; bt < 2 * T; bt++)
            for (int i = 0; i < d; i++)
            {
                double sum = 0;
                for (int k = 0; k < withRest.Count; k++) sum += withRest.Stack.Data[(k * 2 * T + bt) * d + i];
                Assert.True(Math.Abs(resid.Data[bt * d + i] / scale.Data[bt] - sum) < 1e-4, $"row {bt} [{i}]");
            }
    }

    [Fact]
    public void DecomposeResid_AtALayer_SumsToItsResidPre_AndApplyLnUsesThatLayersScale()
    {
        var reference = Fixtures.Json("tiny-llama", "reference_experiments.json");
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-llama"));
        var ids = reference["tokens"]!["clean"]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        var (_, cache) = m.RunWithCache([ids]);
        int d = m.Config.DModel, pos = 5;
        foreach (bool mlpInput in new[] { false, true })
        {
            var parts = cache.DecomposeResid(1, mlpInput: mlpInput, applyLn: true, pos: pos);
            Assert.Equal(mlpInput ? 4 : 3, parts.Count);
            var target = cache[mlpInput ? "blocks.1.hook_resid_mid" : "blocks.1.hook_resid_pre"];
            float scale = cache[mlpInput ? "blocks.1.ln2.hook_scale" : "blocks.1.ln1.hook_scale"].Data[pos];
            for (int i = 0; i < d; i++)
            {
                double sum = Enumerable.Range(0, parts.Count).Sum(k => (double)parts.Stack.Data[k * d + i]);
                Assert.True(Math.Abs(target.Data[pos * d + i] / scale - sum) < 1e-4);
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.DecomposeResid(m.Config.NLayers + 1));
        var partial = m.RunWithCache([ids], "hook_embed").Cache;
        Assert.Contains("was not cached", Assert.Throws<KeyNotFoundException>(() => partial.DecomposeResid()).Message);
    }

    [Fact]
    public void LayerNormStackNorm_CentresThenDivides()
    {
        var norm = new StackNorms.Layer(1e-5);
        float[] x = [1, 2, 3, 6];
        float mean = 3, scale = (float)Math.Sqrt((4 + 1 + 0 + 9) / 4.0 + 1e-5);
        Assert.Equal(scale, norm.Scale(x), 5);
        norm.Apply(x, 2);
        Assert.Equal([(1 - mean) / 2, (2 - mean) / 2, 0, (6 - mean) / 2], x);
        var rms = new StackNorms.Rms(1e-6);
        float[] y = [3, 4];
        Assert.Equal(Math.Sqrt(12.5 + 1e-6), rms.Scale(y), 5);
        rms.Apply(y, 2);
        Assert.Equal([1.5f, 2f], y);
    }
}
