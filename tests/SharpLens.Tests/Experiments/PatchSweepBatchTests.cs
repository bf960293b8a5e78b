using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Experiments;

/// <summary>PatchSweep over a batch of base prompts: each item's own prompt, interventions and readouts (logit metrics at
/// any position, activations) equal a plain hooked run of that prompt alone; the single-prompt sweep is one use of it.</summary>
public class PatchSweepBatchTests
{
    static void Near(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-4 * (1 + Math.Abs(expected)), $"{what}: {actual} vs {expected}");

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-gpt2")]
    public void ItemsOnTheirOwnBasePrompts_EqualPlainHookedRuns(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var rng = new Random(19);
        int[] Prompt(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(m.Config.VocabSize)).ToArray();
        int[] a = Prompt(5), b = Prompt(8);
        int d = m.Config.DModel;
        float[] noise = Enumerable.Range(0, 8 * d).Select(_ => (float)rng.NextDouble()).ToArray();
        int[] pair = [3, 7];
        static double Diff(ReadOnlySpan<float> l) => l[0] - l[1];
        static double Max(ReadOnlySpan<float> l) => TensorMax(l);
        var items = new List<SweepItem>
        {
            // a late patch at the last position only: starts at layer 1 and the last position, from a's own prefix
            new([Intervention.Patch("blocks.1.hook_resid_pre", noise, [4])], [Readout.Logits(Diff, tokens: pair)], a),
            // zero an MLP everywhere; read an earlier position's logits and the patched layer's output
            new([Intervention.ZeroAll("blocks.0.hook_mlp_out")],
                [Readout.Logits(Diff, position: 2, tokens: pair), Readout.Logits(Max), Readout.Activation("blocks.1.hook_resid_post")], b),
            // no intervention: the base run's own readouts
            new([], [Readout.Logits(Max, position: 0), Readout.Activation("blocks.0.attn.hook_pattern")], a),
            new([Intervention.Patch("blocks.0.hook_resid_pre", noise, [6, 7])], [Readout.Logits(Diff, tokens: pair)], b),
        };
        var readings = PatchSweep.Run(m, items);

        for (int i = 0; i < items.Count; i++)
        {
            var it = items[i];
            var (logits, cache) = m.RunWithHooksAndCache([it.Prompt!], HookSet.From(it.Interventions));
            int V = m.Config.VocabSize, T = it.Prompt!.Length, k = 0;
            foreach (var r in it.Readouts.OfType<LogitReadout>())
            {
                var row = logits.Data.AsSpan(((r.Position + T) % T) * V, V);
                double want = r.Tokens is { } t ? r.Metric([row[t[0]], row[t[1]]]) : r.Metric(row);
                Near(want, readings[i].Metrics[k++], $"{fixture} item {i} readout {k}");
            }
            Assert.Equal(k, readings[i].Metrics.Length);
            foreach (var r in it.Readouts.OfType<ActivationReadout>())
            {
                var got = readings[i].Activations[r.Hook];
                var want = cache[r.Hook].At(0);
                Assert.Equal(want.Shape, got.Shape);
                for (int j = 0; j < want.Length; j++) Near(want.Data[j], got.Data[j], $"{fixture} item {i} {r.Hook}[{j}]");
            }
        }
        // the interventions acted: the patched item differs from the plain run of its prompt
        var plainLast = m.Run([a]).At(0).Slice(4);                   // [vocab] at a's last position, unpatched
        Assert.True(Math.Abs(plainLast[3] - plainLast[7] - readings[0].Metrics[0]) > 1e-3);
    }

    static double TensorMax(ReadOnlySpan<float> l)
    {
        float best = float.NegativeInfinity;
        foreach (var x in l) best = Math.Max(best, x);
        return best;
    }

    [Fact]
    public void ItemsWithoutAPrompt_AreRefused()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        Assert.Throws<ArgumentException>(() => PatchSweep.Run(m, [new SweepItem([], [Readout.Logits(l => l[0])])]));
        var e = Assert.Throws<UnknownHookException>(() =>
            PatchSweep.Run(m, [new SweepItem([], [Readout.Activation("blocks.0.hook_resid_psot")], [1, 2, 3])]));
        Assert.Contains("blocks.0.hook_resid_post", e.Message);
    }

    [Fact]
    public void TheSinglePromptSweep_IsReadWithOneFinalLogitReadout()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-llama"));
        int[] tokens = [5, 9, 2, 11, 4, 8];
        var (_, cache) = m.RunWithCache([tokens], PatchSweep.NeedsInBaseCache);
        var sweep = new PatchSweep(m, tokens, cache) { LogitTokens = [3, 7] };
        List<IReadOnlyList<Intervention>> items = [[Intervention.ZeroAll("blocks.1.hook_attn_out")], [Intervention.ZeroAll("blocks.0.hook_mlp_out")], []];
        static double Diff(ReadOnlySpan<float> l) => l[0] - l[1];
        var viaRun = sweep.Run(items, Diff);
        var viaRead = sweep.Read(items.Select(i => new SweepItem(i, [Readout.Logits(Diff)])).ToList());
        Assert.Equal(viaRun, viaRead.Select(r => r.Metrics[0]));
        var plain = m.RunWithHooks([tokens], HookSet.From(items[0]));
        int V = m.Config.VocabSize;
        Near(plain.Data[5 * V + 3] - plain.Data[5 * V + 7], viaRun[0], "zero attn L1");
    }
}
