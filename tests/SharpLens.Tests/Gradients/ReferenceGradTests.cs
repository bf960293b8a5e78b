using System.Text.Json.Nodes;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>Gradients against float64 PyTorch autograd (fixtures/*/reference_grads.json; EXPERIMENTS.md, "Gradients and
/// attribution patching"): hooks = d logit_diff / d activation on the corrupted run, weights = d loss / d weight of the
/// clean prompt's next-token cross-entropy, under the checkpoint's names. Tolerance 1e-3 absolute or 1e-3 relative to the
/// tensor's largest magnitude.</summary>
public class ReferenceGradTests
{
    internal static void AssertClose(string name, JsonNode reference, float[] actual)
    {
        var data = reference["data"]!.AsArray();
        Assert.True(data.Count == actual.Length, $"{name}: {actual.Length} values, reference has {data.Count}");
        double maxAbs = 0;
        foreach (var v in data) maxAbs = Math.Max(maxAbs, Math.Abs((double)v!));
        double tol = Math.Max(1e-3, 1e-3 * maxAbs), worst = 0; int at = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - (double)data[i]!);
            if (err > worst) { worst = err; at = i; }
        }
        Assert.True(worst <= tol, $"{name}: |Δ| {worst:g4} at {at} (ref {(double)data[at]!:g6}, got {actual[at]:g6}) > {tol:g3}");
    }

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-llama")]
    [InlineData("setcomp-demo")]
    public void HookGradientsMatchAutograd(string fixture)
    {
        var r = Fixtures.Json(fixture, "reference_grads.json");
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var corrupted = r["tokens"]!["corrupted"]!.AsArray().Select(t => (int)t!).ToArray();
        int answer = (int)r["answer_tokens"]!["clean"]!, wrong = (int)r["answer_tokens"]!["corrupted"]!;
        var hooks = r["hooks"]!.AsObject();
        var g = m.Backward(corrupted, Metrics.LogitDiff(answer, wrong), name => hooks.ContainsKey(name));
        foreach (var (name, reference) in hooks)
        {
            Assert.True(g.HookGrads.ContainsKey(name), $"no gradient for {name}");
            AssertClose(name, reference!, g.HookGrads[name].Data);
        }
    }

    [Theory]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-llama")]
    public void WeightGradientsMatchAutograd(string fixture)
    {
        var r = Fixtures.Json(fixture, "reference_grads.json");
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var clean = r["tokens"]!["clean"]!.AsArray().Select(t => (int)t!).ToArray();
        var g = m.Backward(clean, Metrics.NextTokenLoss(clean), _ => false, weights: true);
        Assert.Equal((double)r["loss"]!, g.Metric, 4);
        var byName = g.Weights!.ByCheckpointName(m.Config);
        var refs = r["weights"]!.AsObject();
        Assert.Equal(refs.Select(p => p.Key).Order(), byName.Keys.Order());
        foreach (var (name, reference) in refs)
        {
            Assert.Equal(reference!["shape"]!.AsArray().Select(v => (int)v!), byName[name].Shape);
            AssertClose(name, reference!, byName[name].Data);
        }
    }
}
