using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// act(x) and act′(x) of every element at one instruction-set level (512-bit, 256-bit, scalar), the backward's twin of
/// <see cref="Activations"/> and <see cref="Gelu"/>, written so that the value and the slope share one exponential:
/// <list type="bullet">
/// <item>SiLU: σ = 1/(1 + e^−x), y = x·σ, y′ = σ·(1 + x·(1 − σ));</item>
/// <item>exact GELU: with z = |x|/√2 and q = 1 − erf(z) by Abramowitz &amp; Stegun 7.1.26 (as the forward),
/// Φ = 1 − q/2 for x ≥ 0 and q/2 below, y = x·Φ, y′ = Φ + x·φ with φ = e^−z²/√(2π) (the same e^−z² as q's);</item>
/// <item>tanh GELU: s = σ(2u), u = √(2/π)(x + 0.044715x³), so tanh u = 2s − 1; y = x·s,
/// y′ = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²).</item>
/// </list>
/// <see cref="ActivationBackward.DerivativeNaive"/> is the double-precision reference.
/// </summary>
internal static class ActivationDerivative
{
    const float C = 0.7978845608028654f, Cubic = 0.044715f, InvSqrt2 = 0.7071067811865476f, InvSqrt2Pi = 0.3989422804014327f;
    const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    /// <summary>y = act(x), dydx = act′(x) for every element at <paramref name="level"/>.</summary>
    public static void Run(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y, Span<float> dydx, SimdLevel level)
    {
        int i = 0, n = x.Length;
        if (y.Length < n || dydx.Length < n) throw new ArgumentException($"outputs shorter than x ({n})");
        if (level == SimdLevel.Avx512)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                var (a, d) = kind switch { ActivationKind.Silu => Silu(v), ActivationKind.GeluExact => GeluExact(v), _ => GeluTanh(v) };
                a.CopyTo(y.Slice(i, 16)); d.CopyTo(dydx.Slice(i, 16));
            }
        else if (level == SimdLevel.Avx2)
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var (a, d) = kind switch { ActivationKind.Silu => Silu(v), ActivationKind.GeluExact => GeluExact(v), _ => GeluTanh(v) };
                a.CopyTo(y.Slice(i, 8)); d.CopyTo(dydx.Slice(i, 8));
            }
        for (; i < n; i++)
            (y[i], dydx[i]) = kind switch { ActivationKind.Silu => Silu(x[i]), ActivationKind.GeluExact => GeluExact(x[i]), _ => GeluTanh(x[i]) };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (float, float) Silu(float x)
    {
        float s = 1f / (1f + MathF.Exp(-x));
        return (x * s, s * (1f + x * (1f - s)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (float, float) GeluExact(float x)
    {
        float z = MathF.Abs(x) * InvSqrt2, t = 1f / (1f + P * z), e = MathF.Exp(-z * z);
        float q = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * e;
        float cdf = x >= 0 ? 1f - 0.5f * q : 0.5f * q;
        return (x * cdf, cdf + x * e * InvSqrt2Pi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (float, float) GeluTanh(float x)
    {
        float s = 1f / (1f + MathF.Exp(-2f * C * (x + Cubic * x * x * x)));
        return (x * s, s + 2f * x * s * (1f - s) * C * (1f + 3f * Cubic * x * x));
    }

    static (Vector512<float>, Vector512<float>) Silu(Vector512<float> x)
    {
        var s = Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));
        return (x * s, s * (Vector512<float>.One + x * (Vector512<float>.One - s)));
    }

    static (Vector512<float>, Vector512<float>) GeluExact(Vector512<float> x)
    {
        var z = Vector512.Abs(x) * InvSqrt2;
        var t = Vector512<float>.One / (Vector512<float>.One + z * P);
        var e = Vector512.Exp(-(z * z));
        var q = ((((Vector512.Create(A5) * t + Vector512.Create(A4)) * t + Vector512.Create(A3)) * t + Vector512.Create(A2)) * t + Vector512.Create(A1)) * t * e;
        var cdf = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.One - q * 0.5f, q * 0.5f);
        return (x * cdf, cdf + x * e * InvSqrt2Pi);
    }

    static (Vector512<float>, Vector512<float>) GeluTanh(Vector512<float> x)
    {
        var s = Vector512<float>.One / (Vector512<float>.One + Vector512.Exp((x + x * x * x * Cubic) * (-2f * C)));
        return (x * s, s + x * 2f * s * (Vector512<float>.One - s) * C * (Vector512<float>.One + x * x * (3f * Cubic)));
    }

    static (Vector256<float>, Vector256<float>) Silu(Vector256<float> x)
    {
        var s = Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));
        return (x * s, s * (Vector256<float>.One + x * (Vector256<float>.One - s)));
    }

    static (Vector256<float>, Vector256<float>) GeluExact(Vector256<float> x)
    {
        var z = Vector256.Abs(x) * InvSqrt2;
        var t = Vector256<float>.One / (Vector256<float>.One + z * P);
        var e = Vector256.Exp(-(z * z));
        var q = ((((Vector256.Create(A5) * t + Vector256.Create(A4)) * t + Vector256.Create(A3)) * t + Vector256.Create(A2)) * t + Vector256.Create(A1)) * t * e;
        var cdf = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.One - q * 0.5f, q * 0.5f);
        return (x * cdf, cdf + x * e * InvSqrt2Pi);
    }

    static (Vector256<float>, Vector256<float>) GeluTanh(Vector256<float> x)
    {
        var s = Vector256<float>.One / (Vector256<float>.One + Vector256.Exp((x + x * x * x * Cubic) * (-2f * C)));
        return (x * s, s + x * 2f * s * (Vector256<float>.One - s) * C * (Vector256<float>.One + x * x * (3f * Cubic)));
    }
}
