using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>
/// The skinny path's broadcast kernel (AVX2/FMA, <see cref="GemmSkinny"/>): up to 24 rows of x against one group of 4
/// weight rows, vectors along the rows of x instead of along K. x comes transposed, xT[p][i] ([kd][8·C] for C = 1–3
/// blocks of 8 rows); each step p broadcasts w[r][p] for the 4 weight rows and adds it times xT[p] to 4 × C accumulators
/// (12 ymm + 3 x + 1 broadcast = 16 registers). Against the 3×4 dot kernel it reads each weight once per 24 rows instead
/// of once per 3, has no horizontal sums and one call per 24 rows: on L1/L2-resident data 95–101 GFLOP/s on one core
/// against the dot kernel's 86–90 for 25 rows (measured, 2026-11-25). The sums run along p in order, one lane per
/// output, so its bits differ from the dot kernel's (8 partial sums): a sequential sum of a chunk's 512 terms, whose
/// worst error measured 3–4× the dot kernel's (4–5e-5 against 1–2e-5 on 25×2048×5504 products, fp32), well inside the
/// √K·ε bound the tests hold every path to. A row's bits therefore depend on whether it falls in a broadcast block.
/// </summary>
internal static unsafe class Avx2BcastKernel
{
    /// <summary>Rows of x per 8-lane block, and most blocks per call.</summary>
    public const int RowBlock = 8, MaxBlocks = 3, MaxRows = RowBlock * MaxBlocks;
    /// <summary>Weight rows (output columns) per call.</summary>
    public const int NR = 4;

    /// <summary>
    /// The sums of one K-chunk, S[i][r] = Σ_{p &lt; kd} xT[p·8·blocks + i] · w[r·ldw + p] for i &lt; 8·blocks, r &lt; nr ≤ 4,
    /// carried across a product's chunks in yT, this group's [4][8·blocks] running total in the kernel's own layout
    /// (yT[r·24 + i]), so that a chunk ends with plain vector loads and stores: on the first chunk (first) the total
    /// starts as S + bias[r] (bias may be null), on later ones it is S + yT. On the last chunk (last) the total goes to
    /// y[i·ldy + r] instead, transposed once; otherwise to yT. (Transposing into y after every chunk, 24 partial-line
    /// read-modify-writes of rows far apart, cost 9–16 % of the kernel's time at kd = 512, measured.) The additions run
    /// in the same order either way: y[i, r] = ((S₀ + bias) + S₁) + …. Weight rows nr..3 are not read.
    /// When pf != null, one 64-byte line every 8 steps is prefetched (into L2) from the 4 rows at pf, pfStride bytes
    /// apart, taking the rows in turn: kd/32 lines of each, the whole of a kd-long chunk of 2-byte weights, spread over
    /// the loop (measured on the 1.8B-shaped projections: one thread 66–70 → 78–86 GFLOP/s).
    /// </summary>
    public static void Run(int kd, float* xT, int blocks, float* w, long ldw, int nr, float* y, long ldy, float* bias,
        bool first, bool last, float* yT, byte* pf, long pfStride)
    {
        // Rows past nr repeat row 0 (memory that exists); their sums are computed and dropped.
        float* w1 = nr > 1 ? w + ldw : w, w2 = nr > 2 ? w + 2 * ldw : w, w3 = nr > 3 ? w + 3 * ldw : w;
        switch (blocks)
        {
            case 1: Tile<R1>(kd, xT, w, w1, w2, w3, nr, y, ldy, bias, first, last, yT, pf, pfStride); break;
            case 2: Tile<R2>(kd, xT, w, w1, w2, w3, nr, y, ldy, bias, first, last, yT, pf, pfStride); break;
            case 3: Tile<R3>(kd, xT, w, w1, w2, w3, nr, y, ldy, bias, first, last, yT, pf, pfStride); break;
            default: throw new ArgumentOutOfRangeException(nameof(blocks));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void Tile<C>(int kd, float* xT, float* w0, float* w1, float* w2, float* w3, int nr, float* y, long ldy,
        float* bias, bool first, bool last, float* yT, byte* pf, long pfStride) where C : struct, IRowCount
    {
        // a{r}{c}: weight row r against rows 8c .. 8c+8 of x.
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        int width = RowBlock * C.Value;
        for (nint p = 0; p < kd; p++)
        {
            if (pf != null && (p & 7) == 0 && Sse.IsSupported) Sse.Prefetch1(PrefetchLine(pf, pfStride, p));
            float* xp = xT + p * width;
            Vector256<float> x0 = Vector256.Load(xp), x1 = default, x2 = default, b;
            if (C.Value > 1) x1 = Vector256.Load(xp + 8);
            if (C.Value > 2) x2 = Vector256.Load(xp + 16);
            b = Vector256.Create(w0[p]);
            a00 = Fma.MultiplyAdd(b, x0, a00); if (C.Value > 1) a01 = Fma.MultiplyAdd(b, x1, a01); if (C.Value > 2) a02 = Fma.MultiplyAdd(b, x2, a02);
            b = Vector256.Create(w1[p]);
            a10 = Fma.MultiplyAdd(b, x0, a10); if (C.Value > 1) a11 = Fma.MultiplyAdd(b, x1, a11); if (C.Value > 2) a12 = Fma.MultiplyAdd(b, x2, a12);
            b = Vector256.Create(w2[p]);
            a20 = Fma.MultiplyAdd(b, x0, a20); if (C.Value > 1) a21 = Fma.MultiplyAdd(b, x1, a21); if (C.Value > 2) a22 = Fma.MultiplyAdd(b, x2, a22);
            b = Vector256.Create(w3[p]);
            a30 = Fma.MultiplyAdd(b, x0, a30); if (C.Value > 1) a31 = Fma.MultiplyAdd(b, x1, a31); if (C.Value > 2) a32 = Fma.MultiplyAdd(b, x2, a32);
        }
        // The running total: + bias on the first chunk, + the earlier chunks' total (yT) on later ones.
        if (!first)
        {
            Add(ref a00, ref a01, ref a02, yT + 0 * MaxRows);
            Add(ref a10, ref a11, ref a12, yT + 1 * MaxRows);
            Add(ref a20, ref a21, ref a22, yT + 2 * MaxRows);
            Add(ref a30, ref a31, ref a32, yT + 3 * MaxRows);
        }
        else if (bias != null)
        {
            AddBias(ref a00, ref a01, ref a02, bias[0]);
            if (nr > 1) AddBias(ref a10, ref a11, ref a12, bias[1]);
            if (nr > 2) AddBias(ref a20, ref a21, ref a22, bias[2]);
            if (nr > 3) AddBias(ref a30, ref a31, ref a32, bias[3]);
        }
        if (!last)
        {
            Save(a00, a01, a02, yT + 0 * MaxRows);
            Save(a10, a11, a12, yT + 1 * MaxRows);
            Save(a20, a21, a22, yT + 2 * MaxRows);
            Save(a30, a31, a32, yT + 3 * MaxRows);
            return;
        }
        Store8x4(a00, a10, a20, a30, nr, y, ldy);
        if (C.Value > 1) Store8x4(a01, a11, a21, a31, nr, y + 8 * ldy, ldy);
        if (C.Value > 2) Store8x4(a02, a12, a22, a32, nr, y + 16 * ldy, ldy);

        // One weight row's C vectors against its 24 floats of yT (blocks past C untouched).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Add(ref Vector256<float> v0, ref Vector256<float> v1, ref Vector256<float> v2, float* t)
        {
            v0 += Vector256.Load(t);
            if (C.Value > 1) v1 += Vector256.Load(t + 8);
            if (C.Value > 2) v2 += Vector256.Load(t + 16);
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void AddBias(ref Vector256<float> v0, ref Vector256<float> v1, ref Vector256<float> v2, float b)
        {
            var bv = Vector256.Create(b);
            v0 += bv;
            if (C.Value > 1) v1 += bv;
            if (C.Value > 2) v2 += bv;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Save(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, float* t)
        {
            v0.Store(t);
            if (C.Value > 1) v1.Store(t + 8);
            if (C.Value > 2) v2.Store(t + 16);
        }
    }

    /// <summary>The line step p (a multiple of 8) prefetches: line p/8 of the chunk, taking the 4 rows in turn — row
    /// (p/8) mod 4, its line p/32 — so a kd-step loop covers kd/32 lines of every row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static byte* PrefetchLine(byte* pf, long pfStride, nint p) => pf + ((p >> 3) & 3) * pfStride + (p >> 5) * 64;

    /// <summary>Rows i &lt; 8 of y get (c0[i], c1[i], c2[i], c3[i]) in columns 0..nr: the 4×8 block transposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store8x4(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, int nr,
        float* y, long ldy)
    {
        Vector256<float> t0 = Avx.UnpackLow(c0, c1), t1 = Avx.UnpackHigh(c0, c1);   // rows 0,1,4,5 / 2,3,6,7 of c0,c1
        Vector256<float> t2 = Avx.UnpackLow(c2, c3), t3 = Avx.UnpackHigh(c2, c3);
        Vector256<float> r04 = Avx.Shuffle(t0, t2, 0x44), r15 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> r26 = Avx.Shuffle(t1, t3, 0x44), r37 = Avx.Shuffle(t1, t3, 0xEE);
        Put(r04.GetLower(), nr, y);
        Put(r15.GetLower(), nr, y + ldy);
        Put(r26.GetLower(), nr, y + 2 * ldy);
        Put(r37.GetLower(), nr, y + 3 * ldy);
        Put(r04.GetUpper(), nr, y + 4 * ldy);
        Put(r15.GetUpper(), nr, y + 5 * ldy);
        Put(r26.GetUpper(), nr, y + 6 * ldy);
        Put(r37.GetUpper(), nr, y + 7 * ldy);
    }

    /// <summary>y[0..nr) = s[0..nr).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(Vector128<float> s, int nr, float* y)
    {
        if (nr == NR) s.Store(y);
        else for (int r = 0; r < nr; r++) y[r] = s.GetElement(r);
    }
}
