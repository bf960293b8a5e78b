using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>Numerically stable softmax of one row; entries of -inf (masked) get probability 0.</summary>
public static class Softmax
{
    public static void Row(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) { y.Clear(); return; }
        TensorPrimitives.Subtract(x, max, y);
        TensorPrimitives.Exp(y, y);
        float sum = TensorPrimitives.Sum(y);
        TensorPrimitives.Divide(y, sum, y);
    }

    public static void RowNaive(ReadOnlySpan<float> x, Span<float> y)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        if (double.IsNegativeInfinity(max)) { y.Clear(); return; }
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) y[i] = (float)(Math.Exp(x[i] - max) / sum);
    }
}
