using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Model;

/// <summary>Review regressions: KV-prefix memory, prefix validation, re-entrant runs, the shared empty hook set,
/// prompts whose recovery is undefined.</summary>
public class RunSafetyTests : IDisposable
{
    readonly HookedTransformer _model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
    readonly StudyTokens _tokens = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-qwen2", "reference_experiments.json"));

    public void Dispose() => _model.Dispose();

    [Fact]
    public void APrefixLongerThanQStartIsReadOnlyUpToQStartAndAShortOneIsAClearError()
    {
        var (logits, cache) = _model.RunWithCache([_tokens.Clean]);
        int T = _tokens.Length, d = _model.Config.DModel, V = _model.Config.VocabSize, q0 = 7;
        var resid = new Tensor(cache["blocks.1.hook_resid_pre"].Data.AsSpan(q0 * d).ToArray(), 1, T - q0, d);
        RunOptions With(KvPrefix p) => new() { StartLayer = 1, StartResidual = resid, QStart = q0, Prefix = p, Logits = LogitsMode.Last };
        var r = _model.Forward([_tokens.Clean], With(KvPrefix.FromCache(cache, _model.HookNames, T - 1)));
        for (int i = 0; i < V; i++) Assert.True(Math.Abs(logits.Data[(T - 1) * V + i] - r.Logits!.Data[i]) < 1e-4);
        var e = Assert.Throws<ArgumentException>(() => _model.Forward([_tokens.Clean], With(KvPrefix.FromCache(cache, _model.HookNames, q0 - 1))));
        Assert.Contains("KV prefix", e.Message);
    }

    [Fact]
    public void AHookThatRunsTheSameModelIsRefusedInsteadOfCorruptingTheRun()
    {
        var hooks = new HookSet().Add("blocks.1.hook_attn_out", _ => _model.Run([_tokens.Corrupted]));
        var e = Assert.Throws<InvalidOperationException>(() => _model.RunWithHooks([_tokens.Clean], hooks));
        Assert.Contains("hook ran the model", e.Message);
        _model.Run([_tokens.Clean]);   // the model is usable afterwards
    }

    [Fact]
    public void TheEmptyHookSetCannotBeFilledForEveryone()
    {
        HookSet.Empty.Add("blocks.0.hook_resid_pre", ctx => ctx.Data.Clear());
        Assert.False(new RunOptions().Hooks.Has("blocks.0.hook_resid_pre"));
    }

    [Fact]
    public void IdenticalPromptsAreRefusedBeforeAnyRun()
    {
        string dir = Fixtures.Dir("tiny-qwen2");
        var tok = SharpLens.Tokenization.HfTokenizer.Load(dir);
        var e = Assert.Throws<SharpLensException>(() => PromptSet.Prepare(tok, _model.Config, PromptSet.SeedClean, PromptSet.SeedClean,
            PromptSet.SeedAnswer, PromptSet.SeedWrong));
        Assert.Equal(ExitCode.Input, e.Code);
        var same = _tokens with { Corrupted = _tokens.Clean };
        var s = Assert.Throws<SharpLensException>(() => Study.Run(_model, same, new StudyOptions(), _ => true));
        Assert.Equal(ExitCode.Input, s.Code);
    }
}

public class SweepInterventionCheckTests : IDisposable
{
    readonly HookedTransformer _model = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
    readonly StudyTokens _tokens = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-qwen2", "reference_experiments.json"));

    public void Dispose() => _model.Dispose();

    [Theory]
    [InlineData("blocks.1.hook_resid_pree")]     // misspelt hook of a block
    [InlineData("ln_final.hook_scalee")]         // misspelt hook after the blocks
    public void AnInterventionThatNeverRunsIsAnErrorNotANullResult(string hook)
    {
        var runs = new StudyRuns(_model, _tokens);
        var src = runs.Clean["blocks.1.hook_resid_pre"].Data;
        // issue 18: refused before any run, naming the closest valid name (it used to surface after the run as "never ran")
        var e = Assert.Throws<UnknownHookException>(() => runs.SweepOn(clean: false, default)
            .Run([[Intervention.Patch(hook, src, [_tokens.Last])]], runs.LogitDiff));
        Assert.Equal(hook[..^1], e.Closest[0]);
    }

    /// <summary>An intervention's layer comes from its hook name, so a sweep cannot be told to start past the hook.</summary>
    [Theory]
    [InlineData("blocks.0.hook_resid_pre", 0)]
    [InlineData("blocks.12.attn.hook_z", 12)]
    [InlineData("blocks.3.mlp.hook_post", 3)]
    [InlineData("hook_embed", -1)]
    [InlineData("ln_final.hook_scale", Intervention.AfterTheBlocks)]
    [InlineData("blocks.x.hook_resid_pre", Intervention.AfterTheBlocks)]
    [InlineData("blocks.-1.hook_resid_pre", Intervention.AfterTheBlocks)]
    public void LayerIsReadFromTheHookName(string hook, int layer)
    {
        Assert.Equal(layer, Intervention.LayerOf(hook));
        Assert.Equal(layer, Intervention.ZeroAll(hook).Layer);
    }

    /// <summary>Patching the final norm's scale (after every block) runs: the sweep starts at the last layer's end.</summary>
    [Fact]
    public void AnInterventionAfterTheBlocksRuns()
    {
        var runs = new StudyRuns(_model, _tokens);
        var src = runs.Clean[HookNames.LnFinalScale].Data;
        var swept = runs.SweepOn(clean: false, default).Run([[Intervention.PatchAll(HookNames.LnFinalScale, src)]], StudyRuns.PairLogitDiff);
        var hooks = new HookSet().Add(HookNames.LnFinalScale, ctx => src.AsSpan(0, ctx.Data.Length).CopyTo(ctx.Data));
        double expected = runs.LogitDiff(_model.RunWithHooks([_tokens.Corrupted], hooks).Slice(0)[^_model.Config.VocabSize..]);
        Assert.True(Math.Abs(expected - swept[0]) < 1e-4, $"{expected} vs {swept[0]}");
    }

    [Theory]
    [InlineData("blocks.1.attn.hook_pattern")]
    [InlineData("blocks.1.attn.hook_attn_scores")]
    public void PositionFirstSettersRefuseAttentionPatternHooks(string hook)
    {
        var src = new float[16];
        Assert.Throws<ArgumentException>(() => Intervention.Patch(hook, src, [0]));
        Assert.Throws<ArgumentException>(() => Intervention.PatchHeads(hook, src, [0], [0]));
        Assert.Throws<ArgumentException>(() => Intervention.FillHead(hook, 0, src));
        Assert.Throws<ArgumentException>(() => Intervention.PatchAll(hook, src));
    }
}
