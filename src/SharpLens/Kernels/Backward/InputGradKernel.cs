using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// dx[M,K] += dy[M,N] · W for an nn.Linear weight W [N, K] in its stored dtype: the backward's input gradient for a few
/// rows (<see cref="LinearBackward.InputGrad"/>). W is read as it is stored, row by row: a chunk of
/// <see cref="ChunkRows"/> rows × a span of <see cref="SpanCols"/> columns is widened to fp32 into NR-column panels
/// ([panel][row][NR], the layout the GEMM microkernels read; a span of a row is one contiguous run of memory), then every
/// row tile of dy (packed once per call) runs the forward's register-blocked microkernel over each panel, adding into dx.
/// Threads take column ranges of K (whole panels), so no two write the same dx. The chunk's panels (128 KB) stay in L2,
/// each panel (16 KB at the AVX-512 level) in L1 while the row tiles pass over it, and 25 rows of dx for a span (25 KB)
/// stay in L1 or L2 across the chunks.
/// </summary>
/// <remarks>
/// The forward GEMM on W viewed transposed (K-major, what this replaces for few rows) packs each panel from 64 bytes of
/// each of 256 rows pages apart, widening one element at a time: the hardware prefetchers cannot follow 256 streams, and
/// the 25-row backward of the 1.8B-shaped model ran its dx products 3–12× slower than the forward's products of the same
/// weights (measured under load; docs/benchmarks.md).
/// </remarks>
internal static unsafe class InputGradKernel
{
    /// <summary>Rows of W widened at once: the depth each microkernel call accumulates over.</summary>
    internal const int ChunkRows = 128;
    /// <summary>Columns of W (of dx) per span, rounded down to whole panels. (Measured, one thread, 25 rows, the 1.8B
    /// shapes under load: chunks of 64, 128 and 256 rows and spans of 256, 512 and 1024 columns within the host's noise,
    /// 128 × 256 best or close to it at each shape.)</summary>
    internal const int SpanCols = 256;
    /// <summary>Largest M routed here by default; above it the packed GEMM on W viewed transposed, whose blocking
    /// reuses each packed panel across many more rows, is faster (measured: see <see cref="LinearBackward.InputGrad"/>).</summary>
    internal const int DefaultMaxM = 128;
    /// <summary>How many rows ahead the widening prefetches (into L2) the same span of W.</summary>
    const int PfRows = 4;

    /// <summary>Test hook for the calling thread: overrides <see cref="DefaultMaxM"/> (0 = never, int.MaxValue = always).</summary>
    [ThreadStatic] internal static int? ForcedMaxM;

    /// <summary>Whether a product with m rows of dy and weight w takes this path (a <see cref="WeightMatrix.Transposed"/>
    /// weight is read row by row by the forward GEMM already).</summary>
    public static bool Applies(int m, in WeightMatrix w) => !w.Transposed && m <= (ForcedMaxM ?? DefaultMaxM);

    /// <summary>dx[m, K] += dy[m, N] · W at the given level on up to maxThreads threads; dy and dx row-major, contiguous.</summary>
    public static void Run(float* dy, int m, in WeightMatrix w, float* dx, SimdLevel level, int maxThreads)
    {
        if (m == 0 || w.Rows == 0 || w.Cols == 0) return;
        switch (level)
        {
            case SimdLevel.Avx512: Run<Avx512Kernel>(dy, m, w, dx, true, maxThreads); break;
            case SimdLevel.Avx2: Run<Avx2Kernel>(dy, m, w, dx, true, maxThreads); break;
            default: Run<ScalarKernel>(dy, m, w, dx, false, maxThreads); break;
        }
    }

    static void Run<TK>(float* dy, int m, in WeightMatrix w, float* dx, bool simd, int maxThreads) where TK : struct, IMicroKernel
    {
        int n = w.Rows, k = w.Cols, MR = TK.MR, tiles = (m + MR - 1) / MR;
        // dy packed once, shared read-only with the workers: chunk c (its rows from o0) holds tiles [kc][MR] at o0·tiles·MR.
        float* a = GemmThreadBuffer.Get((long)n * tiles * MR, slot: 1);
        for (int o0 = 0; o0 < n; o0 += ChunkRows)
            GemmPack.PackA(dy + o0, n, m, Math.Min(ChunkRows, n - o0), MR, a + (long)o0 * tiles * MR);
        nint pa = (nint)a, pdx = (nint)dx;
        var ww = w;
        GemmDriver.ForEachColumnRange(k, TK.NR, (long)m * n * k, maxThreads, ColumnSplit.Tapered,
            (c0, c1) => RunRange<TK>((float*)pa, m, ww, (float*)pdx, c0, c1, simd));
    }

    /// <summary>Columns [c0, c1) of dx on the calling thread. Loop order span → chunk (widen) → panel → row tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunRange<TK>(float* a, int m, in WeightMatrix w, float* dx, int c0, int c1, bool simd) where TK : struct, IMicroKernel
    {
        int n = w.Rows, k = w.Cols, MR = TK.MR, NR = TK.NR, tiles = (m + MR - 1) / MR;
        int spanMax = Math.Max(NR, SpanCols / NR * NR), kcMax = Math.Min(ChunkRows, n);
        int panelsMax = (Math.Min(spanMax, c1 - c0) + NR - 1) / NR;
        // This thread's slot 0: the chunk's panels [panels][kc][NR], NR floats for the microkernel's ragged stores, and one
        // widened row of a span (f16).
        long panelFloats = (long)panelsMax * kcMax * NR;
        float* b = GemmThreadBuffer.Get(panelFloats + NR + spanMax);
        float* scratch = b + panelFloats, row = scratch + NR;
        for (int s0 = c0; s0 < c1; s0 += spanMax)
        {
            int width = Math.Min(spanMax, c1 - s0), panels = (width + NR - 1) / NR;
            for (int o0 = 0; o0 < n; o0 += ChunkRows)
            {
                int kc = Math.Min(ChunkRows, n - o0);
                WidenPanels(w, o0, kc, s0, width, NR, b, row, simd);
                float* ac = a + (long)o0 * tiles * MR;
                for (int j = 0; j < panels; j++)
                {
                    int nr = Math.Min(NR, width - j * NR);
                    float* bp = b + (long)j * kc * NR;
                    for (int t = 0; t < tiles; t++)
                    {
                        var (i0, rows) = GemmPack.TileRows(m, MR, t);
                        TK.Run(kc, ac + (long)t * kc * MR, bp, dx + (long)i0 * k + s0 + j * NR, k, rows, nr, null, true, scratch);
                    }
                }
            }
        }
    }

    /// <summary>
    /// b[j][r][0..NR) = widen(W[o0 + r, s0 + j·NR …]) for r &lt; kc, the panels' columns past width zero; also prefetches
    /// (into L2) the same span PfRows rows on, which the hardware prefetchers would reach only after a page miss.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void WidenPanels(in WeightMatrix w, int o0, int kc, int s0, int width, int NR, float* b, float* row, bool simd)
    {
        int size = DTypes.Size(w.DType);
        long rowBytes = w.RowStride * size, panelStep = (long)kc * NR;
        bool prefetch = Sse.IsSupported;
        for (int r = 0; r < kc; r++)
        {
            int o = o0 + r;
            byte* src = (byte*)w.Data + (o * w.RowStride + s0) * size;
            if (prefetch && o + PfRows < w.Rows)
                for (int p = 0; p < width * size; p += 64) Sse.Prefetch1(src + PfRows * rowBytes + p);  // never faults
            float* dst = b + (long)r * NR;
            switch (w.DType)
            {
                case DType.BF16: WidenBf16((ushort*)src, width, dst, panelStep, NR, simd); break;
                case DType.F16:
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, width), new Span<float>(row, width));
                    Scatter(row, width, dst, panelStep, NR);
                    break;
                default: Scatter((float*)src, width, dst, panelStep, NR); break;
            }
        }
    }

    /// <summary>Copies width floats into consecutive panels (NR of them each, panelStep apart), zero-filling the last.</summary>
    static void Scatter(float* src, int width, float* dst, long panelStep, int NR)
    {
        for (int j0 = 0; j0 < width; j0 += NR, dst += panelStep)
        {
            int len = Math.Min(NR, width - j0);
            new ReadOnlySpan<float>(src + j0, len).CopyTo(new Span<float>(dst, len));
            if (len < NR) new Span<float>(dst + len, NR - len).Clear();
        }
    }

    /// <summary><see cref="Scatter"/> of bf16 values, widened (8 at a time with AVX2 when simd).</summary>
    static void WidenBf16(ushort* src, int width, float* dst, long panelStep, int NR, bool simd)
    {
        bool avx2 = simd && Avx2.IsSupported;
        for (int j0 = 0; j0 < width; j0 += NR, dst += panelStep)
        {
            int len = Math.Min(NR, width - j0), p = 0;
            ushort* s = src + j0;
            if (avx2)
                for (; p + 8 <= len; p += 8)
                    Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(s + p)), 16).AsSingle().Store(dst + p);
            for (; p < len; p++) dst[p] = BitConverter.Int32BitsToSingle(s[p] << 16);
            for (; p < NR; p++) dst[p] = 0;
        }
    }
}
