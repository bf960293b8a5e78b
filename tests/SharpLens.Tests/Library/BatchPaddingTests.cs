using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>A batch of prompts of different lengths, padded on either side, gives each prompt what running it alone
/// gives (logits, every cached activation, hooks), on each family's way of encoding positions (rotary: Qwen2, Llama;
/// learned: GPT-2); and stopAtLayer returns the residual stream before that block.</summary>
public class BatchPaddingTests
{
    const double Tol = 1e-5;

    public static TheoryData<string, PaddingSide> Cases => new()
    {
        { "tiny-qwen2", PaddingSide.Right }, { "tiny-qwen2", PaddingSide.Left },
        { "tiny-llama", PaddingSide.Right }, { "tiny-llama", PaddingSide.Left },
        { "tiny-gpt2", PaddingSide.Right }, { "tiny-gpt2", PaddingSide.Left },
    };

    /// <summary>Three prompts of 4, 9 and 6 random tokens (the longest in the middle: pads on both sides of it).</summary>
    static int[][] Prompts(HookedTransformer m)
    {
        var rng = new Random(18);
        return new[] { 4, 9, 6 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(m.Config.VocabSize)).ToArray()).ToArray();
    }

    static void Near(ReadOnlySpan<float> alone, ReadOnlySpan<float> batched, string what)
    {
        Assert.Equal(alone.Length, batched.Length);
        // within 1e-5 of the tensor's scale (as the references' tolerances are): a batch runs other GEMM row blocks than a
        // prompt alone, so fp32 sums round in another order
        float scale = 0;
        foreach (float v in alone) if (float.IsFinite(v)) scale = Math.Max(scale, Math.Abs(v));
        for (int i = 0; i < alone.Length; i++)
        {
            if (float.IsNegativeInfinity(alone[i])) { Assert.True(float.IsNegativeInfinity(batched[i]), $"{what}[{i}] should be masked"); continue; }
            Assert.True(Math.Abs(alone[i] - batched[i]) <= Tol * (1 + scale), $"{what}[{i}]: {batched[i]} batched vs {alone[i]} alone");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_EachPromptsLogitsEqualItsRunAlone(string fixture, PaddingSide side)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var prompts = Prompts(m);
        var (logits, batch) = m.RunBatch(prompts, side);
        Assert.Equal([3, 9, m.Config.VocabSize], logits.Shape);
        Assert.Equal([4, 9, 6], batch.Lengths);
        Assert.Equal(19, (int)batch.AttentionMask.Data.Sum());   // 4 + 9 + 6 real rows of 27
        for (int b = 0; b < 3; b++)
        {
            var alone = m.Run([prompts[b]]);
            Near(alone.Data, batch.Positions(logits, b).Data, $"{fixture} prompt {b} logits");
            Near(alone.At(0).Slice(prompts[b].Length - 1), batch.LastLogits(logits, b).Data, $"{fixture} prompt {b} last logits");
            Assert.Equal(prompts[b].Length, batch.AttentionMask.Slice(b).ToArray().Count(x => x == 1));
            Assert.Equal(1f, batch.AttentionMask[b, batch.LastRow(b)]);
        }
        Assert.Equal(m.Run(prompts, side).Data, logits.Data);
        // Last-position logits only (the sweeps' mode) read each prompt's own last row.
        var last = m.Forward(prompts, new RunOptions { Logits = LogitsMode.Last, Padding = side }).Logits!;
        for (int b = 0; b < 3; b++) Near(batch.LastLogits(logits, b).Data, last.Slice(b), $"{fixture} prompt {b} LogitsMode.Last");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RunWithCache_EachPromptsActivationsEqualItsRunAlone(string fixture, PaddingSide side)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var prompts = Prompts(m);
        var (_, cache) = m.RunWithCache(prompts, paddingSide: side);
        var batch = cache.Batch!;
        Assert.Equal(side, batch.Side);
        for (int b = 0; b < 3; b++)
        {
            int n = prompts[b].Length, s = batch.Start(b);
            var (_, alone) = m.RunWithCache([prompts[b]]);
            foreach (var name in alone.Names)
            {
                var a = alone[name];
                if (name.EndsWith("hook_attn_scores") || name.EndsWith("hook_pattern"))
                {
                    // [batch, head, q_pos, k_pos]: the prompt's own query rows and key columns
                    int H = a.Shape[1];
                    for (int h = 0; h < H; h++)
                        for (int i = 0; i < n; i++)
                            Near(a.Data.AsSpan((h * n + i) * n, n),
                                cache[name].Data.AsSpan(((b * H + h) * batch.Width + s + i) * batch.Width + s, n), $"{fixture} {name} b{b} h{h} q{i}");
                }
                else Near(a.Data, batch.Positions(cache[name], b).Data, $"{fixture} {name} b{b}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RunWithHooks_APatchAtAPromptsPositionActsAsInItsRunAlone(string fixture, PaddingSide side)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var prompts = Prompts(m);
        var batch = PromptBatch.From(prompts, side);
        const string hook = "blocks.1.hook_resid_pre";
        int d = m.Config.DModel;
        // Batched: one tensor hook adds 0.5 to each prompt's position 2 (its row from the layout).
        var hooks = new HookSet().Add(hook, (Tensor act, HookPoint _) =>
        {
            for (int b = 0; b < 3; b++)
                foreach (ref var x in act.Slice(b).Slice(batch.Row(b, 2) * d, d)) x += 0.5f;
        });
        var patched = m.RunWithHooks(prompts, hooks, side);
        var plain = m.Run(prompts, side);
        for (int b = 0; b < 3; b++)
        {
            var alone = m.RunWithHooks([prompts[b]], new HookSet().Add(hook, (Tensor act, HookPoint _) =>
            {
                foreach (ref var x in act.Slice(0).Slice(2 * d, d)) x += 0.5f;
            }));
            Near(alone.Data, batch.Positions(patched, b).Data, $"{fixture} hooked prompt {b}");
            Assert.NotEqual(batch.LastLogits(plain, b).Data, batch.LastLogits(patched, b).Data);   // the hook did act
        }
    }

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-gpt2")]
    public void StopAtLayer_ReturnsTheResidualStreamBeforeThatBlock(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var prompts = Prompts(m);
        var (_, cache) = m.RunWithCache(prompts);
        int L = m.Config.NLayers;
        foreach (var (stop, layer) in new[] { (0, 0), (1, 1), (-1, L - 1) })
        {
            var resid = m.Run(prompts, stopAtLayer: stop);
            Assert.Equal([3, 9, m.Config.DModel], resid.Shape);
            Near(cache[$"blocks.{layer}.hook_resid_pre"].Data, resid.Data, $"stop at {stop}");
        }
        // Hooks of the stop layer and after never fire.
        int fired = 0;
        m.Forward(prompts, new RunOptions { StopAtLayer = 1, Hooks = new HookSet().Add("blocks.1.hook_resid_pre", _ => fired++) });
        Assert.Equal(0, fired);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Run(prompts, stopAtLayer: L + 1));
    }

    [Fact]
    public void ResumingRunsRefusePromptsOfDifferentLengths()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));
        var e = Assert.Throws<ArgumentException>(() => m.Forward([[1, 2, 3], [1, 2]], new RunOptions { StartLayer = 1, StartResidual = Tensor.Zeros(2, 3, m.Config.DModel) }));
        Assert.Contains("one length", e.Message);
        Assert.Throws<SharpLensException>(() => m.Run([[1, 2], []]));
    }
}
