using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>Gradient checkpointing (<see cref="HookedTransformer.GradientActivationBytes"/>): a backward that recomputes
/// its blocks' activations segment by segment gives the same hook and weight gradients as one that keeps them all, and
/// keeps only the segments' starting residual streams from its forward.</summary>
public class GradientCheckpointTests
{
    static (Dictionary<string, float[]> Hooks, Dictionary<string, float[]> Weights, double Metric, HashSet<string> Kept) Run(
        HookedTransformer m, int[] ids, int a, int b, HookSet? hooks)
    {
        using var r = m.Backward(ids, Metrics.LogitDiff(a, b), weights: true, hooks: hooks);
        return (r.HookGrads.ToDictionary(kv => kv.Key, kv => (float[])kv.Value.Data.Clone()),
            r.Weights!.ByCheckpointName(m.Config).ToDictionary(kv => kv.Key, kv => (float[])kv.Value.Data.Clone()),
            r.Metric, r.Activations.Names.ToHashSet());
    }

    static void AssertSame(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
        {
            var x = actual[name];
            double scale = Math.Max(1e-30, e.Max(v => Math.Abs((double)v)));
            for (int i = 0; i < e.Length; i++)
                Assert.True(Math.Abs(e[i] - x[i]) <= 1e-6 * scale, $"{what} {name}[{i}]: {e[i]} kept, {x[i]} recomputed");
        }
    }

    [Theory]
    [InlineData("setcomp-demo", 1)]
    [InlineData("setcomp-demo", 3)]          // segments [3, 4) and [0, 3): one that does not divide the layers
    [InlineData("tiny-gpt2", 1)]             // learned positions: the first segment re-embeds
    [InlineData("tiny-gpt-neox", 1)]         // parallel residual
    [InlineData("tiny-gemma2", 1)]           // post-norms, soft-caps
    [InlineData("tiny-qwen3", 2)]            // q/k norms
    public void RecomputedSegmentsGiveTheKeptActivationsGradients(string fixture, int blocksPerSegment)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
        int a = m.ToSingleToken(FiniteDifferenceGradTests.Prompt, " Mango"), b = m.ToSingleToken(FiniteDifferenceGradTests.Prompt, " Orange");
        // Hooks that change the run, as EAP-IG's does: they must act once per value, recomputed or not.
        HookSet Hooks() => new HookSet()
            .Add(HookNames.Embed, ctx => { for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] *= 0.9f; })
            .Add(m.HookNames.Layers[1].ResidPre, ctx => { for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] += 0.01f; });
        var kept = Run(m, ids, a, b, Hooks());
        Assert.Contains(m.HookNames.Layers[0].Pattern, kept.Kept);

        long perBlock = BackwardPass.SavedFloatsPerBlock(m.Config, ids.Length) * sizeof(float);
        m.GradientActivationBytes = blocksPerSegment * perBlock;
        Assert.Equal(Math.Min(blocksPerSegment, m.Config.NLayers), m.BackwardSegment(ids.Length));
        var recomputed = Run(m, ids, a, b, Hooks());
        Assert.Equal(kept.Metric, recomputed.Metric);
        AssertSame(kept.Hooks, recomputed.Hooks, fixture);
        AssertSame(kept.Weights, recomputed.Weights, fixture);
        // The forward kept the top segment's activations (not recomputed) and, below it, only where segments start.
        int top = (m.Config.NLayers - 1) / blocksPerSegment * blocksPerSegment;
        Assert.Contains(m.HookNames.Layers[^1].MlpPost, recomputed.Kept);
        Assert.Contains(m.HookNames.Layers[top].Pattern, recomputed.Kept);
        Assert.DoesNotContain(m.HookNames.Layers[top - 1].Pattern, recomputed.Kept);
        Assert.DoesNotContain(m.HookNames.Layers[0].MlpPost, recomputed.Kept);
        if (top > blocksPerSegment) Assert.Contains(m.HookNames.Layers[blocksPerSegment - 1].ResidPost, recomputed.Kept);
    }

    [Fact]
    public void RunWithCacheIncludingBackwardGivesTheSameCacheWhenRecomputing()
    {
        using var m = HookedTransformer.Load(Fixtures.DemoModelDir);
        var ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
        var metric = Metrics.LogitDiff(ids[1], ids[2]);
        Func<string, bool> filter = n => n.EndsWith("hook_resid_pre") || n.EndsWith("hook_pattern");
        var (_, kept) = m.RunWithCache(ids, metric, includeBackward: true, filter);
        m.GradientActivationBytes = 1;
        var (_, recomputed) = m.RunWithCache(ids, metric, includeBackward: true, filter);
        Assert.Equal(kept.Names.Order(), recomputed.Names.Order());
        Assert.Equal(2 * 2 * m.Config.NLayers, kept.Names.Count());    // activations and gradients of both hooks, every block
        foreach (var name in kept.Names)
        {
            var (e, x) = (kept[name].Data, recomputed[name].Data);
            double scale = Math.Max(1e-30, e.Max(v => Math.Abs((double)v)));
            for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - x[i]) <= 1e-6 * scale, $"{name}[{i}]");
        }
    }

    [Fact]
    public void LongPromptsAreSegmentedByTheDefaultBudget()
    {
        using var m = HookedTransformer.Load(Fixtures.DemoModelDir);
        Assert.Equal(m.Config.NLayers, m.BackwardSegment(25));
        long perBlock25 = BackwardPass.SavedFloatsPerBlock(m.Config, 25) * sizeof(float);
        Assert.True(perBlock25 * m.Config.NLayers < m.GradientActivationBytes);
        // A prompt whose blocks would hold more than the budget: fewer blocks per segment, never none.
        int T = 4096;
        long perBlock = BackwardPass.SavedFloatsPerBlock(m.Config, T) * sizeof(float);
        Assert.True(perBlock * m.Config.NLayers > m.GradientActivationBytes);
        Assert.Equal((int)Math.Max(1, m.GradientActivationBytes / perBlock), m.BackwardSegment(T));
        Assert.True(m.BackwardSegment(T) < m.Config.NLayers);
        m.GradientActivationBytes = 0;
        Assert.Equal(1, m.BackwardSegment(25));
    }
}
