using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>Attention's SIMD/threaded kernels against their naive references: grouped-query heads, a cached prefix
/// (queries for the last n of T positions), and shapes large enough to split across threads.</summary>
public class AttentionKernelTests
{
    // (B, n, T, q0, H, G, e): q0 + n == T (queries are the last n positions).
    public static TheoryData<int, int, int, int, int, int, int> Shapes => new()
    {
        { 1, 5, 5, 0, 2, 2, 8 },      // plain causal, multi-head attention
        { 2, 3, 7, 4, 4, 2, 6 },      // cached prefix of 4, GQA with groups of 2, head size not a multiple of 8
        { 2, 64, 64, 0, 4, 1, 64 },   // ≥ 1M multiply-adds: split across threads; one key/value head for four queries
        { 3, 1, 40, 39, 8, 4, 16 },   // one query row (final position only)
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ScoresPatternAndValues_MatchTheNaiveKernels(int B, int n, int T, int q0, int H, int G, int e) =>
        CompareWithNaive(B, n, T, q0, H, G, e, window: null);

    /// <summary>Sliding windows shorter than the prompt (1 = each query sees only itself), with a cached prefix, across threads.</summary>
    [Theory]
    [InlineData(1, 5, 5, 0, 2, 2, 8, 1)]
    [InlineData(1, 9, 9, 0, 4, 2, 8, 3)]
    [InlineData(2, 3, 7, 4, 4, 2, 6, 4)]
    [InlineData(2, 64, 64, 0, 4, 1, 64, 17)]
    [InlineData(3, 1, 40, 39, 8, 4, 16, 5)]
    public void WindowedScores_MatchTheNaiveKernel(int B, int n, int T, int q0, int H, int G, int e, int window) =>
        CompareWithNaive(B, n, T, q0, H, G, e, window);

    /// <summary>The window's definition, checked on the mask alone: query i sees exactly the keys i − W &lt; j ≤ i.</summary>
    [Fact]
    public void Window_SeesTheLastWKeysItselfIncluded()
    {
        int T = 10, W = 3;
        float[] q = Enumerable.Repeat(1f, T * 2).ToArray(), k = Enumerable.Repeat(1f, T * 2).ToArray();
        var s = new float[T * T];
        Attention.Scores(q, k, 1, T, T, 0, 1, 1, 2, s, 1f, W);
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                Assert.Equal(i - W < j && j <= i, !float.IsNegativeInfinity(s[i * T + j]));
    }

    static void CompareWithNaive(int B, int n, int T, int q0, int H, int G, int e, int? window)
    {
        var rng = new Random(HashCode.Combine(B, n, T, H, G, e));
        float[] q = Random(rng, B * n * H * e), k = Random(rng, B * T * G * e), v = Random(rng, B * T * G * e);
        foreach (int threads in new[] { 1, 2 })
        {
            KernelOptions.ForcedThreads = threads;
            try
            {
                var fast = new float[B * H * n * T];
                var naive = new float[B * H * n * T];
                Attention.Scores(q, k, B, n, T, q0, H, G, e, fast, 1f / MathF.Sqrt(e), window);
                Attention.ScoresNaive(q, k, B, n, T, q0, H, G, e, naive, 1 / Math.Sqrt(e), window);
                for (int i = 0; i < fast.Length; i++)
                    if (float.IsNegativeInfinity(naive[i])) Assert.True(float.IsNegativeInfinity(fast[i]), $"scores[{i}] masked");
                    else Assert.False(float.IsNegativeInfinity(fast[i]), $"scores[{i}] should be visible");
                for (int i = 0; i < fast.Length; i++)
                    if (!float.IsNegativeInfinity(naive[i]))
                        Assert.True(Math.Abs(fast[i] - naive[i]) <= 1e-5 * (1 + Math.Abs(naive[i])), $"scores[{i}]: {fast[i]} vs {naive[i]} ({threads} threads)");

                Attention.Pattern(naive, T);
                var zFast = new float[B * n * H * e];
                var zNaive = new float[B * n * H * e];
                Attention.WeightedValues(naive, v, B, n, T, H, G, e, zFast);
                Attention.WeightedValuesNaive(naive, v, B, n, T, H, G, e, zNaive);
                for (int i = 0; i < zFast.Length; i++)
                    Assert.True(Math.Abs(zFast[i] - zNaive[i]) <= 1e-5 * (1 + Math.Abs(zNaive[i])), $"z[{i}]: {zFast[i]} vs {zNaive[i]} ({threads} threads)");
            }
            finally { KernelOptions.ForcedThreads = null; }
        }
    }

    /// <summary>Left padding: each item's keys before its first real row are −inf for its real query rows (the naive
    /// kernel's rule), pad query rows stay plainly causal and finite, and the threaded kernel agrees element for element.</summary>
    [Theory]
    [InlineData(2, 64, 64, 0, 4, 1, 64)]
    [InlineData(1, 6, 6, 0, 2, 2, 8)]
    [InlineData(2, 2, 9, 7, 4, 2, 6)]
    public void MaskedScores_MatchTheNaiveKernel(int threads, int n, int T, int q0, int H, int G, int e)
    {
        const int B = 3;
        int[] keyStart = [0, 3, T - 1];
        var rng = new Random(n * 31 + T);
        float[] q = Random(rng, B * n * H * e), k = Random(rng, B * T * G * e);
        KernelOptions.ForcedThreads = threads;
        try
        {
            var fast = new float[B * H * n * T];
            var naive = new float[B * H * n * T];
            Attention.Scores(q, k, B, n, T, q0, H, G, e, fast, 0.25f, keyStart: keyStart);
            Attention.ScoresNaive(q, k, B, n, T, q0, H, G, e, naive, 0.25, keyStart: keyStart);
            int masked = 0;
            for (int b = 0; b < B; b++)
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < T; j++)
                        {
                            int at = ((b * H + h) * n + i) * T + j;
                            bool pad = q0 + i >= keyStart[b] && j < keyStart[b];
                            masked += pad ? 1 : 0;
                            if (pad || j > q0 + i) Assert.True(float.IsNegativeInfinity(fast[at]) && float.IsNegativeInfinity(naive[at]), $"[{b},{h},{i},{j}] not masked");
                            else Assert.True(Math.Abs(fast[at] - naive[at]) <= 1e-5 * (1 + Math.Abs(naive[at])), $"[{b},{h},{i},{j}]: {fast[at]} vs {naive[at]}");
                        }
            Assert.True(masked > 0);
            Attention.Pattern(fast, T);
            Assert.All(fast, p => Assert.True(float.IsFinite(p)));   // no row is all −inf
        }
        finally { KernelOptions.ForcedThreads = null; }
    }

    static float[] Random(Random rng, int count) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
}
