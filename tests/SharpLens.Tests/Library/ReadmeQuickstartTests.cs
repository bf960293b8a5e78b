using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>The README's library quickstart, call for call, on the embedded demo model (4 layers: layer 2 for the README's 12).</summary>
public class ReadmeQuickstartTests
{
    [Fact]
    public void TheQuickstartRunsAndItsNumbersAgree()
    {
        using var model = HookedTransformer.FromPretrained(Fixtures.DemoModelDir);
        string clean = PromptSet.SeedClean, corrupted = PromptSet.SeedCorrupted;
        int[] ids = model.ToTokens(clean);
        string[] pieces = model.ToStrTokens(clean);
        Assert.Equal(clean, string.Concat(pieces));
        int mango = model.ToSingleToken(" Mango"), orange = model.ToSingleToken(" Orange");

        Tensor logits = model.Run([ids]);
        var (_, cache) = model.RunWithCache([model.ToTokens(clean)]);
        var (_, small) = model.RunWithCache([ids], "blocks.3.attn.hook_pattern", "ln_final.hook_scale");
        Assert.Equal(2, small.Names.Count());

        Tensor z = cache["blocks.2.attn.hook_z"];
        var patch = new HookSet().Add("blocks.2.attn.hook_z", (act, hook) => act.View(.., .., 1).Set(z.View(0, .., 1)));
        Tensor patched = model.RunWithHooks([model.ToTokens(corrupted)], patch);
        Tensor viaSetter = model.RunWithHooks([model.ToTokens(corrupted)],
            [Intervention.PatchHeads("blocks.2.attn.hook_z", z.Data, [1], Enumerable.Range(0, ids.Length).ToArray())]);
        Assert.Equal(patched.Data, viaSetter.Data);   // the same patch, written two ways

        var (batchLogits, batch) = model.RunBatch([ids, model.ToTokens("Peach, Orange and")], PaddingSide.Right);
        Tensor lastOfSecond = batch.LastLogits(batchLogits, 1);
        var second = model.Run("Peach, Orange and");
        Assert.True(Math.Abs(lastOfSecond.Data[5] - second[0, second.Shape[1] - 1, 5]) < 1e-4);
        Tensor mask = batch.AttentionMask;
        Assert.Equal(ids.Length + second.Shape[1], (int)mask.Data.Sum());
        var (_, batchCache) = model.RunWithCache([ids, model.ToTokens("Peach, Orange and")]);
        Tensor ownRows = batchCache.Batch!.Positions(batchCache["blocks.0.hook_resid_post"], 0);
        Assert.Equal([ids.Length, model.Config.DModel], ownRows.Shape);
        Tensor resid = model.Run([ids], stopAtLayer: 2);
        Assert.Equal(cache["blocks.2.hook_resid_pre"].Shape, resid.Shape);
        SweepReading[] readings = PatchSweep.Run(model, [
            new SweepItem([Intervention.ZeroAll("blocks.3.hook_mlp_out")], [Readout.Logits(l => l[0] - l[1], position: -1, tokens: [mango, orange])], ids),
            new SweepItem([], [Readout.Activation("blocks.2.hook_resid_post")], model.ToTokens(corrupted)),
        ]);
        Assert.Single(readings[0].Metrics);
        Assert.Equal([ids.Length, model.Config.DModel], readings[1].Activations["blocks.2.hook_resid_post"].Shape);

        int V = model.Config.VocabSize, last = ids.Length - 1;
        ResidStack parts = cache.DecomposeResid(pos: -1);
        Tensor dla = cache.LogitAttrs(parts, mango, orange);
        double diff = logits[0, last, mango] - logits[0, last, orange];
        Assert.True(Math.Abs(dla.Data.Sum() - diff) < 1e-3, $"{dla.Data.Sum()} vs {diff}");
        Tensor perHead = cache.LogitAttrs(cache.StackHeadResults(pos: -1), mango, orange);
        Assert.Equal(model.Config.NLayers * model.Config.NHeads, perHead.Shape[0]);
        Tensor lens = cache.LogitAttrs(cache.AccumulatedResid(pos: -1, applyLn: true), mango, orange);
        Assert.True(Math.Abs(lens.Data[^1] - diff) < 1e-3);   // the last lens entry is the model's own logit diff

        float w = model.W_Q[2, 1, 0, 0];
        Assert.Equal(model.Weights.Layers[2].Wq[1 * model.Config.DHead, 0], w);
        FactoredMatrix ov = model.OV(2, 1);
        var (u, s, v) = ov.Svd();
        Assert.Equal(model.Config.DHead, s.Count);
        Assert.Equal(model.Config.DHead, ov.Eigenvalues().Length);
        Tensor kComposition = model.AllCompositionScores(CompositionMode.K);
        Assert.Contains(kComposition.Data, x => x > 0);

        var steer = new HookSet().Add("blocks.1.hook_resid_pre", (x, _) => x.View().Add(model.W_E.At(mango).ToTensor().Data, 4f));
        string text = model.Generate(clean, maxNewTokens: 10, hooks: steer);
        Assert.StartsWith(clean, text);
        string sampled = model.Generate(clean, maxNewTokens: 10, temperature: 0.8f, topK: 50, topP: 0.95f, seed: 1);
        Assert.Equal(sampled, model.Generate(clean, maxNewTokens: 10, temperature: 0.8f, topK: 50, topP: 0.95f, seed: 1));
    }
}
