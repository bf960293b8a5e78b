using System.Runtime.CompilerServices;

namespace SharpLens.Kernels;

/// <summary>
/// The skinny path of y = x·Wᵀ for bf16 weights at the AVX-512 level: every row of x through
/// <see cref="Avx512Bf16DotKernel"/>, which widens the weights in registers as it reads them, so no widened copy of W is
/// written or read back. (A widening pass before the fp32 <see cref="Avx512DotKernel"/>, the path f16 weights still
/// take, held bf16 to about half a core's FMA peak: docs/benchmarks.md.) x is packed once per call, in K-spans, in the
/// kernel's 32-block even/odd order; N is split across threads in tapered chunks of whole 4-row groups.
/// </summary>
internal static unsafe class GemmSkinnyBf16Avx512
{
    /// <summary>Most bytes of packed x in one K-span: every block of weight groups re-reads the span's x from L2.</summary>
    internal const int SpanBytes = 256 * 1024;
    /// <summary>Longest K-span: a 5-row tile of x for one span (20 KB at 1024) stays in L1 while the groups of a block
    /// pass over it. (Measured with blocks of 16 groups, two threads, 40 mapped 25×2048×5504 products: 1024 ahead of
    /// 512 and 2048.)</summary>
    internal const int MaxSpan = 1024;
    /// <summary>Weight groups (of 4 rows) per block: the block's weights for one span (128 KB of bf16) stay in L2 while
    /// each row tile of x passes over them. (Measured, two threads, 40 mapped 25×2048×5504 products: 228 GFLOP/s with
    /// the row tiles innermost, 288 with blocks of 16; 32 and 64 the same as 16.)</summary>
    internal const int GroupBlock = 16;

    /// <summary>y[m,n] = x[m,k]·Wᵀ (+bias); w: [n, k] bf16 weights (not K-major).</summary>
    public static void Run(float* x, int m, int k, in BOperand w, int n, float* bias, float* y, int maxThreads)
    {
        int span = SpanLength(m, k);
        float* packed = PackX(x, m, k, span);
        nint px = (nint)packed, pbias = (nint)bias, py = (nint)y;
        BOperand ww = w;
        GemmDriver.ForEachColumnRange(n, Avx512Bf16DotKernel.NR, (long)m * n * k, maxThreads, ColumnSplit.Tapered,
            (n0, n1) => RunRange((float*)px, m, k, span, ww, (float*)pbias, (float*)py, n, n0, n1));
    }

    /// <summary>The K-span: all of K when m rows of it fit <see cref="SpanBytes"/> and <see cref="MaxSpan"/>, else the
    /// longest multiple of the 32-element block that does (at least one block).</summary>
    internal static int SpanLength(int m, int k)
    {
        int fit = Math.Min(MaxSpan, SpanBytes / (sizeof(float) * Math.Max(1, m)));
        return k <= fit ? k : Math.Max(1, fit / Avx512Bf16DotKernel.Block) * Avx512Bf16DotKernel.Block;
    }

    /// <summary>packed[s][i][p] = x[i, s·span + p] in the kernel's even/odd order (<see cref="Avx512Bf16DotKernel.PackRow"/>):
    /// each span's rows contiguous, span floats apart. The calling thread's slot 1, shared read-only with the workers.</summary>
    static float* PackX(float* x, int m, int k, int span)
    {
        int spans = (k + span - 1) / span;
        float* packed = GemmThreadBuffer.Get((long)spans * m * span, slot: 1);
        for (int s = 0; s < spans; s++)
        {
            int kb = s * span, len = Math.Min(span, k - kb);
            for (int i = 0; i < m; i++)
                Avx512Bf16DotKernel.PackRow(x + (long)i * k + kb, packed + ((long)s * m + i) * span, len);
        }
        return packed;
    }

    /// <summary>
    /// Columns [n0, n1) of y (row stride ldy) on the calling thread. Loop order span → block of
    /// <see cref="GroupBlock"/> weight groups → row tile of x → group: a row tile's x for the span stays in L1 while the
    /// block's groups pass over it, and the block's weights (read from memory by the first row tile) stay in L2 for the
    /// other tiles. Every tiles-th call prefetches (into L2) one group of the next block, so that the next block's weights
    /// are requested evenly over the block's time (measured, two threads, mapped 25-row products of the 1.8B shapes: +3 %
    /// against the last tile prefetching all of them). The first span writes y (+ bias), later ones add to it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunRange(float* x, int m, int k, int span, in BOperand w, float* bias, float* y, int ldy, int n0, int n1)
    {
        const int MR = Avx512Bf16DotKernel.MR, NR = Avx512Bf16DotKernel.NR, BlockCols = GroupBlock * NR;
        int tiles = (m + MR - 1) / MR;
        long stride = w.Stride;
        for (int kb = 0; kb < k; kb += span)
        {
            int kd = Math.Min(span, k - kb);
            float* xs = x + (long)(kb / span) * m * span;
            bool first = kb == 0;
            for (int b0 = n0; b0 < n1; b0 += BlockCols)
            {
                int b1 = Math.Min(n1, b0 + BlockCols), groups = (b1 - b0 + NR - 1) / NR;
                for (int t = 0; t < tiles; t++)
                {
                    var (i0, rows) = GemmPack.TileRows(m, MR, t);
                    for (int j0 = b0; j0 < b1; j0 += NR)
                    {
                        ushort* wp = (ushort*)w.Data + j0 * stride + kb;
                        // Call c of the block's tiles × groups calls fetches, when c is a multiple of tiles, group c / tiles of
                        // the next block: its weights arrive spread over the block's time (the kernel prefetches 4 rows).
                        int c = t * groups + (j0 - b0) / NR, next = b0 + BlockCols + c / tiles * NR;
                        byte* ahead = c % tiles == 0 && next + NR <= n1 ? (byte*)((ushort*)w.Data + next * stride + kb) : null;
                        Avx512Bf16DotKernel.Run(kd, xs + (long)i0 * span, span, wp, stride, rows, Math.Min(NR, n1 - j0),
                            y + (long)i0 * ldy + j0, ldy, first && bias != null ? bias + j0 : null, !first, ahead, stride * sizeof(ushort));
                    }
                }
            }
        }
    }
}
