using System.Numerics.Tensors;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// Backward of <see cref="Gemm.LinearForward"/> (y[M,N] = x[M,K] · Wᵀ + b): dx = dy · W, dW = dyᵀ · x, db = Σ_rows dy.
/// dx for a few rows (the backward of one prompt) streams W as stored through <see cref="InputGradKernel"/>; for many rows
/// it runs through the forward's GEMM with W viewed transposed ([K, N], read in place in its stored dtype, widened while
/// packing as in the forward). dW is an fp32 activation × activation product.
/// </summary>
public static unsafe class LinearBackward
{
    /// <summary>The weight W [N, K] seen as Wᵀ [K, N] without copying: the GEMM's transposed-view path reads it.</summary>
    public static WeightMatrix TransposedView(WeightMatrix w) =>
        new(w.Data, w.DType, w.Cols, w.Rows, w.RowStride, transposed: !w.Transposed);

    /// <summary>dx[M,K] += dy[M,N] · W (W = [N, K], stored dtype). <paramref name="scratch"/> has ≥ m·K floats (used
    /// only by the transposed-GEMM path: many rows, or a <see cref="WeightMatrix.Transposed"/> weight).</summary>
    public static void InputGrad(ReadOnlySpan<float> dy, int m, WeightMatrix w, Span<float> dx, Span<float> scratch)
    {
        int k = w.Cols, n = w.Rows;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), "negative row count");
        if (dy.Length < (long)m * n) throw new ArgumentException($"dy has {dy.Length} elements, need {m}×{n}", nameof(dy));
        if (dx.Length < (long)m * k) throw new ArgumentException($"dx has {dx.Length} elements, need {m}×{k}", nameof(dx));
        if (InputGradKernel.Applies(m, w))
        {
            if (w.Data == 0 && (long)n * k > 0) throw new ArgumentException("weight has no data", nameof(w));
            fixed (float* pdy = dy, pdx = dx)
                InputGradKernel.Run(pdy, m, w, pdx, KernelOptions.EffectiveLevel, KernelOptions.EffectiveThreads);
            return;
        }
        var t = scratch[..(m * k)];
        Gemm.LinearForward(dy, m, TransposedView(w), default, t);
        TensorPrimitives.Add(dx[..(m * k)], t, dx[..(m * k)]);
    }

    /// <summary>dW[N,K] += dyᵀ · x and db[N] += Σ_rows dy (db empty: no bias). <paramref name="scratch"/> has ≥ N·(M+K) floats.</summary>
    public static void WeightGrad(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int m, int n, int k, Span<float> dW, Span<float> db, Span<float> scratch)
    {
        var dyT = scratch[..(n * m)];                                     // [N, M]
        for (int r = 0; r < m; r++)
            for (int o = 0; o < n; o++) dyT[o * m + r] = dy[r * n + o];
        var prod = scratch.Slice(n * m, n * k);                            // [N, K]
        Gemm.MatMul(dyT, n, m, x, k, prod);
        TensorPrimitives.Add(dW[..(n * k)], prod, dW[..(n * k)]);
        if (!db.IsEmpty)
            for (int r = 0; r < m; r++) TensorPrimitives.Add(db[..n], dy.Slice(r * n, n), db[..n]);
    }

    /// <summary>Naive reference of <see cref="InputGrad"/> (double accumulation, element reads of W).</summary>
    public static void InputGradNaive(ReadOnlySpan<float> dy, int m, WeightMatrix w, Span<float> dx)
    {
        int n = w.Rows, k = w.Cols;
        for (int r = 0; r < m; r++)
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int o = 0; o < n; o++) s += (double)dy[r * n + o] * w[o, i];
                dx[r * k + i] += (float)s;
            }
    }

    /// <summary>Naive reference of <see cref="WeightGrad"/>.</summary>
    public static void WeightGradNaive(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int m, int n, int k, Span<float> dW, Span<float> db)
    {
        for (int o = 0; o < n; o++)
        {
            for (int i = 0; i < k; i++)
            {
                double s = 0;
                for (int r = 0; r < m; r++) s += (double)dy[r * n + o] * x[r * k + i];
                dW[o * k + i] += (float)s;
            }
            if (!db.IsEmpty)
            {
                double s = 0;
                for (int r = 0; r < m; r++) s += dy[r * n + o];
                db[o] += (float)s;
            }
        }
    }
}
