using System.Text.Json.Nodes;
using SharpLens.Kernels;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Model;

/// <summary>Logits and every activation of reference_activations.json (float64 PyTorch) within EXPERIMENTS.md tolerances.</summary>
public class ReferenceActivationTests
{
    public static TheoryData<string> Models => new() { "tiny-qwen2", "tiny-llama", "setcomp-demo", "tiny-gpt2", "tiny-gpt2-variant", "tiny-gpt2-gelu", "tiny-mistral", "tiny-mistral-window", "tiny-qwen3", "tiny-gpt-neox", "tiny-gpt-neox-v5", "tiny-qwen3-small-head", "tiny-phi3", "tiny-gemma2", "tiny-gemma2-variant", "tiny-phi3-variant" };

    /// <summary>1e-3 absolute, or 1e-4 relative to the tensor's largest magnitude, whichever is larger. A null entry is a
    /// masked attention score (JSON has no −Infinity): it must be −∞.</summary>
    internal static void AssertClose(string what, JsonArray expectedFlat, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expectedFlat.Count, actual.Length);
        double maxMag = expectedFlat.Where(v => v != null).Max(v => Math.Abs(v!.GetValue<double>()));
        double tol = Math.Max(1e-3, 1e-4 * maxMag);
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expectedFlat[i]?.GetValue<double>() ?? double.NegativeInfinity;
            if (double.IsNegativeInfinity(e)) { Assert.True(float.IsNegativeInfinity(actual[i]), $"{what}[{i}]: expected -inf"); continue; }
            if (Math.Abs(e - actual[i]) > tol)
                Assert.Fail($"{what}[{i}]: expected {e}, got {actual[i]} (tolerance {tol})");
        }
    }

    [Theory, MemberData(nameof(Models))]
    public void LogitsAndActivationsMatchPyTorch(string fixture) => CheckAgainstPyTorch(fixture);

    /// <summary>The whole forward with the kernels forced to each instruction-set level on one thread (levels this CPU
    /// lacks run through .NET's software vectors: correct, slow); the default run above takes the CPU's best.</summary>
    [Theory]
    [InlineData("tiny-qwen2", SimdLevel.Scalar)]
    [InlineData("tiny-qwen2", SimdLevel.Avx2)]
    [InlineData("tiny-qwen2", SimdLevel.Avx512)]
    [InlineData("tiny-llama", SimdLevel.Avx512)]
    [InlineData("tiny-gpt2", SimdLevel.Scalar)]
    [InlineData("tiny-gpt2", SimdLevel.Avx2)]
    [InlineData("tiny-gpt2", SimdLevel.Avx512)]
    [InlineData("tiny-gpt2-gelu", SimdLevel.Scalar)]
    [InlineData("tiny-gpt2-gelu", SimdLevel.Avx2)]
    [InlineData("tiny-gpt2-variant", SimdLevel.Avx2)]
    [InlineData("tiny-gemma2", SimdLevel.Scalar)]
    [InlineData("tiny-gemma2", SimdLevel.Avx2)]
    [InlineData("tiny-gemma2-variant", SimdLevel.Avx512)]
    [InlineData("tiny-phi3", SimdLevel.Avx2)]
    public void LogitsAndActivationsMatchPyTorchAtEveryLevel(string fixture, SimdLevel level)
    {
        KernelOptions.ForcedLevel = level;
        KernelOptions.ForcedThreads = 1;
        try { CheckAgainstPyTorch(fixture); }
        finally { KernelOptions.ForcedLevel = null; KernelOptions.ForcedThreads = null; }
    }

    static void CheckAgainstPyTorch(string fixture)
    {
        var reference = Fixtures.Json(fixture, "reference_activations.json");
        int[] ids = reference["tokens"]!.AsArray().Select(t => t!.GetValue<int>()).ToArray();
        using var model = HookedTransformer.Load(Fixtures.Dir(fixture));
        var (logits, cache) = model.RunWithCache([ids]);

        var flatLogits = new JsonArray(reference["logits"]!.AsArray().SelectMany(r => r!.AsArray()).Select(v => (JsonNode?)v!.GetValue<double>()).ToArray());
        AssertClose("logits", flatLogits, logits.Data);

        var acts = reference["activations"]!.AsObject();
        Assert.NotEmpty(acts);
        foreach (var (name, node) in acts)
        {
            var act = cache[name];
            var shape = node!["shape"]!.AsArray().Select(s => s!.GetValue<int>()).ToArray();
            Assert.Equal([1, .. shape], act.Shape);
            AssertClose(name, node["data"]!.AsArray(), act.Data);
        }
    }
}
