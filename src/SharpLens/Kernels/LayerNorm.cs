using System.Numerics;
using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>
/// LayerNorm as GPT-2 computes it: <c>y = (x − mean(x)) / sqrt(mean((x − mean(x))²) + eps) ⊙ w + b</c>, in two steps
/// like <see cref="RmsNorm"/> so that TransformerLens' <c>hook_scale</c> (the denominator) can be read or replaced
/// between them.
/// </summary>
public static class LayerNorm
{
    /// <summary>The scale <c>sqrt(mean((x − mean)²) + eps)</c> of one row (centred first: the one-pass
    /// <c>E[x²] − E[x]²</c> loses the variance of a row with a large mean to cancellation).</summary>
    public static float Scale(ReadOnlySpan<float> x, double eps)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        var m = new Vector<float>(mean);
        var acc = Vector<float>.Zero;
        int i = 0;
        for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
        {
            var c = new Vector<float>(x[i..]) - m;
            acc += c * c;
        }
        float s = Vector.Sum(acc);
        for (; i < x.Length; i++) s += (x[i] - mean) * (x[i] - mean);
        return (float)Math.Sqrt((double)s / x.Length + eps);
    }

    /// <summary>y = (x − mean(x)) / scale ⊙ w + b for one row, with a given scale (hooks may have replaced it); b may be
    /// empty (no bias).</summary>
    public static void Apply(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        TensorPrimitives.Subtract(x, mean, y);
        TensorPrimitives.Multiply(y, 1f / scale, y);
        if (b.IsEmpty) TensorPrimitives.Multiply(y, w, y);
        else TensorPrimitives.MultiplyAdd(y, w, b, y);
    }

    /// <summary>Naive reference of <see cref="Scale"/>, in double.</summary>
    public static float ScaleNaive(ReadOnlySpan<float> x, double eps)
    {
        double mean = 0, s = 0;
        foreach (float v in x) mean += v;
        mean /= x.Length;
        foreach (float v in x) s += (v - mean) * (v - mean);
        return (float)Math.Sqrt(s / x.Length + eps);
    }

    /// <summary>Naive reference of <see cref="Apply"/>, in double.</summary>
    public static void ApplyNaive(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        double mean = 0;
        foreach (float v in x) mean += v;
        mean /= x.Length;
        for (int i = 0; i < x.Length; i++) y[i] = (float)((x[i] - mean) / scale * w[i] + (b.IsEmpty ? 0 : b[i]));
    }
}
