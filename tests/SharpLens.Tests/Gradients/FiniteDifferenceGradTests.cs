using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>Hook gradients by finite differences where there is no autograd reference (GPT-2: LayerNorm, learned
/// positions, a plain GELU MLP; GPT-NeoX: parallel residual, interleaved q/k/v, partial rotary; Phi-3: fused projections,
/// partial rotary; Mistral: a sliding window shorter than the prompt): the directional derivative along a random
/// direction, measured by perturbing the hook through a forward hook, against Σ grad ⊙ direction.</summary>
public class FiniteDifferenceGradTests
{
    internal const string Prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";

    /// <summary>f′(0) by the five-point central difference (8(f(ε) − f(−ε)) − (f(2ε) − f(−2ε))) / 12ε, in double: its
    /// error is O(ε⁴), so curvature (a softmax downstream of a perturbed pattern) does not pass for a wrong gradient.</summary>
    internal static double CentralDifference(Func<float, double> f, float eps) =>
        (8.0 * (f(eps) - f(-eps)) - (f(2 * eps) - f(-2 * eps))) / (12.0 * eps);

    /// <summary>A finite difference against the gradient's value: within 2 % of the larger of |gradient| and
    /// <paramref name="scale"/> (fp32 rounding of the forward, divided by 2ε).</summary>
    internal static void AssertClose(double numeric, double analytic, double scale, string what) =>
        Assert.True(Math.Abs(numeric - analytic) <= 2e-2 * Math.Max(scale, Math.Abs(analytic)),
            $"{what}: finite difference {numeric:g6}, gradient {analytic:g6}");

    static double LogitDiff(HookedTransformer m, int[] ids, int a, int b, string hook, float[] dir, float eps)
    {
        var hooks = new HookSet().Add(hook, (HookFn)(ctx =>
        {
            for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] += eps * dir[i];
        }));
        var logits = m.RunWithHooks([ids], hooks);
        int T = logits.Shape[1], V = logits.Shape[2];
        return logits.Data[(T - 1) * V + a] - logits.Data[(T - 1) * V + b];
    }

    [Theory]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt2-gelu")]
    [InlineData("tiny-gpt2-variant")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-llama")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("tiny-gpt-neox-v5")]
    [InlineData("tiny-phi3")]
    [InlineData("tiny-phi3-variant")]
    [InlineData("tiny-mistral")]
    [InlineData("tiny-mistral-window")]
    [InlineData("tiny-qwen3")]               // per-head q/k norms before rotary, tied embeddings
    [InlineData("tiny-qwen3-small-head")]    // head_dim < d/H, untied head
    [InlineData("tiny-gemma2")]              // post-norms, (1 + w), sqrt(d) embedding, GeGLU, both soft-caps
    [InlineData("tiny-gemma2-variant")]      // sliding window of 6 on alternate layers, no final cap
    public void DirectionalDerivativesMatchFiniteDifferences(string fixture) => CheckHookGradients(Fixtures.Dir(fixture), fixture);

    /// <summary>The directional derivative of the logit difference along a random direction at each of a set of hooks of
    /// layers 0 and L−1 (with the hooks the design adds: q/k norms, post-norms), measured by finite differences.</summary>
    internal static void CheckHookGradients(string modelDir, string fixture)
    {
        using var m = HookedTransformer.Load(modelDir);
        var ids = m.ToTokens(Prompt);
        int a = m.ToSingleToken(Prompt, " Mango"), b = m.ToSingleToken(Prompt, " Orange"), L = m.Config.NLayers;
        var g = m.Backward(ids, Metrics.LogitDiff(a, b));
        var names = new List<string> { HookNames.Embed, HookNames.LnFinalScale, HookNames.LnFinalNormalized, $"blocks.{L - 1}.hook_resid_post" };
        if (m.Config.Design.Positions == Loading.PositionKind.LearnedAbsolute) names.Add(HookNames.PosEmbed);
        foreach (int l in new[] { 0, L - 1 })
        {
            var n = m.HookNames.Layers[l];
            names.AddRange([n.ResidPre, n.Ln1Scale, n.Ln1Normalized, n.Q, n.K, n.V, n.Scores, n.Pattern, n.Z, n.Result, n.AttnOut,
                n.Ln2Scale, n.Ln2Normalized, n.MlpPre, n.MlpPost, n.MlpOut]);
            var design = m.Config.Design;
            if (design.Residual == Loading.ResidualKind.Sequential) names.Add(n.ResidMid);
            if (design.Positions == Loading.PositionKind.Rotary) names.AddRange([n.RotQ, n.RotK]);
            if (design.Mlp == Loading.MlpKind.Gated) names.Add(n.MlpPreLinear);
            if (design.QkNorm) names.AddRange([n.QNormScale, n.QNormNormalized, n.KNormScale, n.KNormNormalized]);
            if (design.PostNorms) names.AddRange([n.Ln1PostScale, n.Ln1PostNormalized, n.Ln2PostScale, n.Ln2PostNormalized]);
        }
        // A parallel block has no hook_resid_mid (TransformerLens' parallel_attn_mlp), so no gradient is made up for one.
        Assert.Equal(m.Config.Design.Residual == Loading.ResidualKind.Sequential, g.HookGrads.ContainsKey(m.HookNames.Layers[0].ResidMid));
        var rng = new Random(5);
        foreach (var name in names)
        {
            Assert.True(g.HookGrads.ContainsKey(name), $"no gradient for {name}");
            var grad = g.HookGrads[name].Data;
            var dir = grad.Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            if (name.EndsWith("hook_attn_scores"))   // only the unmasked scores are read (masked ones are −∞)
            {
                var acts = m.RunWithCache([ids], name).Cache[name].Data;
                for (int i = 0; i < dir.Length; i++) if (float.IsNegativeInfinity(acts[i])) dir[i] = 0;
            }
            double analytic = grad.Zip(dir, (x, y) => (double)x * y).Sum();
            double numeric = CentralDifference(eps => LogitDiff(m, ids, a, b, name, dir, eps), 3e-3f);
            AssertClose(numeric, analytic, 1, $"{fixture} {name}");
        }
    }

    [Fact]
    public void RunWithCacheIncludeBackward_AddsGradEntriesBesideTheActivations()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        var ids = m.ToTokens(Prompt);
        int a = m.ToSingleToken(" Mango"), b = m.ToSingleToken(" Orange");
        var (logits, cache) = m.RunWithCache(ids, Metrics.LogitDiff(a, b), includeBackward: true, name => name.EndsWith("hook_resid_pre"));
        Assert.Equal(m.Run([ids]).Data, logits.Data);
        for (int l = 0; l < m.Config.NLayers; l++)
        {
            string n = $"blocks.{l}.hook_resid_pre";
            Assert.Equal(cache[n].Shape, cache[n + "_grad"].Shape);
            Assert.Contains(cache[n + "_grad"].Data, v => v != 0);
        }
        Assert.False(cache.Contains("blocks.0.hook_mlp_out_grad"));
        Assert.False(cache.Contains("blocks.0.hook_mlp_out"));
        // Gradients of the residual stream after the final block's attention equal the attention output's: one point.
        var full = m.Backward(ids, Metrics.LogitDiff(a, b));
        Assert.Equal(full.HookGrads["blocks.1.hook_resid_mid"].Data, full.HookGrads["blocks.1.hook_attn_out"].Data);
        Assert.Equal(full.HookGrads["blocks.0.hook_resid_pre"].Data, cache["blocks.0.hook_resid_pre_grad"].Data);
    }
}
