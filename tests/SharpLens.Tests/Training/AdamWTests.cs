using System.Text.Json.Nodes;
using SharpLens.Tests.Support;
using SharpLens.Training;
using Xunit;

namespace SharpLens.Tests.Training;

/// <summary>AdamW against its naive scalar reference (the paper's formulas in double) and against torch.optim.AdamW's own
/// numbers (fixtures/training/adamw_torch.json, made by docs/reference/adamw_reference.py).</summary>
public class AdamWTests
{
    static ModelParameters OneTensor(float[] values)
    {
        // The smallest model has many tensors; the test writes its values into the first and zero gradients elsewhere.
        var p = ModelParameters.Initialize(ModelParameters.Qwen2ConfigJson(1, 4, 1, 4, 8), 1);
        values.CopyTo(p.All[0].Data, 0);
        return p;
    }

    [Fact]
    public void StepMatchesTheNaiveScalarReference()
    {
        var rng = new Random(3);
        var p = ModelParameters.Initialize(ModelParameters.Qwen2ConfigJson(1, 8, 2, 8, 16), 5);
        var g = p.ZerosLike();
        var opt = new AdamW(p) { WeightDecay = 0.05 };
        var reference = p.All.Select(t => (P: t.Data.Select(x => (double)x).ToArray(), M: new double[t.Data.Length], V: new double[t.Data.Length])).ToList();
        double[] lrs = [1e-2, 3e-3, 0.1, 1e-4];
        for (int step = 1; step <= lrs.Length; step++)
        {
            for (int i = 0; i < g.All.Count; i++)
                for (int j = 0; j < g.All[i].Data.Length; j++) g.All[i].Data[j] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 2)));
            opt.Step(p, g, lrs[step - 1]);
            for (int i = 0; i < g.All.Count; i++)
                AdamW.StepNaive(reference[i].P, g.All[i].Data.Select(x => (double)x).ToArray(), reference[i].M, reference[i].V, step, lrs[step - 1], weightDecay: 0.05);
        }
        Assert.Equal(lrs.Length, opt.StepCount);
        double worst = 0;
        for (int i = 0; i < p.All.Count; i++)
            for (int j = 0; j < p.All[i].Data.Length; j++) worst = Math.Max(worst, Math.Abs(p.All[i].Data[j] - reference[i].P[j]));
        Assert.True(worst < 2e-6, $"largest difference from the naive reference {worst:g3}");
        // The updates moved the weights (a no-op optimizer must not pass against a reference that did nothing).
        var initial = ModelParameters.Initialize(ModelParameters.Qwen2ConfigJson(1, 8, 2, 8, 16), 5);
        Assert.True(p.All.Zip(initial.All).Sum(t => t.First.Data.Zip(t.Second.Data, (a, b) => Math.Abs(a - b)).Sum()) > 1e-2);
    }

    [Fact]
    public void StepMatchesTorchAdamW()
    {
        var r = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "fixtures", "training", "adamw_torch.json")))!;
        float[] F(JsonNode n) => n.AsArray().Select(x => (float)(double)x!).ToArray();
        var p = OneTensor(F(r["p0"]!));
        var g = p.ZerosLike();
        var opt = new AdamW(p) { WeightDecay = (double)r["weight_decay"]! };
        var grads = r["grads"]!.AsArray(); var lrs = r["lrs"]!.AsArray(); var after = r["after"]!.AsArray();
        for (int s = 0; s < grads.Count; s++)
        {
            F(grads[s]!).CopyTo(g.All[0].Data, 0);
            opt.Step(p, g, (double)lrs[s]!);
            var expected = F(after[s]!);
            for (int j = 0; j < expected.Length; j++)
                Assert.True(Math.Abs(p.All[0].Data[j] - expected[j]) <= 1e-6 + 1e-6 * Math.Abs(expected[j]),
                    $"step {s + 1}, element {j}: {p.All[0].Data[j]:R} vs torch {expected[j]:R}");
        }
    }
}
