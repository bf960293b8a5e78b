using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// The skinny path of y = x·Wᵀ (few rows of x, e.g. a prompt of 25 tokens or one decoded token):
/// the packed path's W transposition costs ~60% of its microkernel time at M = 25 (measured), so each group
/// of NR weight rows is widened to fp32 in place (row-major, no transpose, one KD-chunk at a time) and the rows of x
/// sweep past it: on AVX2 the first rows in blocks of up to 24 through the broadcast kernel
/// (<see cref="Avx2BcastKernel"/>, x transposed), the rest (fewer than 8, or all of them at other levels) through a
/// dot-product kernel (<see cref="IDotKernel"/>). bf16 weights are widened in the even/odd order of
/// <see cref="GemmSkinnyBf16"/> (x packed to match), on AVX2 by the chunk's first dot tile while it computes (in a pass of
/// its own when every row takes the broadcast kernel). N is split
/// across threads in tapered chunks (<see cref="ColumnSplit.Tapered"/>). bf16 weights at the AVX-512 level take
/// <see cref="GemmSkinnyBf16Avx512"/> instead, which widens them in registers and writes no copy.
/// </summary>
internal static unsafe class GemmSkinny
{
    /// <summary>Largest M routed here by default (above it the packed path amortises its packing).</summary>
    internal const int DefaultMaxM = 48;

    /// <summary>Test hook for the calling thread: overrides <see cref="DefaultMaxM"/> (0 = never, int.MaxValue = always).</summary>
    [ThreadStatic] internal static int? ForcedMaxM;

    /// <summary>Test hook for the calling thread (with one kernel thread): widen every bf16 chunk in a pass of its own.</summary>
    [ThreadStatic] internal static bool NoFusedFirstTile;

    /// <summary>Test hook for the calling thread: every row through the dot kernel (no <see cref="Avx2BcastKernel"/>).</summary>
    [ThreadStatic] internal static bool NoBroadcast;

    /// <summary>Test hook for the calling thread: bf16 weights at the AVX-512 level take the widening path with the dot
    /// kernel (<see cref="Avx512DotKernel"/>) instead of <see cref="GemmSkinnyBf16Avx512"/>.</summary>
    [ThreadStatic] internal static bool NoAvx512Bf16;

    /// <summary>Whether a weight product with m rows takes this path at the given level.</summary>
    public static bool Applies(int m, SimdLevel level) => level >= SimdLevel.Avx2 && m <= (ForcedMaxM ?? DefaultMaxM);

    /// <summary>K-chunk: the NR×KD fp32 W chunk (8 KiB for AVX2) stays in L1. (256 and 1024 measured 5–10 % slower with
    /// the dot kernel alone; with the broadcast kernel 256–1024 measured the same within the host's noise.)</summary>
    internal const int KD = 512;
    /// <summary>Most bytes of packed x one pass over the column range reads: a quarter of this machine's 512 KB L2
    /// (measured on the 24 mapped down projections, 25×5504×2048: +8–10 % at 256 KB, +15 % at 128 KB against one pass;
    /// no change for K = 2048).</summary>
    internal const int XBlockBytes = 128 * 1024;
    /// <summary>How many NR-row groups ahead <see cref="Widen"/> and, after the fused first tile, the broadcast kernel
    /// prefetch the weights (1–8 measured the same).</summary>
    const int PfGroups = 2;

    /// <summary>y[m,n] = x[m,k]·Wᵀ (+bias); w must be a [n, k] weight (not K-major).</summary>
    public static void Run(float* x, int m, int k, in BOperand w, int n, float* bias, float* y, SimdLevel level, int maxThreads)
    {
        if (level >= SimdLevel.Avx512 && w.DType == DType.BF16 && !NoAvx512Bf16)
            GemmSkinnyBf16Avx512.Run(x, m, k, w, n, bias, y, maxThreads);
        else if (level >= SimdLevel.Avx512) Run<Avx512DotKernel>(x, m, k, w, n, bias, y, maxThreads);
        else Run<Avx2DotKernel>(x, m, k, w, n, bias, y, maxThreads);
    }

    static void Run<TD>(float* x, int m, int k, in BOperand w, int n, float* bias, float* y, int maxThreads)
        where TD : struct, IDotKernel
    {
        int bcastRows = BroadcastRows<TD>(m);
        x = PackX(x, m, k, Math.Min(KD, k), evenOdd: w.DType == DType.BF16, bcastRows);
        nint px = (nint)x, pbias = (nint)bias, py = (nint)y;
        BOperand ww = w;
        GemmDriver.ForEachColumnRange(n, TD.NR, (long)m * n * k, maxThreads, ColumnSplit.Tapered,
            (n0, n1) => RunRange<TD>((float*)px, m, bcastRows, k, ww, (float*)pbias, (float*)py, n, n0, n1));
    }

    /// <summary>How many of the m rows (the first ones, a multiple of 8) the AVX2 broadcast kernel takes
    /// (<see cref="Avx2BcastKernel"/>); the dot kernel takes the rest, and every row below 8 rows.</summary>
    static int BroadcastRows<TD>(int m) where TD : struct, IDotKernel =>
        !NoBroadcast && typeof(TD) == typeof(Avx2DotKernel) && Avx2.IsSupported && Fma.IsSupported
            ? m - m % Avx2BcastKernel.RowBlock : 0;

    /// <summary>
    /// Copies x [m, k] into chunks of kd columns with each chunk's rows contiguous: packed[c][i][p] = x[i, c·kd + p]
    /// (the last chunk's rows keep stride kd), in the even/odd order of <see cref="GemmSkinnyBf16"/> when the weights
    /// are bf16. Read in place, a chunk's rows lie k floats apart, which for k a multiple of 1024 maps every row's lines
    /// onto the same L1 sets; packed, a chunk is one block the cache holds whole. Measured: 5–8 % off a 25-token forward
    /// of the 1.8B-shaped model. The first bcastRows rows are then also stored transposed, after the chunks, for the
    /// broadcast kernel (<see cref="TransposedBlock"/>). The buffer is the calling thread's slot 1, shared read-only with
    /// the workers.
    /// </summary>
    static float* PackX(float* x, int m, int k, int kd, bool evenOdd, int bcastRows)
    {
        int chunks = (k + kd - 1) / kd;
        float* packed = GemmThreadBuffer.Get((long)chunks * (m + bcastRows) * kd, slot: 1);
        for (int c = 0; c < chunks; c++)
        {
            int kb = c * kd, len = Math.Min(kd, k - kb);
            for (int i = 0; i < m; i++)
            {
                float* src = x + (long)i * k + kb, dst = packed + ((long)c * m + i) * kd;
                if (evenOdd) GemmSkinnyBf16.PackRow(src, dst, len);
                else new ReadOnlySpan<float>(src, len).CopyTo(new Span<float>(dst, len));
            }
            for (int i0 = 0; i0 < bcastRows; i0 += Avx2BcastKernel.MaxRows)
            {
                int rows = Math.Min(Avx2BcastKernel.MaxRows, bcastRows - i0);
                float* dst = TransposedBlock(packed, m, bcastRows, kd, chunks, kb, i0);
                for (int r0 = 0; r0 < rows; r0 += 8)
                    GemmPack.Transpose8Rows(packed + ((long)c * m + i0 + r0) * kd, kd, len, dst + r0, rows);
            }
        }
        return packed;
    }

    /// <summary>The broadcast kernel's x for rows [i0, i0 + 24) (or fewer) of the K-chunk starting at kb:
    /// xT[p][i] = packed x[i0 + i][p], rows·kd floats after the row-major chunks of <see cref="PackX"/>.</summary>
    static float* TransposedBlock(float* packed, int m, int bcastRows, int kdMax, int chunks, int kb, int i0) =>
        packed + (long)chunks * m * kdMax + (long)kb * bcastRows + (long)i0 * kdMax;

    /// <summary>
    /// Computes columns [n0, n1) of y (row stride ldy) on the calling thread, from x packed by <see cref="PackX"/>.
    /// Loop order kl → j0 → kb → x tiles: each W chunk [NR][kd] is widened once and stays in L1 while the packed x chunk
    /// streams past it from L2 — its first bcastRows rows in blocks of 24 through the broadcast kernel, the rest in row
    /// tiles through the dot kernel. The K range is cut into spans kl of at most <see cref="XBlockBytes"/>
    /// of x so that the x every group re-reads stays in L2 (one or two spans unless K is large: the MLP down projection's
    /// x is 25 × 5504 floats, 550 KB, more than this machine's 512 KB L2). (Measured: kb outermost with an L1-sized x
    /// block was slower with the dot kernel alone, and no faster with the broadcast kernel. Other measured dead ends:
    /// docs/benchmarks.md.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunRange<TD>(float* x, int m, int bcastRows, int k, in BOperand w, float* bias, float* y, int ldy, int n0, int n1)
        where TD : struct, IDotKernel
    {
        int MR = TD.MR, NR = TD.NR;
        int kdMax = Math.Min(KD, k), chunks = (k + kdMax - 1) / kdMax;
        int klMax = Math.Max(1, XBlockBytes / (sizeof(float) * m * kdMax)) * kdMax;
        bool f32 = w.DType == DType.F32;
        // Rows [bcastRows, m) go through the dot kernel in row tiles; with bf16 weights on AVX2, the first of those tiles
        // widens the chunk while it computes (GemmSkinnyBf16.FirstTileAvx2, 1–3 rows).
        int dotRows = m - bcastRows, tiles = (dotRows + MR - 1) / MR;
        int blocks = (bcastRows + Avx2BcastKernel.MaxRows - 1) / Avx2BcastKernel.MaxRows;
        bool fuseFirstTile = !NoFusedFirstTile && w.DType == DType.BF16 && typeof(TD) == typeof(Avx2DotKernel)
            && Avx2.IsSupported && Fma.IsSupported && tiles > 0;
        // wide [NR][kdMax]: the current group's W chunk widened to fp32 (none for f32 weights, read in place), then
        // yT [groups][blocks][4][24]: each group's broadcast-row totals across the K-chunks (Avx2BcastKernel.Run; none
        // when K is one chunk).
        long wideFloats = f32 ? 0 : ((long)NR * kdMax + 15) & ~15L;
        long groupT = (long)blocks * Avx2BcastKernel.NR * Avx2BcastKernel.MaxRows;
        float* scratch = GemmThreadBuffer.Get(wideFloats + (chunks > 1 ? (n1 - n0 + NR - 1) / NR * groupT : 0));
        float* wide = f32 ? null : scratch, yT = scratch + wideFloats;
        for (int kl = 0; kl < k; kl += klMax)
        {
            int klEnd = Math.Min(k, kl + klMax);
            for (int j0 = n0; j0 < n1; j0 += NR)
            {
                int nr = Math.Min(NR, n1 - j0);
                for (int kb = kl; kb < klEnd; kb += kdMax)
                {
                    int kd = Math.Min(kdMax, k - kb);
                    float* wp;
                    long ldw;
                    bool first = kb == 0, last = kb + kd == k;
                    float* bp = first && bias != null ? bias + j0 : null;
                    int t = 0;
                    bool fused = false;
                    if (f32) { wp = (float*)w.Data + j0 * w.Stride + kb; ldw = w.Stride; }
                    else if (fuseFirstTile && nr == NR && kd % 16 == 0)
                    {
                        var (i0, rows) = GemmPack.TileRows(dotRows, MR, 0);
                        i0 += bcastRows;
                        GemmSkinnyBf16.FirstTileAvx2(rows, kd, x + ((long)kb * m + (long)i0 * kdMax), kdMax,
                            (ushort*)w.Data + j0 * w.Stride + kb, w.Stride, wide, kdMax, y + (long)i0 * ldy + j0, ldy, bp, !first);
                        wp = wide; ldw = kdMax; t = 1; fused = true;
                    }
                    else { Widen(w, j0, nr, kb, kd, wide, kdMax, NR); wp = wide; ldw = kdMax; }
                    // The fused tile reads W straight from memory, and each row of a group starts a page the hardware
                    // prefetchers reach late: the first broadcast call fetches the same chunk of the group PfGroups on
                    // from inside its loop. (A burst of prefetches before a call cost more than it saved, measured; with
                    // fewer than 8 rows there is no broadcast call and no prefetch: spreading one over the 1–2 dot tiles
                    // measured no better.)
                    byte* ahead = fused && j0 + (PfGroups + 1) * NR <= n1
                        ? (byte*)((ushort*)w.Data + (j0 + PfGroups * NR) * w.Stride + kb) : null;
                    for (int b = 0; b < blocks; b++)
                    {
                        int i0 = b * Avx2BcastKernel.MaxRows, rows = Math.Min(Avx2BcastKernel.MaxRows, bcastRows - i0);
                        Avx2BcastKernel.Run(kd, TransposedBlock(x, m, bcastRows, kdMax, chunks, kb, i0), rows / Avx2BcastKernel.RowBlock,
                            wp, ldw, nr, y + (long)i0 * ldy + j0, ldy, bp, first, last,
                            yT + (j0 - n0) / NR * groupT + (long)b * Avx2BcastKernel.NR * Avx2BcastKernel.MaxRows,
                            b == 0 ? ahead : null, w.Stride * sizeof(ushort));
                    }
                    for (; t < tiles; t++)
                    {
                        var (i0, rows) = GemmPack.TileRows(dotRows, MR, t);
                        i0 += bcastRows;
                        TD.Run(kd, x + ((long)kb * m + (long)i0 * kdMax), kdMax, wp, ldw, rows, nr, y + (long)i0 * ldy + j0, ldy, bp, !first);
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[r·ldd + p] = widen(W[j0 + r, kb + p]) for r &lt; nr, p &lt; kd (bf16: in the even/odd order of
    /// <see cref="GemmSkinnyBf16"/>); also prefetches (into L2) the
    /// same chunk of the next NR rows, which the hardware prefetchers would reach only after a page miss.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Widen(in BOperand w, int j0, int nr, int kb, int kd, float* dst, long ldd, int NR)
    {
        bool x86 = Sse.IsSupported;
        long next = PfGroups * NR * w.Stride;
        for (int r = 0; r < nr; r++)
        {
            float* d = dst + r * ldd;
            if (w.DType == DType.BF16)
            {
                ushort* s = (ushort*)w.Data + (j0 + r) * w.Stride + kb;
                if (x86)
                    for (int p = 0; p < kd; p += 32) Sse.Prefetch1(s + next + p);  // one 64-byte line each; never faults
                GemmSkinnyBf16.WidenRow(s, d, kd);  // even/odd order, as PackX packed x
            }
            else
            {
                Half* s = (Half*)w.Data + (j0 + r) * w.Stride + kb;
                if (x86)
                    for (int p = 0; p < kd; p += 32) Sse.Prefetch1(s + next + p);
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(s, kd), new Span<float>(d, kd));
            }
        }
    }
}
