using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// Matrix multiplication for the numeric core. Weights stay in their stored dtype (bf16/f16/f32) and
/// are widened to fp32 panel by panel while packing; arithmetic is fp32 with FMA. Dispatches
/// AVX-512 → AVX2 → scalar per <see cref="KernelOptions.EffectiveLevel"/> and splits N across up to
/// <see cref="KernelOptions.MaxThreads"/> threads (single-threaded for small problems).
/// </summary>
public static unsafe class Gemm
{
    /// <summary>
    /// y[M,N] = x[M,K] · Wᵀ (+ bias[N] when <paramref name="bias"/> is non-empty), with W = [N, K]
    /// (<c>w.Rows</c> = N, <c>w.Cols</c> = K) in its stored dtype; x and y are fp32, row-major, contiguous. A
    /// <see cref="WeightMatrix.Transposed"/> view (a <c>Conv1D</c> weight stored [K, N]) is read in place, through the
    /// packed path.
    /// </summary>
    /// <param name="x">Input activations, length ≥ m·K.</param>
    /// <param name="m">Number of rows (tokens) in x and y.</param>
    /// <param name="w">The weight view; strided views (<see cref="WeightMatrix.ColSlice"/>) are fine.</param>
    /// <param name="bias">Empty, or length ≥ N.</param>
    /// <param name="y">Destination, length ≥ m·N; overwritten. Must not overlap x.</param>
    /// <remarks>m ≤ 48 takes a dot-product path that widens W rows in place; larger m packs transposed
    /// W panels for a register-blocked microkernel. Results agree to fp32 rounding, not bit-for-bit.</remarks>
    public static void LinearForward(ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        Check(x, m, w, bias, y);
        if (m == 0 || n == 0) return;
        if (k == 0) { FillBias(bias, m, n, y); return; }
        fixed (float* px = x, pb = bias, py = y)
            GemmDriver.Run(px, m, k, BOperand.FromWeight(w), n, bias.IsEmpty ? null : pb, py,
                KernelOptions.EffectiveLevel, KernelOptions.EffectiveThreads);
    }

    /// <summary>Naive reference for <see cref="LinearForward"/> (same contract; triple loop, double accumulation).</summary>
    public static void LinearForwardNaive(ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        Check(x, m, w, bias, y);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias.IsEmpty ? 0 : bias[j];
                for (int p = 0; p < k; p++) s += (double)x[i * k + p] * w[j, p];
                y[i * n + j] = (float)s;
            }
    }

    /// <summary>c[M,N] = a[M,K] · b[K,N], all fp32 row-major contiguous (activation × activation products).</summary>
    /// <param name="a">Left operand, length ≥ m·k.</param>
    /// <param name="m">Rows of a and c.</param>
    /// <param name="k">Columns of a = rows of b.</param>
    /// <param name="b">Right operand, length ≥ k·n.</param>
    /// <param name="n">Columns of b and c.</param>
    /// <param name="c">Destination, length ≥ m·n; overwritten. Must not overlap a or b.</param>
    public static void MatMul(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c)
    {
        CheckMatMul(a, m, k, b, n, c);
        if (m == 0 || n == 0) return;
        if (k == 0) { c[..(m * n)].Clear(); return; }
        fixed (float* pa = a, pb = b, pc = c)
            GemmDriver.Run(pa, m, k, BOperand.FromKN(pb, n), n, null, pc,
                KernelOptions.EffectiveLevel, KernelOptions.EffectiveThreads);
    }

    /// <summary>Naive reference for <see cref="MatMul"/> (same contract; double accumulation).</summary>
    public static void MatMulNaive(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c)
    {
        CheckMatMul(a, m, k, b, n, c);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[p * n + j];
                c[i * n + j] = (float)s;
            }
    }

    static void FillBias(ReadOnlySpan<float> bias, int m, int n, Span<float> y)
    {
        for (int i = 0; i < m; i++)
        {
            var row = y.Slice(i * n, n);
            if (bias.IsEmpty) row.Clear(); else bias[..n].CopyTo(row);
        }
    }

    static void Check(ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        if (m < 0 || k < 0 || n < 0) throw new ArgumentOutOfRangeException(nameof(m), "negative dimension");
        if (x.Length < (long)m * k) throw new ArgumentException($"x has {x.Length} elements, need {m}×{k}", nameof(x));
        if (y.Length < (long)m * n) throw new ArgumentException($"y has {y.Length} elements, need {m}×{n}", nameof(y));
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"bias has {bias.Length} elements, need {n}", nameof(bias));
        if (w.Data == 0 && (long)n * k > 0) throw new ArgumentException("weight has no data", nameof(w));
        if (w.RowStride < (w.Transposed ? n : k)) throw new ArgumentException("weight RowStride < its stored row length", nameof(w));
    }

    static void CheckMatMul(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c)
    {
        if (m < 0 || k < 0 || n < 0) throw new ArgumentOutOfRangeException(nameof(m), "negative dimension");
        if (a.Length < (long)m * k) throw new ArgumentException($"a has {a.Length} elements, need {m}×{k}", nameof(a));
        if (b.Length < (long)k * n) throw new ArgumentException($"b has {b.Length} elements, need {k}×{n}", nameof(b));
        if (c.Length < (long)m * n) throw new ArgumentException($"c has {c.Length} elements, need {m}×{n}", nameof(c));
    }
}
