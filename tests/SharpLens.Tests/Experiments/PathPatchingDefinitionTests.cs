using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>
/// Path patching by its definition, against a slow computation of our own with plain full forwards and hooks (no sweep,
/// no start layer, no KV prefix): the direct-path variant (no reference file exists for it) and several senders patched
/// together (the references hold one sender).
/// </summary>
public class PathPatchingDefinitionTests
{
    const double Tolerance = 2e-4;

    sealed class Slow(HookedTransformer model, StudyTokens tokens)
    {
        readonly int T = tokens.Length, last = tokens.Last;
        public double Clean => Ld(Full(tokens.Clean, new HookSet()));
        public double Corrupted => Ld(Full(tokens.Corrupted, new HookSet()));
        double Recovery(double x) => (x - Corrupted) / (Clean - Corrupted);
        double Ld(Tensor logits) => (double)logits[0, last, tokens.Answer] - logits[0, last, tokens.Wrong];
        Tensor Full(int[] ids, HookSet hooks) => model.RunWithHooks([ids], hooks);
        ActivationCache Cache(int[] ids, HookSet hooks, params string[] names) =>
            model.Forward([ids], new RunOptions { Hooks = hooks, CacheFilter = names.Contains }).Cache;

        /// <summary>Recovery of a corrupted run whose <paramref name="hook"/> slice of head <paramref name="head"/> is <paramref name="value"/> ([T, heads, e]).</summary>
        public double PatchHead(string hook, int head, float[] value) => Recovery(Ld(Full(tokens.Corrupted, new HookSet().Add(hook, ctx =>
        {
            int nh = ctx.Shape[1], e = ctx.Shape[2];
            for (int p = 0; p < T; p++) value.AsSpan((p * nh + head) * e, e).CopyTo(ctx.Data.Slice((p * nh + head) * e, e));
        }))));

        /// <summary>The direct path: the senders' clean − corrupted hook_result added to layer l's hook_resid_pre; that
        /// run's hook_q/k/v of layer l (computed from the new residual) is what the receiver gets.</summary>
        public float[] DirectInput(IReadOnlyList<(int Layer, int Head)> senders, int layer, string act)
        {
            int d = model.Config.DModel;
            var delta = new float[T * d];
            foreach (var (sl, sh) in senders.Where(s => s.Layer < layer))
            {
                string result = $"blocks.{sl}.attn.hook_result";
                var c = Cache(tokens.Clean, new HookSet(), result)[result].Data;
                var k = Cache(tokens.Corrupted, new HookSet(), result)[result].Data;
                int H = model.Config.NHeads;
                for (int p = 0; p < T; p++)
                    for (int i = 0; i < d; i++) delta[p * d + i] += c[(p * H + sh) * d + i] - k[(p * H + sh) * d + i];
            }
            string name = $"blocks.{layer}.attn.hook_{act}";
            var add = new HookSet().Add($"blocks.{layer}.hook_resid_pre", ctx => { for (int i = 0; i < ctx.Data.Length; i++) ctx.Data[i] += delta[i]; });
            return Cache(tokens.Corrupted, add, name)[name].Data;
        }

        /// <summary>Stage 1 of exact path patching: every head's z frozen to the corrupted run's, the senders' clean.</summary>
        public (double Recovery, ActivationCache Cache) Stage1(IReadOnlyList<(int Layer, int Head)> senders)
        {
            var names = Enumerable.Range(0, model.Config.NLayers).Select(l => $"blocks.{l}.attn.hook_z").ToArray();
            var clean = Cache(tokens.Clean, new HookSet(), names);
            var corrupted = Cache(tokens.Corrupted, new HookSet(), names);
            var hooks = new HookSet();
            for (int l = 0; l < names.Length; l++)
            {
                int layer = l;
                hooks.Add(names[l], ctx =>
                {
                    corrupted[names[layer]].Data.CopyTo(ctx.Data);
                    int H = ctx.Shape[1], e = ctx.Shape[2];
                    foreach (var (_, h) in senders.Where(s => s.Layer == layer))
                        for (int p = 0; p < T; p++) clean[names[layer]].Data.AsSpan((p * H + h) * e, e).CopyTo(ctx.Data.Slice((p * H + h) * e, e));
                });
            }
            var all = Enumerable.Range(0, model.Config.NLayers).SelectMany(l => new[] { $"blocks.{l}.attn.hook_q", $"blocks.{l}.attn.hook_k", $"blocks.{l}.attn.hook_v" }).ToArray();
            var r = model.Forward([tokens.Corrupted], new RunOptions { Hooks = hooks, CacheFilter = all.Contains });
            return (Recovery(Ld(r.Logits!)), r.Cache);
        }
    }

    static (HookedTransformer Model, StudyTokens Tokens) Load(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        return (HookedTransformer.Load(Fixtures.Dir(fixture)), ReferenceExperimentTests.TokensOf(reference));
    }

    static void Near(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance + 1e-4 * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");

    [Theory]
    [InlineData("tiny-qwen2", 0, 2)]     // grouped-query attention: k and v per key/value head
    [InlineData("setcomp-demo", 1, 0)]
    public void DirectPathIsTheSendersResultAddedToTheReceiversInputOnly(string fixture, int senderLayer, int senderHead)
    {
        var (model, tokens) = Load(fixture);
        using var _ = model;
        var c = model.Config;
        (int, int)[] senders = [(senderLayer, senderHead)];
        var result = new PathPatching(new StudyRuns(model, tokens)).Run(senders);
        var slow = new Slow(model, tokens);
        foreach (var (act, grid, n) in new[] { ("q", result.DirectToQ!, c.NHeads), ("k", result.DirectToK!, c.NKvHeads), ("v", result.DirectToV!, c.NKvHeads) })
            for (int l = 0; l < c.NLayers; l++)
            {
                if (l <= senderLayer)
                {
                    Assert.All(grid[l], v => Assert.Equal(0, v));
                    continue;
                }
                var input = slow.DirectInput(senders, l, act);
                for (int h = 0; h < n; h++)
                    Near(slow.PatchHead($"blocks.{l}.attn.hook_{act}", h, input), grid[l][h], $"{fixture} direct {act} L{l}H{h}");
            }
        // The direct path skips the MLPs in between: it is not the exact path (else the variant would tell nothing).
        Assert.Contains(Enumerable.Range(senderLayer + 1, c.NLayers - senderLayer - 1),
            l => Enumerable.Range(0, c.NHeads).Any(h => Math.Abs(result.DirectToQ![l][h] - result.ToQ[l][h]) > 1e-3));
    }

    [Fact]
    public void SeveralSendersArePatchedTogether()
    {
        var (model, tokens) = Load("tiny-qwen2");
        using var _ = model;
        var c = model.Config;
        (int, int)[] senders = [(0, 2), (1, 1)];
        var result = new PathPatching(new StudyRuns(model, tokens)).Run(senders);
        var slow = new Slow(model, tokens);
        var (stage1, cache) = slow.Stage1(senders);
        Near(stage1, result.ToResidFinal, "path_patch_to_resid_final_recovery");
        for (int l = 1; l < c.NLayers; l++)
        {
            for (int h = 0; h < c.NHeads; h++)
                Near(slow.PatchHead($"blocks.{l}.attn.hook_q", h, cache[$"blocks.{l}.attn.hook_q"].Data), result.ToQ[l][h], $"q L{l}H{h}");
            for (int g = 0; g < c.NKvHeads; g++)
                Near(slow.PatchHead($"blocks.{l}.attn.hook_v", g, cache[$"blocks.{l}.attn.hook_v"].Data), result.ToV[l][g], $"v L{l}G{g}");
            // the direct path into layer 2 and 3 carries both senders' results; into layer 1 only layer 0's
            var input = slow.DirectInput(senders, l, "k");
            for (int g = 0; g < c.NKvHeads; g++)
                Near(slow.PatchHead($"blocks.{l}.attn.hook_k", g, input), result.DirectToK![l][g], $"direct k L{l}G{g}");
        }
        Assert.All(result.ToQ[0], v => Assert.Equal(0, v));
        // Two senders are not one: the joint stage 1 differs from either alone.
        var single = new PathPatching(new StudyRuns(model, tokens)).Run([(0, 2)], direct: false);
        Assert.True(Math.Abs(single.ToResidFinal - result.ToResidFinal) > 1e-3);
    }

    [Fact]
    public void SendersOutOfRangeAreUsageErrors()
    {
        var (model, tokens) = Load("tiny-llama");
        using var _ = model;
        var p = new PathPatching(new StudyRuns(model, tokens));
        var e = Assert.Throws<SharpLensException>(() => p.Run([(3, 0)]));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains("layers 0–2", e.Message);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => p.Run([(1, 0), (1, 0)])).Code);
    }
}
