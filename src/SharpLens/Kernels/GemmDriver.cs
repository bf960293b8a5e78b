using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>
/// Cache-blocked GEMM driver (BLIS loop order): C[M,N] (=|+=) A[M,K]·B[K,N] (+ bias[N]).
/// The N dimension is split across threads in whole NR panels; each thread then runs
/// jc (NC) → pc (KC) → ic (MC, pack A) → jr (NR, pack B on the first ic pass) → ir (MR, microkernel).
/// With more than one thread A is packed once, before the split, and shared (<see cref="PackAllA"/>).
/// </summary>
internal static unsafe class GemmDriver
{
    /// <summary>Depth of one packed block: a B panel KC×NR (24 KiB for AVX2, NR = 24) stays in L1.</summary>
    internal const int KC = 256;
    /// <summary>Rows of A packed at once (rounded down to MR): MC×KC fp32 ≈ 144 KiB, held in L2.</summary>
    internal const int MC = 144;
    /// <summary>Columns of B packed at once per thread: NC×KC fp32 ≤ 4 MiB, streamed from L2/L3.</summary>
    internal const int NC = 4096;
    /// <summary>Below this m·n·k a call stays on the calling thread (thread hand-off costs ~10–50 µs).</summary>
    internal const long SingleThreadWork = 1L << 20;

    /// <summary>Runs C = A·B (+bias) at the given level. a: [m, k] row-major; c: [m, n] row-major; bias: [n] or null.</summary>
    public static void Run(float* a, int m, int k, in BOperand b, int n, float* bias, float* c, SimdLevel level, int maxThreads)
    {
        if (!b.KMajor && GemmSkinny.Applies(m, level))
        {
            GemmSkinny.Run(a, m, k, b, n, bias, c, level, maxThreads);
            return;
        }
        switch (level)
        {
            case SimdLevel.Avx512: Run<Avx512Kernel>(a, m, k, b, n, bias, c, level, maxThreads); break;
            case SimdLevel.Avx2: Run<Avx2Kernel>(a, m, k, b, n, bias, c, level, maxThreads); break;
            default: Run<ScalarKernel>(a, m, k, b, n, bias, c, level, maxThreads); break;
        }
    }

    static void Run<TK>(float* a, int m, int k, in BOperand b, int n, float* bias, float* c, SimdLevel level, int maxThreads)
        where TK : struct, IMicroKernel
    {
        bool simdPack = level >= SimdLevel.Avx2 && Avx2.IsSupported;
        long work = (long)m * n * k;
        // With more than one thread, A is packed once for every column range (in parallel) and the ranges are tapered,
        // so that a thread the host slows down takes fewer of them. (Measured, two threads, the 1.8B-shaped mapped gate
        // and down projections at 625 rows, 10 alternations: +11.5 % median against two even ranges per thread that
        // each packed their own A, +3.6 % for packing once with even ranges.) Above PrePackMaxBytes of packed A, or
        // with one thread, each range packs its own A blocks, and even ranges keep those repacks few.
        var (_, mPad) = ABlocks(m, TK.MR);
        bool prePack = !NoPrePack && maxThreads > 1 && work >= SingleThreadWork && (long)mPad * k * sizeof(float) <= PrePackMaxBytes;
        float* packedA = prePack ? PackAllA(a, m, k, TK.MR, maxThreads) : null;
        nint pa = (nint)a, pbias = (nint)bias, pc = (nint)c, ppa = (nint)packedA;
        BOperand bb = b;
        ForEachColumnRange(n, TK.NR, work, maxThreads, prePack ? ColumnSplit.Tapered : ColumnSplit.Even,
            (n0, n1) => RunRange<TK>((float*)pa, m, k, bb, (float*)pbias, (float*)pc, n, n0, n1, simdPack, (float*)ppa));
    }

    /// <summary>Most bytes of A packed once for all column ranges (the calling thread's slot 1; 625 × 5504 floats is 14 MB).</summary>
    internal const long PrePackMaxBytes = 64L << 20;

    /// <summary>Test hook for the calling thread: every column range packs its own A blocks (even ranges).</summary>
    [ThreadStatic] internal static bool NoPrePack;

    /// <summary>Rows of A per packed block (a multiple of MR), and A's rows once each block is padded to whole MR tiles.</summary>
    static (int McMax, int MPad) ABlocks(int m, int MR)
    {
        int mcMax = Math.Min(MC / MR * MR, RoundUp(m, MR)), last = m - (m - 1) / mcMax * mcMax;
        return (mcMax, m - last + RoundUp(last, MR));
    }

    /// <summary>Every (pc, ic) block of A packed as <see cref="RunRange{TK}"/> would pack it, block (pc, ic) at
    /// mPad·pc + ic·kc (the blocks before it in its K-block hold ic whole rows of kc), the blocks spread over the
    /// threads.</summary>
    static float* PackAllA(float* a, int m, int k, int MR, int maxThreads)
    {
        var (mcMax, mPad) = ABlocks(m, MR);
        int kcMax = Math.Min(KC, k);
        int icBlocks = (m + mcMax - 1) / mcMax, pcBlocks = (k + kcMax - 1) / kcMax;
        float* dst = GemmThreadBuffer.Get((long)mPad * k, slot: 1);
        nint pa = (nint)a, pd = (nint)dst;
        KernelThreads.For(icBlocks * pcBlocks, maxThreads, blk =>
        {
            int pc = blk / icBlocks * kcMax, ic = blk % icBlocks * mcMax;
            int kc = Math.Min(kcMax, k - pc), mc = Math.Min(mcMax, m - ic);
            GemmPack.PackA((float*)pa + (long)ic * k + pc, k, mc, kc, MR, (float*)pd + (long)mPad * pc + (long)ic * kc);
        });
        return dst;
    }

    /// <summary>
    /// Splits the n output columns into contiguous ranges of whole nr-column panels (<see cref="PanelBounds"/>) and runs
    /// <paramref name="range"/>(n0, n1) for each on <see cref="KernelThreads"/>, whose threads claim ranges as they free
    /// up (a core the host slows down takes fewer); on the calling thread alone below <see cref="SingleThreadWork"/>.
    /// </summary>
    internal static void ForEachColumnRange(int n, int nr, long work, int maxThreads, ColumnSplit split, Action<int, int> range)
    {
        int panels = (n + nr - 1) / nr;
        int threads = work < SingleThreadWork ? 1 : Math.Min(Math.Max(1, maxThreads), panels);
        if (threads <= 1)
        {
            range(0, n);
            return;
        }
        int[] bounds = PanelBounds(panels, threads, split);
        KernelThreads.For(bounds.Length - 1, threads, c => range(bounds[c] * nr, (int)Math.Min(n, (long)bounds[c + 1] * nr)));
    }

    /// <summary>
    /// Chunk boundaries, in panels: 0 = b[0] &lt; b[1] &lt; … &lt; b[^1] = panels. <see cref="ColumnSplit.Even"/>: two
    /// equal chunks per thread. <see cref="ColumnSplit.Tapered"/>: each chunk a 1/(2·threads) share of the panels still
    /// unassigned, down to a floor of 1/(64·threads) of them (guided self-scheduling), so the threads finish together:
    /// with equal chunks the caller waited on a 25-row forward's last chunks ~30 ms (measured), half a chunk per call.
    /// </summary>
    internal static int[] PanelBounds(int panels, int threads, ColumnSplit split)
    {
        var bounds = new List<int> { 0 };
        if (split == ColumnSplit.Even)
        {
            int chunks = Math.Min(panels, 2 * threads);
            for (int c = 1; c <= chunks; c++) bounds.Add((int)((long)panels * c / chunks));
            return [.. bounds];
        }
        int floor = Math.Max(1, panels / (64 * threads));
        for (int done = 0; done < panels;)
        {
            done += Math.Min(panels - done, Math.Max(floor, (panels - done) / (2 * threads)));
            bounds.Add(done);
        }
        return [.. bounds];
    }

    /// <summary>Computes columns [n0, n1) of C (ldc = n) on the calling thread, from A packed by
    /// <see cref="PackAllA"/> (packedA) or packing A's blocks itself (packedA null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RunRange<TK>(float* a, int m, int k, in BOperand b, float* bias, float* c, int ldc, int n0, int n1, bool simdPack,
        float* packedA)
        where TK : struct, IMicroKernel
    {
        int MR = TK.MR, NR = TK.NR;
        var (mcMax, mPad) = ABlocks(m, MR);
        int kcMax = Math.Min(KC, k);
        int ncMax = Math.Min(NC / NR * NR, RoundUp(n1 - n0, NR));

        // Thread-local buffer, 64-byte aligned sections:
        //   packB   [ncMax/NR][kcMax][NR]      widened fp32 B panels
        //   packA   [mcMax/MR][kcMax][MR]      A tiles
        //   f16Rows [NR][kcMax]                f16 rows widened before transposing
        //   tile    [NR]                       ragged-column store scratch
        long szB = RoundUp((long)ncMax * kcMax, 16), szA = RoundUp((long)mcMax * kcMax, 16);
        long szF = RoundUp((long)NR * kcMax, 16), szT = RoundUp(NR, 16);
        float* packB = GemmThreadBuffer.Get(szB + szA + szF + szT);
        float* packA = packB + szB, f16Rows = packA + szA, tile = f16Rows + szF;

        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            int np = (nc + NR - 1) / NR;
            for (int pc = 0; pc < k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, k - pc);
                bool first = pc == 0;
                for (int ic = 0; ic < m; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m - ic);
                    // A's block: packed once for every range (PackAllA), or here.
                    float* pA = packedA != null ? packedA + (long)mPad * pc + (long)ic * kc : packA;
                    if (packedA == null) GemmPack.PackA(a + (long)ic * k + pc, k, mc, kc, MR, packA);
                    // A K-major B (a Conv1D weight, activations) is packed for the whole block at once, k by k, so that
                    // each of its stored rows is read once, front to back, not in NR-column pieces kc rows apart.
                    if (ic == 0 && b.KMajor) GemmPack.PackBRows(b, jc, nc, pc, kc, NR, packB, simdPack);
                    for (int jr = 0; jr < np; jr++)
                    {
                        int nOff = jc + jr * NR;
                        int nr = Math.Min(NR, n1 - nOff);
                        float* bp = packB + (long)jr * kc * NR;
                        if (ic == 0 && !b.KMajor) GemmPack.PackB(b, nOff, nr, pc, kc, NR, bp, f16Rows, simdPack);
                        float* biasp = first && bias != null ? bias + nOff : null;
                        float* cp = c + (long)ic * ldc + nOff;
                        int tiles = (mc + MR - 1) / MR;
                        for (int t = 0; t < tiles; t++)
                        {
                            var (i0, rows) = GemmPack.TileRows(mc, MR, t);
                            TK.Run(kc, pA + (long)t * kc * MR, bp, cp + (long)i0 * ldc, ldc, rows, nr, biasp, !first, tile);
                        }
                    }
                }
            }
        }
    }

    static int RoundUp(int x, int m) => (x + m - 1) / m * m;
    static long RoundUp(long x, int m) => (x + m - 1) / m * m;

}

/// <summary>How <see cref="GemmDriver.ForEachColumnRange"/> cuts the columns into chunks (<see cref="GemmDriver.PanelBounds"/>).</summary>
internal enum ColumnSplit { Even, Tapered }

/// <summary>Grow-only, pinned, 64-byte-aligned scratch arrays per thread (no per-call allocation): slot 0 for a
/// kernel's own working buffers, slot 1 for operands packed by the calling thread and shared with its workers.</summary>
internal static unsafe class GemmThreadBuffer
{
    [ThreadStatic] static float[]? _slot0, _slot1;

    /// <summary>A 64-byte-aligned pointer to ≥ floats floats in this thread's slot (0 or 1), valid until its next call
    /// for the same slot.</summary>
    public static float* Get(long floats, int slot = 0)
    {
        ref float[]? arr = ref (slot == 0 ? ref _slot0 : ref _slot1);
        if (arr == null || arr.LongLength < floats + 16)
            arr = GC.AllocateUninitializedArray<float>((int)(floats + 16), pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (float*)((p + 63) & ~(nint)63);
    }
}
