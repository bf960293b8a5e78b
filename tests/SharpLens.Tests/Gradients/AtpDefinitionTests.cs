using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>
/// Every atp_* key (q/k/v/pattern have no reference file) against EXPERIMENTS.md's definition computed another way: the
/// directional derivative of the corrupted logit difference along (clean − corrupted) on the node's entries, by central
/// finite differences through forward hooks; AtP*'s QK fix against the pattern of a hooked run with the patched q/k; and
/// GradDrop against finite differences with one layer's attention and MLP outputs held at their corrupted values.
/// </summary>
public class AtpDefinitionTests
{
    const float Eps = 1e-2f;

    sealed record Case(HookedTransformer M, int[] Clean, int[] Corrupted, int Answer, int Wrong, ActivationCache CleanCache, ActivationCache CorruptedCache);

    static Case Load(string fixture)
    {
        var exp = Fixtures.Json(fixture, "reference_experiments.json");
        var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        int[] Ids(string k) => exp["tokens"]![k]!.AsArray().Select(t => (int)t!).ToArray();
        var (clean, corrupted) = (Ids("clean"), Ids("corrupted"));
        return new Case(m, clean, corrupted, (int)exp["answer_tokens"]!["clean"]!, (int)exp["answer_tokens"]!["corrupted"]!,
            m.RunWithCache([clean]).Cache, m.RunWithCache([corrupted]).Cache);
    }

    static double LogitDiff(Case c, HookSet hooks)
    {
        var logits = c.M.RunWithHooks([c.Corrupted], hooks);
        int T = logits.Shape[1], V = logits.Shape[2];
        return (double)logits.Data[(T - 1) * V + c.Answer] - logits.Data[(T - 1) * V + c.Wrong];
    }

    /// <summary>One node: a hook and the indices of its [1, …] data that the exact patch changes.</summary>
    sealed record Node(string Key, int Layer, int Index, string Hook, int[] Entries);

    static IEnumerable<Node> Nodes(HookedTransformer m, int T)
    {
        var c = m.Config; int H = c.NHeads, G = c.NKvHeads, e = c.DHead, d = c.DModel;
        int[] Heads(int h, int n) => Enumerable.Range(0, T).SelectMany(p => Enumerable.Range((p * n + h) * e, e)).ToArray();
        for (int l = 0; l < c.NLayers; l++)
        {
            var n = m.HookNames.Layers[l];
            for (int p = 0; p < T; p++) yield return new("atp_resid_pre_recovery", l, p, n.ResidPre, Enumerable.Range(p * d, d).ToArray());
            yield return new("atp_attn_out_all_recovery", l, 0, n.AttnOut, Enumerable.Range(0, T * d).ToArray());
            yield return new("atp_mlp_out_all_recovery", l, 0, n.MlpOut, Enumerable.Range(0, T * d).ToArray());
            for (int h = 0; h < H; h++) yield return new("atp_head_z_all_recovery", l, h, n.Z, Heads(h, H));
            for (int h = 0; h < H; h++) yield return new("atp_head_q_all_recovery", l, h, n.Q, Heads(h, H));
            for (int g = 0; g < G; g++) yield return new("atp_head_k_all_recovery", l, g, n.K, Heads(g, G));
            for (int g = 0; g < G; g++) yield return new("atp_head_v_all_recovery", l, g, n.V, Heads(g, G));
            for (int h = 0; h < H; h++) yield return new("atp_head_pattern_all_recovery", l, h, n.Pattern, Enumerable.Range(h * T * T, T * T).ToArray());
        }
    }

    /// <summary>d/dε of the corrupted logit diff with the node moved ε of the way to its clean value (layer
    /// <paramref name="frozen"/>'s attention and MLP outputs held at their corrupted values), over the gap.</summary>
    static double FiniteDifference(Case c, Node node, double gap, int frozen = -1)
    {
        var clean = c.CleanCache[node.Hook].Data; var corr = c.CorruptedCache[node.Hook].Data;
        var freeze = frozen < 0 ? [] : new[] { c.M.HookNames.Layers[frozen].AttnOut, c.M.HookNames.Layers[frozen].MlpOut };
        double At(float eps)
        {
            var hooks = new HookSet();
            foreach (var name in freeze.Append(node.Hook).Distinct())
                hooks.Add(name, (HookFn)(ctx =>
                {
                    if (name == node.Hook) foreach (int i in node.Entries) ctx.Data[i] += eps * (clean[i] - corr[i]);
                    if (freeze.Contains(name)) c.CorruptedCache[name].Data.CopyTo(ctx.Data);
                }));
            return LogitDiff(c, hooks);
        }
        return (At(Eps) - At(-Eps)) / (2 * Eps) / gap;
    }

    static double Value(AtpResult r, Node n) => r.Grid(n.Key)[n.Layer][n.Index];

    static void Close(double expected, double actual, double scale, string where) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-3 * scale + 1e-2 * Math.Abs(expected),
            $"{where}: definition {expected:g6}, AtP {actual:g6} (scale {scale:g3})");

    static double Scale(AtpResult r) => AtpResult.Keys.SelectMany(k => r.Grid(k.Atp)).SelectMany(x => x).Max(Math.Abs) + 1e-3;

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("tiny-qwen3")]
    [InlineData("tiny-gemma2")]
    public void PlainAtp_EveryKey_IsTheDirectionalDerivativeAlongTheCleanActivation(string fixture)
    {
        var c = Load(fixture);
        using var _ = c.M;
        var r = AttributionPatching.Run(c.M, c.Clean, c.Corrupted, c.Answer, c.Wrong);
        double gap = r.CleanLogitDiff - r.CorruptedLogitDiff, scale = Scale(r);
        Assert.True(r.HeadKAllRecovery[0].Length == c.M.Config.NKvHeads && r.HeadQAllRecovery[0].Length == c.M.Config.NHeads);
        foreach (var n in Nodes(c.M, c.Clean.Length))
            Close(FiniteDifference(c, n, gap), Value(r, n), scale, $"{fixture} {n.Key} L{n.Layer} #{n.Index}");
    }

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-qwen3")]             // hook_q before the q norm
    [InlineData("tiny-gemma2-variant")]    // capped scores, a sliding window on alternate layers
    public void QkFix_QueryAndKeyEstimates_UseThePatternOfAHookedRunWithThePatchedInput(string fixture)
    {
        var c = Load(fixture);
        using var _ = c.M;
        var plain = AttributionPatching.Run(c.M, c.Clean, c.Corrupted, c.Answer, c.Wrong);
        var fixedQk = AttributionPatching.Run(c.M, c.Clean, c.Corrupted, c.Answer, c.Wrong, new AtpOptions { QkFix = true });
        var grads = c.M.Backward(c.Corrupted, Metrics.LogitDiff(c.Answer, c.Wrong)).HookGrads;
        double gap = plain.CleanLogitDiff - plain.CorruptedLogitDiff, scale = Scale(plain);
        int T = c.Clean.Length, H = c.M.Config.NHeads, group = H / c.M.Config.NKvHeads;
        double largestChange = 0;
        foreach (var n in Nodes(c.M, T))
        {
            if (n.Key is not ("atp_head_q_all_recovery" or "atp_head_k_all_recovery"))
            {
                Assert.Equal(Value(plain, n), Value(fixedQk, n));   // everything else stays plain AtP
                continue;
            }
            // the pattern of layer n.Layer in a corrupted run whose q (or k) head takes its clean value at every position
            var clean = c.CleanCache[n.Hook].Data;
            var hooks = new HookSet().Add(n.Hook, (HookFn)(ctx => { foreach (int i in n.Entries) ctx.Data[i] = clean[i]; }));
            string patternHook = c.M.HookNames.Layers[n.Layer].Pattern;
            var patched = c.M.Forward([c.Corrupted], new RunOptions { Hooks = hooks, CacheFilter = x => x == patternHook }).Cache[patternHook].Data;
            var corr = c.CorruptedCache[patternHook].Data; var g = grads[patternHook].Data;
            var heads = n.Key == "atp_head_q_all_recovery" ? [n.Index] : Enumerable.Range(n.Index * group, group).ToArray();
            double expected = heads.Sum(h => Enumerable.Range(h * T * T, T * T).Sum(i => (double)g[i] * (patched[i] - corr[i]))) / gap;
            Close(expected, Value(fixedQk, n), scale, $"{fixture} QK fix {n.Key} L{n.Layer} #{n.Index}");
            largestChange = Math.Max(largestChange, Math.Abs(Value(fixedQk, n) - Value(plain, n)));
        }
        Assert.True(largestChange > 1e-2 * scale, $"the QK fix changed no q/k estimate measurably ({largestChange:g3})");
    }

    [Fact]
    public void GradDrop_IsTheMeanAbsoluteEstimateWithEachLayersContributionHeldFixed()
    {
        var c = Load("tiny-qwen2");
        using var _ = c.M;
        var r = AttributionPatching.Run(c.M, c.Clean, c.Corrupted, c.Answer, c.Wrong, new AtpOptions { GradDrop = true });
        Assert.True(r.Options.GradDrop);
        double gap = r.CleanLogitDiff - r.CorruptedLogitDiff, scale = Scale(r);
        int L = c.M.Config.NLayers;
        var plain = AttributionPatching.Run(c.M, c.Clean, c.Corrupted, c.Answer, c.Wrong);
        double largestChange = 0;
        foreach (var n in Nodes(c.M, c.Clean.Length))
        {
            double expected = Enumerable.Range(0, L).Sum(drop => Math.Abs(FiniteDifference(c, n, gap, drop))) / (L - 1);
            Close(expected, Value(r, n), scale, $"GradDrop {n.Key} L{n.Layer} #{n.Index}");
            Assert.True(Value(r, n) >= 0, "GradDrop estimates are magnitudes");
            largestChange = Math.Max(largestChange, Math.Abs(Value(r, n) - Math.Abs(Value(plain, n))));
        }
        Assert.True(largestChange > 1e-2 * scale, $"GradDrop changed no estimate measurably ({largestChange:g3})");
    }
}
