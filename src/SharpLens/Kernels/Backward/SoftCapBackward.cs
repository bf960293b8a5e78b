using System.Runtime.Intrinsics;

namespace SharpLens.Kernels;

/// <summary>
/// Backward of <see cref="SoftCap"/> (Gemma 2's attention scores and final logits). For y = c·tanh(x/c),
/// dy/dx = 1 − tanh²(x/c) = 1 − (y/c)², so the slope comes from the capped values the forward kept:
/// dx = dy ⊙ (1 − (y/c)²). y/c is clamped to [−1, 1] first: a masked score (−∞) gets slope 0, not NaN, and fp32
/// rounding of y near ±c cannot make the slope negative.
/// </summary>
public static class SoftCapBackward
{
    /// <summary>dx = dy ⊙ (1 − (y/c)²) for the capped values <paramref name="y"/>; dx may be dy (in place); c &gt; 0.</summary>
    public static void Apply(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, float cap) =>
        Run(y, dy, dx, cap, KernelOptions.EffectiveLevel);

    internal static void Run(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, float cap, SimdLevel level)
    {
        if (!(cap > 0)) throw new ArgumentOutOfRangeException(nameof(cap), cap, "a soft-cap must be positive");
        if (dy.Length != y.Length || dx.Length != y.Length) throw new ArgumentException("y, dy and dx must have the same length");
        float inv = 1f / cap;
        int i = 0, n = y.Length;
        if (level == SimdLevel.Avx512)
            for (; i + 16 <= n; i += 16)
            {
                var t = Vector512.Clamp(Vector512.Create(y.Slice(i, 16)) * inv, Vector512.Create(-1f), Vector512<float>.One);
                (Vector512.Create(dy.Slice(i, 16)) * (Vector512<float>.One - t * t)).CopyTo(dx.Slice(i, 16));
            }
        else if (level == SimdLevel.Avx2)
            for (; i + 8 <= n; i += 8)
            {
                var t = Vector256.Clamp(Vector256.Create(y.Slice(i, 8)) * inv, Vector256.Create(-1f), Vector256<float>.One);
                (Vector256.Create(dy.Slice(i, 8)) * (Vector256<float>.One - t * t)).CopyTo(dx.Slice(i, 8));
            }
        for (; i < n; i++) dx[i] = dy[i] * Slope(y[i], cap);
    }

    /// <summary>dy/dx of the cap at the capped value <paramref name="y"/>: 1 − (y/c)², clamped as <see cref="Apply"/>.</summary>
    public static float Slope(float y, float cap)
    {
        float t = Math.Clamp(y / cap, -1f, 1f);
        return 1f - t * t;
    }

    /// <summary>Naive reference of <see cref="Apply"/> in double.</summary>
    public static void ApplyNaive(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, float cap)
    {
        for (int i = 0; i < y.Length; i++)
        {
            double t = Math.Clamp(y[i] / (double)cap, -1, 1);
            dx[i] = (float)(dy[i] * (1 - t * t));
        }
    }
}
