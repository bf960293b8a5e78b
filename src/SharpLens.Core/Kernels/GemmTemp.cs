using SharpLens.Loading;

namespace SharpLens.Kernels;

// TEMPORARY until the packed GEMM lands: naive y = x·Wᵀ + b.
public static class Gemm
{
    public static void LinearForward(ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        var row = new float[k];
        for (int j = 0; j < n; j++)
        {
            w.ReadRow(j, row);
            for (int i = 0; i < m; i++)
            {
                float s = System.Numerics.Tensors.TensorPrimitives.Dot(x.Slice(i * k, k), row);
                y[i * n + j] = s + (bias.IsEmpty ? 0 : bias[j]);
            }
        }
    }
}
