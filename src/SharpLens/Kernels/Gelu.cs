using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpLens.Kernels;

/// <summary>
/// GELU, in place or into another buffer, at <see cref="KernelOptions.EffectiveLevel"/> (512-bit, 256-bit or scalar):
/// <list type="bullet">
/// <item><see cref="Exact"/>: <c>x·Φ(x) = 0.5·x·(1 + erf(x/√2))</c> (Hugging Face's <c>gelu</c>, PyTorch's default);
/// erf by Abramowitz &amp; Stegun 7.1.26 (absolute error ≤ 1.5e-7, below fp32's resolution of the result's 1 + erf);</item>
/// <item><see cref="Tanh"/>: <c>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c> (<c>gelu_new</c>,
/// <c>gelu_pytorch_tanh</c>, <c>gelu_fast</c>), computed as <c>x·sigmoid(2u)</c>, the same function.</item>
/// </list>
/// </summary>
public static class Gelu
{
    const float Sqrt2OverPi = 0.7978845608028654f, Cubic = 0.044715f, InvSqrt2 = 0.7071067811865476f;
    const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    /// <summary>y = gelu(x), exact (erf) form, on the calling thread; y may be x.</summary>
    public static void Exact(ReadOnlySpan<float> x, Span<float> y) => Run(x, y, exact: true, KernelOptions.EffectiveLevel);

    /// <summary>y = gelu(x), tanh approximation, on the calling thread; y may be x.</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Run(x, y, exact: false, KernelOptions.EffectiveLevel);

    /// <summary>One contiguous chunk at a given level (worker threads get the caller's level: it is thread-static in tests).</summary>
    internal static void Run(ReadOnlySpan<float> x, Span<float> y, bool exact, SimdLevel level)
    {
        if (y.Length < x.Length) throw new ArgumentException($"y has {y.Length} elements, x {x.Length}", nameof(y));
        int i = 0, n = x.Length;
        if (level == SimdLevel.Avx512)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                (exact ? Exact512(v) : Tanh512(v)).CopyTo(y.Slice(i, 16));
            }
        else if (level == SimdLevel.Avx2)
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                (exact ? Exact256(v) : Tanh256(v)).CopyTo(y.Slice(i, 8));
            }
        for (; i < n; i++) y[i] = exact ? ExactScalar(x[i]) : TanhScalar(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float ExactScalar(float x)
    {
        // q = 1 − erf(|x|/√2); gelu = 0.5·x·(1 + erf(x/√2)) = 0.5·x·(2 − q) for x ≥ 0, 0.5·x·q below.
        float z = MathF.Abs(x) * InvSqrt2, t = 1f / (1f + P * z);
        float q = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * MathF.Exp(-z * z);
        return 0.5f * x * (x >= 0 ? 2f - q : q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float TanhScalar(float x)
    {
        float u = Sqrt2OverPi * (x + Cubic * x * x * x);
        return x / (1f + MathF.Exp(-2f * u));
    }

    static Vector512<float> Exact512(Vector512<float> x)
    {
        var z = Vector512.Abs(x) * InvSqrt2;
        var t = Vector512<float>.One / (Vector512<float>.One + z * P);
        var poly = ((((Vector512.Create(A5) * t + Vector512.Create(A4)) * t + Vector512.Create(A3)) * t + Vector512.Create(A2)) * t + Vector512.Create(A1)) * t;
        var q = poly * Vector512.Exp(-(z * z));
        var factor = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512.Create(2f) - q, q);
        return x * factor * 0.5f;
    }

    static Vector256<float> Exact256(Vector256<float> x)
    {
        var z = Vector256.Abs(x) * InvSqrt2;
        var t = Vector256<float>.One / (Vector256<float>.One + z * P);
        var poly = ((((Vector256.Create(A5) * t + Vector256.Create(A4)) * t + Vector256.Create(A3)) * t + Vector256.Create(A2)) * t + Vector256.Create(A1)) * t;
        var q = poly * Vector256.Exp(-(z * z));
        var factor = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256.Create(2f) - q, q);
        return x * factor * 0.5f;
    }

    static Vector512<float> Tanh512(Vector512<float> x)
    {
        var u = (x + x * x * x * Cubic) * Sqrt2OverPi;
        return x / (Vector512<float>.One + Vector512.Exp(u * -2f));
    }

    static Vector256<float> Tanh256(Vector256<float> x)
    {
        var u = (x + x * x * x * Cubic) * Sqrt2OverPi;
        return x / (Vector256<float>.One + Vector256.Exp(u * -2f));
    }

    /// <summary>Naive reference of <see cref="Exact"/>: erf in double (series, then continued fraction), independent of
    /// the approximation the fast kernel uses.</summary>
    public static void ExactNaive(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = (float)(0.5 * x[i] * (1 + Erf(x[i] / Math.Sqrt(2))));
    }

    /// <summary>Naive reference of <see cref="Tanh"/>, in double with <see cref="Math.Tanh"/>.</summary>
    public static void TanhNaive(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            y[i] = (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
        }
    }

    /// <summary>erf in double: the Maclaurin series for |z| &lt; 3 (terms stay below 1e4: no cancellation worth
    /// mentioning), else 1 − erfc from its continued fraction (exact to double for z ≥ 3).</summary>
    internal static double Erf(double z)
    {
        double a = Math.Abs(z), r;
        if (a < 3)
        {
            double term = a, sum = a;
            for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
            {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(a) = exp(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …))))), evaluated from the tail.
            double f = a;
            for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return z < 0 ? -r : r;
    }
}
