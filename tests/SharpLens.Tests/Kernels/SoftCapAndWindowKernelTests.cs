using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>Soft-capping (Gemma 2) at every instruction-set level against its naive twin, and the attention kernel's
/// sliding window and score cap against the naive scores.</summary>
public class SoftCapAndWindowKernelTests
{
    public static TheoryData<SimdLevel, int> LevelsAndLengths()
    {
        var data = new TheoryData<SimdLevel, int>();
        foreach (var level in Enum.GetValues<SimdLevel>())
            foreach (int n in new[] { 1, 15, 16, 33, 100 }) data.Add(level, n);
        return data;
    }

    [Theory, MemberData(nameof(LevelsAndLengths))]
    public void SoftCapMatchesTheNaiveTanhAtEveryLevel(SimdLevel level, int n)
    {
        var rng = new Random(n);
        // Values from near zero (cancellation in c − 2c/(e^{2x/c} + 1)) to far beyond the cap (exp overflow).
        float[] x = Enumerable.Range(0, n).Select(i => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, i % 6 - 3))).ToArray();
        x[0] = n > 1 ? 1e30f : -1e30f;
        var fast = x.ToArray();
        var naive = x.ToArray();
        KernelOptions.ForcedLevel = level;
        try { SoftCap.Apply(fast, 30f); }
        finally { KernelOptions.ForcedLevel = null; }
        SoftCap.ApplyNaive(naive, 30f);
        for (int i = 0; i < n; i++)
        {
            Assert.True(float.IsFinite(fast[i]) && Math.Abs(fast[i]) <= 30f, $"[{i}] = {fast[i]}");
            Assert.True(Math.Abs(fast[i] - naive[i]) <= 1e-5 * 30, $"[{i}] cap({x[i]}): {fast[i]} vs {naive[i]} at {level}");
        }
        Assert.Equal(n > 1 ? 30f : -30f, fast[0]);
    }

    [Theory]
    [InlineData(1, 9, 9, 0, 4, 2, 8, 3, 0f)]      // window of 3 keys
    [InlineData(2, 4, 12, 8, 4, 4, 16, 5, 50f)]   // cached prefix, window and soft-cap together
    [InlineData(1, 6, 6, 0, 2, 1, 8, 0, 0.5f)]    // soft-cap alone, tight enough to bend every score
    [InlineData(1, 5, 5, 0, 2, 2, 8, 100, 0f)]    // window longer than the prompt: plain causal
    public void WindowedAndCappedScoresMatchTheNaiveKernel(int B, int n, int T, int q0, int H, int G, int e, int window, float cap)
    {
        var rng = new Random(HashCode.Combine(B, n, T, window));
        float[] q = Enumerable.Range(0, B * n * H * e).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        float[] k = Enumerable.Range(0, B * T * G * e).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var fast = new float[B * H * n * T];
        var naive = new float[B * H * n * T];
        float scale = 1f / MathF.Sqrt(e);
        Attention.Scores(q, k, B, n, T, q0, H, G, e, fast, scale, window == 0 ? null : window, softcap: cap);
        Attention.ScoresNaive(q, k, B, n, T, q0, H, G, e, naive, scale, window == 0 ? null : window, softcap: cap);
        int masked = 0;
        for (int i = 0; i < fast.Length; i++)
        {
            int j = i % T, row = q0 + i / T % n;
            bool visible = j <= row && (window == 0 || j > row - window);
            Assert.Equal(!visible, float.IsNegativeInfinity(naive[i]));
            Assert.Equal(!visible, float.IsNegativeInfinity(fast[i]));
            if (!visible) { masked++; continue; }
            if (cap > 0) Assert.True(Math.Abs(fast[i]) <= cap, $"scores[{i}] = {fast[i]} beyond the cap");   // tanh rounds to ±1 in fp32 for large scores
            Assert.True(Math.Abs(fast[i] - naive[i]) <= 1e-5 * (1 + Math.Abs(naive[i])), $"scores[{i}]: {fast[i]} vs {naive[i]}");
        }
        Assert.True(masked > 0);
    }
}
