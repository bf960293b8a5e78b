using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using SharpLens.Loading;

namespace SharpLens.Kernels;

internal static unsafe partial class InputGradKernel
{
    /// <summary>The AVX-512 path for bf16 and fp32 weights: <see cref="InputGradMicroAvx512"/> reads each 32-column strip of
    /// W's rows where it lies (no widened panels); dy packed once per call in its 13-row tiles.</summary>
    static void RunDirect<TW>(float* dy, int m, in WeightMatrix w, float* dx, int maxThreads) where TW : struct, IWeightRow32
    {
        int n = w.Rows, k = w.Cols;
        float* a = PackDy(dy, m, n, InputGradMicroAvx512.MR, DirectChunkRows);
        nint pa = (nint)a, pdx = (nint)dx;
        var ww = w;
        GemmDriver.ForEachColumnRange(k, DirectSplit, (long)m * n * k, maxThreads, ColumnSplit.Tapered,
            (c0, c1) => RunDirectRange<TW>((float*)pa, m, ww, (float*)pdx, c0, c1));
    }

    /// <summary>
    /// Columns [c0, c1) of dx on the calling thread, in the order of <see cref="RunRange{TK}"/> (chunk of W's rows → span →
    /// strip of 32 columns → row tile): a block of a chunk's rows × a span (1 KB of each bf16 row) is read from memory by
    /// its first strip's first tile and from cache after, while the first tile of each strip prefetches a part of the next
    /// block into L2, one line per step. A ragged last strip is copied, zero-padded, into a [kc][32] buffer first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunDirectRange<TW>(float* a, int m, in WeightMatrix w, float* dx, int c0, int c1) where TW : struct, IWeightRow32
    {
        const int NR = InputGradMicroAvx512.NR;
        int n = w.Rows, k = w.Cols, MR = InputGradMicroAvx512.MR, tiles = (m + MR - 1) / MR, size = TW.Size;
        int spanMax = SpanWidth(NR);
        long ldw = w.RowStride * size;
        float* scratch = GemmThreadBuffer.Get(NR + (long)DirectChunkRows * NR);
        byte* pad = (byte*)(scratch + NR);
        bool prefetch = Sse.IsSupported;
        for (int o0 = 0; o0 < n; o0 += DirectChunkRows)
        {
            int kc = Math.Min(DirectChunkRows, n - o0);
            float* ac = a + (long)o0 * tiles * MR;
            byte* rows = (byte*)w.Data + o0 * ldw;
            for (int s0 = c0; s0 < c1; s0 += spanMax)
            {
                int width = Math.Min(spanMax, c1 - s0), strips = (width + NR - 1) / NR;
                var (no0, ns0) = s0 + spanMax < c1 ? (o0, s0 + spanMax) : (o0 + DirectChunkRows, c0);
                int nextRows = no0 < n ? Math.Min(DirectChunkRows, n - no0) : 0, nextBytes = Math.Min(spanMax, c1 - ns0) * size;
                byte* next = (byte*)w.Data + no0 * ldw + (long)ns0 * size;
                // The first tiles of the strips walk the next block row by row (a DRAM page at a time; measured as fast as
                // or faster than walking down its columns, one line of each row per step, and much faster than a burst of
                // prefetches per strip); what this block's steps do not cover (a narrower last span) is prefetched now.
                int rowBytes = (nextBytes + 63) & ~63, stepBytes = 32 * size;
                long lines = prefetch ? (long)nextRows * (rowBytes / 64) : 0, covered = (long)strips * kc * stepBytes / 64;
                for (long l = covered; l < lines; l++) Sse.Prefetch1(next + l / (rowBytes / 64) * ldw + l % (rowBytes / 64) * 64);
                for (int j = 0; j < strips; j++)
                {
                    int nr = Math.Min(NR, width - j * NR);
                    byte* bp = rows + (long)(s0 + j * NR) * size;
                    long ld = ldw;
                    if (nr < NR)
                    {
                        for (int r = 0; r < kc; r++)
                        {
                            Buffer.MemoryCopy(bp + r * ldw, pad + r * NR * size, nr * size, nr * size);
                            new Span<byte>(pad + (r * NR + nr) * size, (NR - nr) * size).Clear();
                        }
                        bp = pad; ld = NR * size;
                    }
                    for (int t = 0; t < tiles; t++)
                    {
                        var (i0, rs) = GemmPack.TileRows(m, MR, t);
                        long g = (long)j * kc * stepBytes;       // bytes of the walk before this strip's
                        byte* pf = t > 0 || lines == 0 ? null : next + g / rowBytes * ldw;
                        InputGradMicroAvx512.Run<TW>(kc, ac + (long)t * kc * MR, bp, ld, dx + (long)i0 * k + s0 + j * NR, k, rs, nr, scratch,
                            pf, ldw, (int)(g % rowBytes), rowBytes);
                    }
                }
            }
        }
    }
}
