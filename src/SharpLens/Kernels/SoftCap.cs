using System.Runtime.Intrinsics;

namespace SharpLens.Kernels;

/// <summary>
/// Soft-capping (Gemma 2's attention scores and final logits): <c>y = c·tanh(x/c)</c>, which keeps |y| &lt; c and is the
/// identity near 0. Computed as <c>c − 2c/(exp(2x/c) + 1)</c>, the same function, finite for every finite x (exp
/// overflowing to +∞ gives c, underflowing to 0 gives −c), at <see cref="KernelOptions.EffectiveLevel"/>.
/// </summary>
public static class SoftCap
{
    /// <summary>x ← c·tanh(x/c) in place, on the calling thread; c &gt; 0.</summary>
    public static void Apply(Span<float> x, float cap) => Run(x, cap, KernelOptions.EffectiveLevel);

    internal static void Run(Span<float> x, float cap, SimdLevel level)
    {
        if (!(cap > 0)) throw new ArgumentOutOfRangeException(nameof(cap), cap, "a soft-cap must be positive");
        float k = 2f / cap, twoC = 2f * cap;
        int i = 0, n = x.Length;
        if (level == SimdLevel.Avx512)
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                (Vector512.Create(cap) - Vector512.Create(twoC) / (Vector512.Exp(v * k) + Vector512<float>.One)).CopyTo(x.Slice(i, 16));
            }
        else if (level == SimdLevel.Avx2)
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                (Vector256.Create(cap) - Vector256.Create(twoC) / (Vector256.Exp(v * k) + Vector256<float>.One)).CopyTo(x.Slice(i, 8));
            }
        for (; i < n; i++) x[i] = cap - twoC / (MathF.Exp(x[i] * k) + 1f);
    }

    /// <summary>Naive reference of <see cref="Apply"/>: <see cref="Math.Tanh"/> in double.</summary>
    public static void ApplyNaive(Span<float> x, float cap)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(cap * Math.Tanh(x[i] / (double)cap));
    }
}
