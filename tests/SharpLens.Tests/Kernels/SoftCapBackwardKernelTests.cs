using SharpLens.Kernels;
using Xunit;

namespace SharpLens.Tests.Kernels;

/// <summary>The soft-cap's backward at every instruction-set level against its naive twin, the twin against finite
/// differences of the forward's naive cap, and attention's backward through a score cap and a sliding window.</summary>
public class SoftCapBackwardKernelTests
{
    static float[] Rand(Random r, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();

    [Theory, MemberData(nameof(SoftCapAndWindowKernelTests.LevelsAndLengths), MemberType = typeof(SoftCapAndWindowKernelTests))]
    public void SoftCapBackward_MatchesNaiveAtEveryLevel_MaskedEntriesGetZero(SimdLevel level, int n)
    {
        const float cap = 3f;
        var rng = new Random(n);
        // Inputs from near zero to far beyond the cap (slope → 0), capped by the forward; −∞ is a masked score.
        float[] y = Enumerable.Range(0, n).Select(i => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, i % 4 - 2))).ToArray();
        SoftCap.ApplyNaive(y, cap);
        y[0] = float.NegativeInfinity;
        float[] dy = Rand(rng, n, 2), fast = new float[n], naive = new float[n];
        dy[0] = 0;
        KernelOptions.ForcedLevel = level;
        try { SoftCapBackward.Apply(y, dy, fast, cap); }
        finally { KernelOptions.ForcedLevel = null; }
        SoftCapBackward.ApplyNaive(y, dy, naive, cap);
        Assert.Equal(0f, fast[0]);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(fast[i] - naive[i]) <= 1e-6 * Math.Max(1, Math.Abs(naive[i])), $"[{i}] {fast[i]} vs {naive[i]} at {level}");

        var inPlace = (float[])dy.Clone();                                   // dx may be dy
        KernelOptions.ForcedLevel = level;
        try { SoftCapBackward.Apply(y, inPlace, inPlace, cap); }
        finally { KernelOptions.ForcedLevel = null; }
        Assert.Equal(fast, inPlace);
    }

    [Fact]
    public void SoftCapBackwardNaive_MatchesFiniteDifferencesOfTheCap()
    {
        const float cap = 2.5f;
        var rng = new Random(4);
        float[] x = Rand(rng, 200, 8), dy = Rand(rng, 200), y = (float[])x.Clone(), dx = new float[200];
        SoftCap.ApplyNaive(y, cap);
        SoftCapBackward.ApplyNaive(y, dy, dx, cap);
        for (int i = 0; i < x.Length; i++)
        {
            double h = 1e-3, numeric = (cap * Math.Tanh((x[i] + h) / cap) - cap * Math.Tanh((x[i] - h) / cap)) / (2 * h) * dy[i];
            Assert.True(Math.Abs(numeric - dx[i]) <= 1e-5, $"x = {x[i]}: finite difference {numeric}, backward {dx[i]}");
        }
    }

    [Theory]
    [InlineData(1, 8, 8, 0, 4, 2, 6, 3, 0f)]      // sliding window of 3 keys
    [InlineData(1, 7, 7, 0, 2, 1, 8, 0, 0.7f)]    // a cap tight enough to bend every score
    [InlineData(2, 4, 9, 5, 4, 2, 5, 4, 1.5f)]    // later queries (q0 > 0), window and cap together, two items
    public void AttentionBackward_ThroughCapAndWindow_MatchesNaiveAndFiniteDifferences(int B, int n, int T, int q0, int H, int G, int e, int window, float cap)
    {
        var rng = new Random(B * 100 + T + window);
        float scale = 1 / MathF.Sqrt(e);
        int? win = window == 0 ? null : window;
        float[] q = Rand(rng, B * n * H * e, 2), k = Rand(rng, B * T * G * e, 2), v = Rand(rng, B * T * G * e), dz = Rand(rng, B * n * H * e);
        float[] Forward(float[] qq, float[] kk, float[] vv, float[]? scoresOut = null, float[]? patternOut = null)
        {
            var s = new float[B * H * n * T];
            Attention.ScoresNaive(qq, kk, B, n, T, q0, H, G, e, s, scale, win, softcap: cap);
            s.CopyTo(scoresOut ?? new float[s.Length], 0);
            Attention.Pattern(s, T);
            s.CopyTo(patternOut ?? new float[s.Length], 0);
            var z = new float[B * n * H * e];
            Attention.WeightedValuesNaive(s, vv, B, n, T, H, G, e, z);
            return z;
        }
        float[] scores = new float[B * H * n * T], pattern = new float[B * H * n * T];
        Forward(q, k, v, scores, pattern);
        float[] dPn = new float[pattern.Length], dSn = new float[pattern.Length], dPf = new float[pattern.Length], dSf = new float[pattern.Length];
        float[] dqn = new float[q.Length], dkn = new float[k.Length], dvn = new float[v.Length], dqf = new float[q.Length], dkf = new float[k.Length], dvf = new float[v.Length];
        AttentionBackward.RunNaive(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPn, dSn, dqn, dkn, dvn, scores, cap);
        AttentionBackward.Run(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPf, dSf, dqf, dkf, dvf, scores, cap);
        Close(dSn, dSf, 1e-5, "dScores"); Close(dqn, dqf, 1e-5, "dq"); Close(dkn, dkf, 1e-5, "dk"); Close(dvn, dvf, 1e-5, "dv");
        Assert.All(dqf.Concat(dkf).Concat(dSf), x => Assert.True(float.IsFinite(x)));

        Close(NumericGrad(q, dz, qq => Forward(qq, k, v)), dqn, 2e-3, "dq by finite differences");
        Close(NumericGrad(k, dz, kk => Forward(q, kk, v)), dkn, 2e-3, "dk by finite differences");
        Close(NumericGrad(v, dz, vv => Forward(q, k, vv)), dvn, 2e-3, "dv by finite differences");
    }

    static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = expected.Max(v => Math.Abs((double)v));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, max), $"{what}[{i}]: {expected[i]} vs {actual[i]}");
    }

    /// <summary>Σ dy · ∂f/∂x_i by central differences, for each i.</summary>
    static float[] NumericGrad(float[] x, float[] dy, Func<float[], float[]> f)
    {
        var g = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            float[] p = (float[])x.Clone(), m = (float[])x.Clone();
            p[i] += 1e-2f; m[i] -= 1e-2f;
            double fp = f(p).Zip(dy, (a, b) => (double)a * b).Sum(), fm = f(m).Zip(dy, (a, b) => (double)a * b).Sum();
            g[i] = (float)((fp - fm) / ((double)p[i] - m[i]));
        }
        return g;
    }
}
