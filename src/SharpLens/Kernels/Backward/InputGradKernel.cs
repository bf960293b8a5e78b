using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// dx[M,K] += dy[M,N] · W for an nn.Linear weight W [N, K] in its stored dtype: the backward's input gradient for a few
/// rows (<see cref="LinearBackward.InputGrad"/>). W is read as it is stored, row by row. At the AVX-512 level, bf16 and
/// fp32 weights take the direct path (InputGradKernel.Direct.cs): <see cref="InputGradMicroAvx512"/> reads each 32-column
/// strip of a block of W's rows where it lies and widens bf16 in registers, with no fp32 copy (measured on the 1.8B
/// shapes, 25 rows: 1.3–1.7× faster than the panels below). Otherwise a chunk of <see cref="ChunkRows"/> rows × a span of <see cref="SpanCols"/> columns is widened to fp32 into NR-column panels
/// ([panel][row][NR], the layout the GEMM microkernels read; a span of a row is one contiguous run of memory), then every
/// row tile of dy (packed once per call) runs the forward's register-blocked microkernel over each panel, adding into dx.
/// Each thread takes one column range of K (whole panels), so no two write the same dx. A span's panels (128 KB) stay
/// in L2 and each panel (8 KB at the AVX-512 level) in L1 while the row tiles pass over it.
/// </summary>
/// <remarks>
/// The forward GEMM on W viewed transposed (K-major, what this replaces for few rows) packs each panel from 64 bytes of
/// each of 256 rows pages apart, widening one element at a time: the hardware prefetchers cannot follow 256 streams, and
/// the 25-row backward of the 1.8B-shaped model ran its dx products 3–12× slower than the forward's products of the same
/// weights (measured under load; docs/benchmarks.md).
/// </remarks>
internal static unsafe partial class InputGradKernel
{
    /// <summary>Rows of W widened at once: the depth each microkernel call accumulates over.</summary>
    internal const int ChunkRows = 64;
    /// <summary>Rows of W per block of the direct (AVX-512 bf16 / fp32) path: the depth each microkernel call
    /// accumulates over (measured on the 1.8B shapes: 128 ~5 % faster than 64 on one thread, ~15 % on two; 256 and 512 no
    /// faster).</summary>
    internal const int DirectChunkRows = 128;
    /// <summary>Columns per unit of the direct path's split among threads (a column range wider than a span is walked a
    /// span at a time; measured: 1024 slower, 64–512 alike within the noise).</summary>
    internal const int DirectSplit = 256;
    /// <summary>Columns of W (of dx) per span, rounded down to whole panels.</summary>
    internal const int SpanCols = 512;
    /// <summary>Floats after each panel (one cache line).</summary>
    const int PanelPad = 16;
    /// <summary>Largest M routed here by default; above it the packed GEMM on W viewed transposed, whose blocking
    /// reuses each packed panel across many more rows, is faster (measured: see <see cref="LinearBackward.InputGrad"/>).</summary>
    internal const int DefaultMaxM = 128;

    /// <summary>Test hook for the calling thread: overrides <see cref="DefaultMaxM"/> (0 = never, int.MaxValue = always).</summary>
    [ThreadStatic] internal static int? ForcedMaxM;

    /// <summary>Test hook for the calling thread: the AVX-512 level widens bf16 and fp32 weights into panels, as it does f16
    /// ones, instead of reading them directly.</summary>
    [ThreadStatic] internal static bool NoDirect;

    /// <summary>Whether a product with m rows of dy and weight w takes this path (a <see cref="WeightMatrix.Transposed"/>
    /// weight is read row by row by the forward GEMM already).</summary>
    public static bool Applies(int m, in WeightMatrix w) => !w.Transposed && m <= (ForcedMaxM ?? DefaultMaxM);

    /// <summary>dx[m, K] += dy[m, N] · W at the given level on up to maxThreads threads; dy and dx row-major, contiguous.</summary>
    public static void Run(float* dy, int m, in WeightMatrix w, float* dx, SimdLevel level, int maxThreads)
    {
        if (m == 0 || w.Rows == 0 || w.Cols == 0) return;
        if (level >= SimdLevel.Avx512 && Avx512F.IsSupported && w.DType != DType.F16 && !NoDirect)
        {
            if (w.DType == DType.BF16) RunDirect<Bf16Row32>(dy, m, w, dx, maxThreads);
            else RunDirect<F32Row32>(dy, m, w, dx, maxThreads);
            return;
        }
        switch (level)
        {
            case SimdLevel.Avx512: Run<Avx512Kernel>(dy, m, w, dx, level, maxThreads); break;
            case SimdLevel.Avx2: Run<Avx2Kernel>(dy, m, w, dx, level, maxThreads); break;
            default: Run<ScalarKernel>(dy, m, w, dx, level, maxThreads); break;
        }
    }

    static void Run<TK>(float* dy, int m, in WeightMatrix w, float* dx, SimdLevel level, int maxThreads) where TK : struct, IMicroKernel
    {
        int n = w.Rows, k = w.Cols;
        float* a = PackDy(dy, m, n, TK.MR, ChunkRows);
        nint pa = (nint)a, pdx = (nint)dx;
        var ww = w;
        // Column ranges of whole spans, tapered (a late or descheduled worker only takes fewer): each range walks every row
        // of W once, a span of each row (1 KB of bf16) at a time. (Measured, one thread, the 1.8B shapes: ranges of one
        // span as fast as one range for all of K; half-span ranges slower.)
        GemmDriver.ForEachColumnRange(k, SpanWidth(TK.NR), (long)m * n * k, maxThreads, ColumnSplit.Tapered,
            (c0, c1) => RunRange<TK>((float*)pa, m, ww, (float*)pdx, c0, c1, level));
    }

    /// <summary>dy [m, n] packed once, shared read-only with the workers: the chunk of W's rows from o0 holds its row tiles
    /// [kc][MR] at o0·tiles·MR (the calling thread's slot 1).</summary>
    static float* PackDy(float* dy, int m, int n, int MR, int chunkRows)
    {
        int tiles = (m + MR - 1) / MR;
        float* a = GemmThreadBuffer.Get((long)n * tiles * MR, slot: 1);
        for (int o0 = 0; o0 < n; o0 += chunkRows)
            GemmPack.PackA(dy + o0, n, m, Math.Min(chunkRows, n - o0), MR, a + (long)o0 * tiles * MR);
        return a;
    }

    /// <summary><see cref="SpanCols"/> in whole panels of NR columns.</summary>
    static int SpanWidth(int NR) => Math.Max(NR, SpanCols / NR * NR);

    /// <summary>
    /// Columns [c0, c1) of dx on the calling thread. Loop order chunk of W's rows → span (widen) → panel → row tile: a
    /// row's spans are read one after another while its chunk is current, and dx's range (25 rows × the range) stays in
    /// L2 across the chunks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunRange<TK>(float* a, int m, in WeightMatrix w, float* dx, int c0, int c1, SimdLevel level) where TK : struct, IMicroKernel
    {
        int n = w.Rows, k = w.Cols, MR = TK.MR, NR = TK.NR, tiles = (m + MR - 1) / MR;
        int spanMax = SpanWidth(NR), kcMax = Math.Min(ChunkRows, n);
        int panelsMax = (Math.Min(spanMax, c1 - c0) + NR - 1) / NR;
        // This thread's slot 0: the span's panels [panels][kc][NR] (each padded by a cache line, so that a row's pieces,
        // one per panel, do not all fall into the same L1 set), NR floats for the microkernel's ragged stores, and one
        // widened row of a span (f16).
        long panelFloats = (long)panelsMax * (kcMax * NR + PanelPad);
        float* b = GemmThreadBuffer.Get(panelFloats + NR + spanMax);
        float* scratch = b + panelFloats, row = scratch + NR;
        for (int o0 = 0; o0 < n; o0 += ChunkRows)
        {
            int kc = Math.Min(ChunkRows, n - o0);
            float* ac = a + (long)o0 * tiles * MR;
            for (int s0 = c0; s0 < c1; s0 += spanMax)
            {
                int width = Math.Min(spanMax, c1 - s0), panels = (width + NR - 1) / NR;
                // The block widened next, which the widening prefetches into L2 (one row of it per row widened) so that it
                // arrives while this block computes. (Prefetching a few rows ahead within the block left a 22 MB weight
                // ~2× slower than the widening and the products timed apart: the widening waited on memory.)
                var (no0, ns0) = s0 + spanMax < c1 ? (o0, s0 + spanMax) : (o0 + ChunkRows, c0);
                int nextRows = no0 < n ? Math.Min(ChunkRows, n - no0) : 0, nextWidth = Math.Min(spanMax, c1 - ns0);
                long panelStep = (long)kc * NR + PanelPad;
                WidenPanels(w, o0, kc, s0, width, NR, b, panelStep, row, level, no0, ns0, nextRows, nextWidth);
                for (int j = 0; j < panels; j++)
                {
                    int nr = Math.Min(NR, width - j * NR);
                    float* bp = b + j * panelStep;
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
    /// (into L2) the nextRows × nextWidth block at (nextO0, nextS0), one row per row widened.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void WidenPanels(in WeightMatrix w, int o0, int kc, int s0, int width, int NR, float* b, long panelStep, float* row,
        SimdLevel level, int nextO0, int nextS0, int nextRows, int nextWidth)
    {
        int size = DTypes.Size(w.DType);
        if (!Sse.IsSupported) nextRows = 0;
        for (int r = 0; r < kc; r++)
        {
            int o = o0 + r;
            byte* src = (byte*)w.Data + (o * w.RowStride + s0) * size;
            if (r < nextRows)
            {
                byte* ahead = (byte*)w.Data + ((nextO0 + r) * w.RowStride + nextS0) * size;
                for (int p = 0; p < nextWidth * size; p += 64) Sse.Prefetch1(ahead + p);  // never faults
            }
            float* dst = b + (long)r * NR;
            switch (w.DType)
            {
                case DType.BF16: WidenBf16((ushort*)src, width, dst, panelStep, NR, level); break;
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

    /// <summary><see cref="Scatter"/> of bf16 values, widened (16 at a time at the AVX-512 level, 8 at the AVX2 level).</summary>
    static void WidenBf16(ushort* src, int width, float* dst, long panelStep, int NR, SimdLevel level)
    {
        bool avx2 = level >= SimdLevel.Avx2 && Avx2.IsSupported, avx512 = level >= SimdLevel.Avx512 && Avx512F.IsSupported;
        for (int j0 = 0; j0 < width; j0 += NR, dst += panelStep)
        {
            int len = Math.Min(NR, width - j0), p = 0;
            ushort* s = src + j0;
            if (avx512)
                for (; p + 16 <= len; p += 16)
                    Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Avx.LoadVector256(s + p)), 16).AsSingle().Store(dst + p);
            if (avx2)
                for (; p + 8 <= len; p += 8)
                    Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(s + p)), 16).AsSingle().Store(dst + p);
            for (; p < len; p++) dst[p] = BitConverter.Int32BitsToSingle(s[p] << 16);
            for (; p < NR; p++) dst[p] = 0;
        }
    }
}
