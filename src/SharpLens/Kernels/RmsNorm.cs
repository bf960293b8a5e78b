using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>RMSNorm as Qwen2/Llama compute it: <c>y = x / sqrt(mean(x²) + eps) ⊙ w</c>.</summary>
public static class RmsNorm
{
    /// <summary>The scale <c>sqrt(mean(x²) + eps)</c> of one row (TransformerLens' <c>hook_scale</c>).</summary>
    public static float Scale(ReadOnlySpan<float> x, double eps) =>
        (float)Math.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + eps);

    /// <summary>y = x / scale ⊙ w for one row, with a given scale (hooks may have replaced it).</summary>
    public static void Apply(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, Span<float> y)
    {
        TensorPrimitives.Multiply(x, w, y);
        TensorPrimitives.Multiply(y, 1f / scale, y);
    }

    /// <summary>Naive reference of <see cref="Scale"/> + <see cref="Apply"/>, in double.</summary>
    public static float ScaleNaive(ReadOnlySpan<float> x, double eps)
    {
        double s = 0;
        foreach (float v in x) s += (double)v * v;
        return (float)Math.Sqrt(s / x.Length + eps);
    }

    public static void ApplyNaive(ReadOnlySpan<float> x, float scale, ReadOnlySpan<float> w, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = (float)((double)x[i] / scale * w[i]);
    }
}
