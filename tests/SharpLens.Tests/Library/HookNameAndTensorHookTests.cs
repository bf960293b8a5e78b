using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>Unknown hook names fail everywhere with the closest names; tensor hooks; Intervention setters in RunWithHooks.</summary>
public class HookNameAndTensorHookTests : IDisposable
{
    readonly HookedTransformer _model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
    readonly StudyTokens _tokens = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-qwen2", "reference_experiments.json"));

    public void Dispose() => _model.Dispose();

    [Fact]
    public void RunWithHooks_UnknownName_FailsNamingTheClosestBeforeAnyHookRuns()
    {
        int fired = 0;
        var hooks = new HookSet().Add("blocks.0.hook_resid_pre", _ => fired++).Add("blocks.1.attn.hook_zz", _ => fired++);
        var e = Assert.Throws<UnknownHookException>(() => _model.RunWithHooks([_tokens.Clean], hooks));
        Assert.Equal(0, fired);
        Assert.Equal("blocks.1.attn.hook_zz", e.Name);
        Assert.Equal("blocks.1.attn.hook_z", e.Closest[0]);
        Assert.Contains("blocks.1.attn.hook_z", e.Message);
        Assert.Equal(ExitCode.Usage, e.Code);
    }

    [Fact]
    public void RunWithCache_ByName_ChecksEveryName()
    {
        var (_, cache) = _model.RunWithCache([_tokens.Clean], "blocks.2.hook_resid_post", "hook_embed");
        Assert.Equal(["blocks.2.hook_resid_post", "hook_embed"], cache.Names.Order());
        var e = Assert.Throws<UnknownHookException>(() => _model.RunWithCache([_tokens.Clean], "blocks.2.hook_resid_pots"));
        Assert.Equal("blocks.2.hook_resid_post", e.Closest[0]);
        e = Assert.Throws<UnknownHookException>(() => _model.RunWithCache([_tokens.Clean], "blocks.9.hook_resid_pre"));  // no layer 9
        Assert.Contains("blocks.", e.Closest[0]);
        Assert.Equal("hook_embed", Assert.Throws<UnknownHookException>(() => _model.RunWithCache([_tokens.Clean], "hook_embeds")).Closest[0]);
    }

    [Fact]
    public void PatchSweep_MisspeltIntervention_FailsWithTheClosestNames()
    {
        var runs = new StudyRuns(_model, _tokens);
        var sweep = runs.SweepOn(clean: false, default);
        var e = Assert.Throws<UnknownHookException>(() => sweep.Run([[Intervention.ZeroAll("blocks.1.hook_mlp_outt")]], StudyRuns.PairLogitDiff));
        Assert.Equal("blocks.1.hook_mlp_out", e.Closest[0]);
    }

    [Fact]
    public void Closest_IsByEditDistance()
    {
        Assert.Equal(0, HookNameCheck.EditDistance("abc", "abc"));
        Assert.Equal(1, HookNameCheck.EditDistance("abc", "abd"));
        Assert.Equal(2, HookNameCheck.EditDistance("ab", "ba"));
        Assert.Equal(3, HookNameCheck.EditDistance("", "abc"));
        Assert.Equal(["blocks.0.ln1.hook_scale", "blocks.0.ln2.hook_scale"], _model.HookNames.Closest("blocks.0.ln.hook_scale", 2));
        Assert.Empty(_model.HookNames.Closest("completely unrelated words here"));
    }

    [Fact]
    public void TensorHook_SeesTheWholeBatchOnceAndWritesOneHeadSliceInOneLine()
    {
        var c = _model.Config; int T = _tokens.Length;
        var (_, clean) = _model.RunWithCache([_tokens.Clean], "blocks.1.attn.hook_z");
        var z = clean["blocks.1.attn.hook_z"];
        int[] positions = [3, T - 1];
        int head = 2, calls = 0;
        var hooks = new HookSet().Add("blocks.1.attn.hook_z", (act, hook) =>
        {
            calls++;
            Assert.Equal([2, T, c.NHeads, c.DHead], act.Shape);
            Assert.Equal(1, hook.Layer);
            act.View(.., positions, head, ..).Set(z.View(0, positions, head, ..));   // the one line
        });
        var hooked = _model.RunWithHooks([_tokens.Corrupted, _tokens.Corrupted], hooks);
        Assert.Equal(1, calls);
        // the same patch written by hand with stride arithmetic, per item
        var byHand = new HookSet().Add("blocks.1.attn.hook_z", ctx =>
        {
            foreach (int p in positions)
                z.Data.AsSpan((p * c.NHeads + head) * c.DHead, c.DHead).CopyTo(ctx.Data.Slice((p * c.NHeads + head) * c.DHead, c.DHead));
        });
        var expected = _model.RunWithHooks([_tokens.Corrupted], byHand);
        NumericAssert.Close(expected.Data, hooked.Slice(0));
        NumericAssert.Close(expected.Data, hooked.Slice(1));
        Assert.NotEqual(_model.Run([_tokens.Corrupted]).Data[^1], expected.Data[^1]);
    }

    [Fact]
    public void InterventionSetters_InRunWithHooks_EqualTheSweep()
    {
        var runs = new StudyRuns(_model, _tokens);
        var z = runs.Clean["blocks.2.attn.hook_z"].Data;
        IReadOnlyList<Intervention>[] items =
        [
            [Intervention.PatchHeads("blocks.2.attn.hook_z", z, [1], [_tokens.Length - 1])],
            [Intervention.ZeroAll("blocks.0.hook_mlp_out"), Intervention.Patch("blocks.3.hook_resid_pre", runs.Clean["blocks.3.hook_resid_pre"].Data, [4])],
        ];
        var swept = runs.SweepOn(clean: false, default).Run(items, StudyRuns.PairLogitDiff);
        int V = _model.Config.VocabSize;
        for (int i = 0; i < items.Length; i++)
        {
            var logits = _model.RunWithHooks([_tokens.Corrupted], items[i]);
            double direct = runs.LogitDiff(logits.Slice(0)[^V..]);
            Assert.True(Math.Abs(direct - swept[i]) < 1e-4, $"item {i}: {direct} vs {swept[i]}");
        }
    }

    [Fact]
    public void TensorView_SelectsLikeNumpy()
    {
        var t = new Tensor(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);
        var v = t.View(.., new[] { 0, 2 }, ^1);
        Assert.Equal([2, 2], v.Shape);
        Assert.Equal([3f, 11f, 15f, 23f], v.ToArray());
        Assert.Equal([4], t.View(1, 2).Shape);
        Assert.Equal([20f, 21f, 22f, 23f], t.View(1, 2).ToArray());
        Assert.Equal([5f, 6f], t.View(0, 1, 1..3).ToArray());
        t.View(.., 1).Add([100f, 200f, 300f, 400f]);       // a vector along the last axis, at every batch item
        Assert.Equal(104f, t[0, 1, 0]); Assert.Equal(217f, t[1, 1, 1]);
        t.View(0, .., 0).Fill(-1);
        Assert.Equal(-1f, t[0, 2, 0]); Assert.Equal(1f, t[0, 0, 1]);
        Assert.Throws<IndexOutOfRangeException>(() => t.View(2));
        Assert.Throws<ArgumentException>(() => t.View(0).Set([1f, 2f, 3f, 4f, 5f]));
    }
}

/// <summary>Hooks by filter reach every matching point, in the model's order, after the named ones.</summary>
public class FilterHookTests
{
    [Fact]
    public void AFilterHook_SeesEveryMatchingPoint_AndChangesTheRunAsNamedHooksWould()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-llama"));
        int[] ids = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-llama", "reference_experiments.json")).Clean;
        var seen = new List<string>();
        var byFilter = new HookSet().Add(n => n.EndsWith(".hook_mlp_out"), (x, hook) => { seen.Add(hook.Name); x.View().Fill(0); });
        var filtered = m.RunWithHooks([ids], byFilter);
        Assert.Equal(Enumerable.Range(0, m.Config.NLayers).Select(l => $"blocks.{l}.hook_mlp_out"), seen);
        var named = new HookSet();
        foreach (var l in m.HookNames.Layers) named.Add(Intervention.ZeroAll(l.MlpOut));
        Assert.Equal(m.RunWithHooks([ids], named).Data, filtered.Data);
        Assert.NotEqual(m.Run([ids]).Data, filtered.Data);
    }
}
