using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Model;

/// <summary>Run / RunWithCache / RunWithHooks / RunFromLayer and the work-saving run options agree with plain runs.</summary>
public class HookApiTests : IDisposable
{
    readonly HookedTransformer _model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
    readonly StudyTokens _tokens = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-qwen2", "reference_experiments.json"));

    public void Dispose() => _model.Dispose();

    [Fact]
    public void CacheHasEveryHookPointWithItsShape()
    {
        var c = _model.Config; int T = _tokens.Length;
        var (_, cache) = _model.RunWithCache([_tokens.Clean]);
        Assert.Equal(_model.HookNames.All.Order(), cache.Names.Order());
        Assert.Equal([1, T, c.NHeads, c.DHead], cache["blocks.1.attn.hook_q"].Shape);
        Assert.Equal([1, T, c.NKvHeads, c.DHead], cache["blocks.1.attn.hook_k"].Shape);
        Assert.Equal([1, c.NHeads, T, T], cache["blocks.1.attn.hook_attn_scores"].Shape);
        Assert.Equal([1, T, c.NHeads, c.DModel], cache["blocks.1.attn.hook_result"].Shape);
        Assert.Equal([1, T, 1], cache["blocks.1.ln2.hook_scale"].Shape);
        Assert.Equal([1, T, c.DMlp], cache["blocks.1.mlp.hook_pre_linear"].Shape);
        Assert.True(float.IsNegativeInfinity(cache["blocks.0.attn.hook_attn_scores"][0, 0, 0, 1]));
    }

    [Fact]
    public void LogitsInto_TakesTheLogitsOfEveryRun()
    {
        int[][] clean = [_tokens.Clean], corrupted = [_tokens.Corrupted];
        var into = new Tensor(Enumerable.Repeat(float.NaN, _tokens.Length * _model.Config.VocabSize).ToArray(), 1, _tokens.Length, _model.Config.VocabSize);
        foreach (var tokens in new[] { clean, corrupted, clean })
        {
            var r = _model.Forward(tokens, new RunOptions { LogitsInto = into });
            Assert.Same(into, r.Logits);
            Assert.Equal(_model.Run(tokens).Data, into.Data);  // every element overwritten, none left from the run before
        }
        var last = new Tensor(new float[2], 1, 1, 2);
        var picked = _model.Forward(clean, new RunOptions { Logits = LogitsMode.Last, LogitTokens = [5, 9], LogitsInto = last });
        Assert.Same(last, picked.Logits);
        NumericAssert.Close([into[0, _tokens.Length - 1, 5], into[0, _tokens.Length - 1, 9]], last.Data);  // another path: not bitwise
    }

    [Fact]
    public void LogitsInto_OfAnotherShapeIsRefused()
    {
        var wrong = Tensor.Zeros(1, _tokens.Length, _model.Config.VocabSize - 1);
        var e = Assert.Throws<ArgumentException>(() => _model.Forward([_tokens.Clean], new RunOptions { LogitsInto = wrong }));
        Assert.Contains($"LogitsInto is Tensor[1, {_tokens.Length}, {_model.Config.VocabSize - 1}]", e.Message);
        Assert.Throws<ArgumentException>(() => _model.Forward([_tokens.Clean], new RunOptions { Logits = LogitsMode.Last, LogitsInto = wrong }));
        var right = Tensor.Zeros(1, _tokens.Length, _model.Config.VocabSize);
        e = Assert.Throws<ArgumentException>(() => _model.Forward([_tokens.Clean], new RunOptions { Logits = LogitsMode.None, LogitsInto = right }));
        Assert.Contains("not computed (LogitsMode.None)", e.Message);
        // refused before the run: no hook has fired
        int fired = 0;
        var hooks = new HookSet().Add("blocks.0.hook_resid_pre", _ => fired++);
        Assert.Throws<ArgumentException>(() => _model.Forward([_tokens.Clean], new RunOptions { Hooks = hooks, LogitsInto = wrong }));
        Assert.Equal(0, fired);
        _model.Forward([_tokens.Clean], new RunOptions { Hooks = hooks, LogitsInto = right });
        Assert.Equal(1, fired);
    }

    [Fact]
    public void CacheFilterKeepsOnlyWhatIsAsked()
    {
        var (_, cache) = _model.RunWithCache([_tokens.Clean], n => n == "blocks.2.hook_resid_post");
        Assert.Equal(["blocks.2.hook_resid_post"], cache.Names);
    }

    [Fact]
    public void ResultSumsToAttnOutAndComponentsSumToResidual()
    {
        var (_, cache) = _model.RunWithCache([_tokens.Clean]);
        var c = _model.Config; int T = _tokens.Length, d = c.DModel;
        var result = cache["blocks.2.attn.hook_result"].Data;
        var attnOut = cache["blocks.2.hook_attn_out"].Data;
        var sum = new float[T * d];
        for (int p = 0; p < T; p++)
            for (int h = 0; h < c.NHeads; h++)
                for (int i = 0; i < d; i++) sum[p * d + i] += result[(p * c.NHeads + h) * d + i];
        NumericAssert.Close(attnOut, sum, 1e-4f);
    }

    [Fact]
    public void HooksOverwriteActivationsAndDownstreamIsRecomputed()
    {
        var plain = _model.Run([_tokens.Clean]);
        int calls = 0;
        var hooks = new HookSet().Add("blocks.1.hook_attn_out", ctx =>
        {
            calls++;
            Assert.Equal([_tokens.Length, _model.Config.DModel], ctx.Shape);
            ctx.Data.Clear();
        });
        var ablated = _model.RunWithHooks([_tokens.Clean, _tokens.Corrupted], hooks);
        Assert.Equal(2, calls);   // once per batch item
        Assert.NotEqual(plain.Data[^1], ablated.Slice(0)[^1]);
        // the same ablation expressed through the cache: attn_out is zero, resid_mid == resid_pre
        var r = _model.Forward([_tokens.Clean], new RunOptions { Hooks = hooks, CacheFilter = n => n.StartsWith("blocks.1.hook_resid") });
        NumericAssert.Close(r.Cache["blocks.1.hook_resid_pre"].Data, r.Cache["blocks.1.hook_resid_mid"].Data, 0);
    }

    [Fact]
    public void BatchedPromptsMatchSeparateRuns()
    {
        var both = _model.Run([_tokens.Clean, _tokens.Corrupted]);
        NumericAssert.Close(_model.Run([_tokens.Clean]).Data, both.Slice(0));
        NumericAssert.Close(_model.Run([_tokens.Corrupted]).Data, both.Slice(1));
    }

    [Fact]
    public void RunFromLayerWithCachedResidualReproducesTheRun()
    {
        var (logits, cache) = _model.RunWithCache([_tokens.Clean]);
        for (int l = 0; l < _model.Config.NLayers; l++)
            NumericAssert.Close(logits.Data, _model.RunFromLayer(l, cache[$"blocks.{l}.hook_resid_pre"]).Data);
    }

    [Fact]
    public void PartialRunOverACachedKvPrefixReproducesTheFinalLogits()
    {
        var (logits, cache) = _model.RunWithCache([_tokens.Clean]);
        int T = _tokens.Length, d = _model.Config.DModel, V = _model.Config.VocabSize;
        foreach (int q0 in new[] { 1, 10, T - 1 })
            foreach (int layer in new[] { 0, 2 })
            {
                var resid = cache[$"blocks.{layer}.hook_resid_pre"].Data.AsSpan(q0 * d).ToArray();
                var r = _model.Forward([_tokens.Clean], new RunOptions
                {
                    StartLayer = layer, StartResidual = new Tensor(resid, 1, T - q0, d), QStart = q0,
                    Prefix = KvPrefix.FromCache(cache, _model.HookNames, q0), Logits = LogitsMode.Last,
                });
                NumericAssert.Close(logits.Data.AsSpan((T - 1) * V, V), r.Logits!.Data);
            }
    }

    [Fact]
    public void PatchSweepMatchesPlainHookedRuns()
    {
        var runs = new StudyRuns(_model, _tokens);
        var items = new List<IReadOnlyList<Intervention>>();
        var expected = new List<double>();
        foreach (var (layer, pos) in new[] { (0, 18), (1, 3), (3, 24), (2, 0) })
        {
            string hook = $"blocks.{layer}.hook_resid_pre";
            var src = runs.Clean[hook].Data;
            items.Add([Intervention.Patch(hook, src, [pos])]);
            int d = _model.Config.DModel;
            var hooks = new HookSet().Add(hook, ctx => src.AsSpan(pos * d, d).CopyTo(ctx.Data.Slice(pos * d, d)));
            expected.Add(runs.LogitDiff(_model.RunWithHooks([_tokens.Corrupted], hooks).Slice(0)[^_model.Config.VocabSize..]));
        }
        var swept = runs.SweepOn(clean: false, default).Run(items, StudyRuns.PairLogitDiff);
        for (int i = 0; i < items.Count; i++) Assert.True(Math.Abs(expected[i] - swept[i]) < 1e-4, $"item {i}: {expected[i]} vs {swept[i]}");
    }

    [Fact]
    public void PatchingLayerZeroResidualAtTheOnlyDifferingPositionRecoversOne()
    {
        var runs = new StudyRuns(_model, _tokens);
        int pos = Enumerable.Range(0, _tokens.Length).Single(p => _tokens.Clean[p] != _tokens.Corrupted[p]);
        string hook = "blocks.0.hook_resid_pre";
        var v = runs.SweepOn(clean: false, default).Run([[Intervention.Patch(hook, runs.Clean[hook].Data, [pos])]],
            pair => runs.Recovery(StudyRuns.PairLogitDiff(pair)));
        Assert.True(Math.Abs(v[0] - 1) < 1e-5, $"recovery {v[0]}");
    }
}
