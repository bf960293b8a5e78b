using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>
/// AVX-512 dot-product tile for bf16 weights read where they lie: y[i, j] (+)= Σ_p x[i·ldx + p] · w[j·ldw + p] for
/// i &lt; R ≤ 5 rows of x and j &lt; C ≤ 4 weight rows, over p &lt; kd, with no widened copy of the weights.
/// <para>
/// 32 bf16 weights, loaded as sixteen 32-bit lanes, are 16 even-indexed fp32 values after a left shift by 16 and 16
/// odd-indexed ones after masking off the low half (<see cref="GemmSkinnyBf16"/> does the same at 256 bits), so x comes
/// packed in the matching <b>32-block even/odd order</b>: within every whole block of 32 elements, positions 0–15 hold
/// elements 0, 2, …, 30 and 16–31 hold 1, 3, …, 31; a tail shorter than 32 stays in natural order and is summed in
/// scalar code (<see cref="PackRow"/>). The widening is two integer operations (a shift, an AND) per 32 weights of a
/// weight row, once per row tile, on the vector pipes the FMAs leave free: 20 accumulators + 8 widened weight vectors
/// + 2 of x + the mask are 31 of the 32 registers, and a step of 32 elements is 40 FMAs against 4 weight and 10 x loads.
/// </para>
/// When pf is not null, each step also prefetches (into L2) line p/32 of the C rows at pf, pfStride bytes apart: the same
/// span of a later weight group, which starts a new page in every row (the hardware prefetchers stop at pages).
/// </summary>
internal static unsafe class Avx512Bf16DotKernel
{
    /// <summary>Most rows of x per tile.</summary>
    public const int MR = 5;
    /// <summary>Weight rows per tile.</summary>
    public const int NR = 4;
    /// <summary>Elements per even/odd block.</summary>
    public const int Block = 32;

    /// <summary>Computes one mr × nr tile (mr ≤ 5, nr ≤ 4): y (row stride ldy) is overwritten with the sums (+ bias[j]
    /// when bias != null) unless accumulate, when the sums are added to it. x: mr packed rows (stride ldx floats);
    /// w: nr bf16 rows (stride ldw elements).</summary>
    public static void Run(int kd, float* x, long ldx, ushort* w, long ldw, int mr, int nr, float* y, long ldy, float* bias,
        bool accumulate, byte* pf, long pfStride)
    {
        switch (mr * 8 + nr)
        {
            case 9: Tile<R1, R1>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 10: Tile<R1, R2>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 11: Tile<R1, R3>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 12: Tile<R1, R4>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 17: Tile<R2, R1>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 18: Tile<R2, R2>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 19: Tile<R2, R3>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 20: Tile<R2, R4>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 25: Tile<R3, R1>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 26: Tile<R3, R2>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 27: Tile<R3, R3>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 28: Tile<R3, R4>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 33: Tile<R4, R1>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 34: Tile<R4, R2>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 35: Tile<R4, R3>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 36: Tile<R4, R4>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 41: Tile<R5, R1>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 42: Tile<R5, R2>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 43: Tile<R5, R3>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            case 44: Tile<R5, R4>(kd, x, ldx, w, ldw, y, ldy, bias, accumulate, pf, pfStride); break;
            default: throw new ArgumentOutOfRangeException(nameof(mr), $"tile {mr}×{nr}");
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void Tile<R, C>(int kd, float* x, long ldx, ushort* w, long ldw, float* y, long ldy, float* bias, bool accumulate,
        byte* pf, long pfStride) where R : struct, IRowCount where C : struct, IRowCount
    {
        // a{i}{j}: row i of x against weight row j.
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        var high = Vector512.Create(unchecked((int)0xFFFF0000));
        ushort* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        float* x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx, x4 = x + 4 * ldx;
        bool prefetch = pf != null && Sse.IsSupported;
        int p = 0;
        for (; p <= kd - Block; p += Block)
        {
            if (prefetch)
            {
                byte* line = pf + 2 * (long)p;
                Sse.Prefetch1(line);
                if (C.Value > 1) Sse.Prefetch1(line + pfStride);
                if (C.Value > 2) Sse.Prefetch1(line + 2 * pfStride);
                if (C.Value > 3) Sse.Prefetch1(line + 3 * pfStride);
            }
            // Widen: e{j} the 16 even-indexed weights of row j as fp32, o{j} the 16 odd-indexed ones.
            Vector512<int> v = Vector512.Load((int*)(w0 + p));
            Vector512<float> e0 = Vector512.ShiftLeft(v, 16).AsSingle(), o0 = (v & high).AsSingle();
            Vector512<float> e1 = default, o1 = default, e2 = default, o2 = default, e3 = default, o3 = default;
            if (C.Value > 1) { v = Vector512.Load((int*)(w1 + p)); e1 = Vector512.ShiftLeft(v, 16).AsSingle(); o1 = (v & high).AsSingle(); }
            if (C.Value > 2) { v = Vector512.Load((int*)(w2 + p)); e2 = Vector512.ShiftLeft(v, 16).AsSingle(); o2 = (v & high).AsSingle(); }
            if (C.Value > 3) { v = Vector512.Load((int*)(w3 + p)); e3 = Vector512.ShiftLeft(v, 16).AsSingle(); o3 = (v & high).AsSingle(); }
            Row<C>(x0 + p, e0, o0, e1, o1, e2, o2, e3, o3, ref a00, ref a01, ref a02, ref a03);
            if (R.Value > 1) Row<C>(x1 + p, e0, o0, e1, o1, e2, o2, e3, o3, ref a10, ref a11, ref a12, ref a13);
            if (R.Value > 2) Row<C>(x2 + p, e0, o0, e1, o1, e2, o2, e3, o3, ref a20, ref a21, ref a22, ref a23);
            if (R.Value > 3) Row<C>(x3 + p, e0, o0, e1, o1, e2, o2, e3, o3, ref a30, ref a31, ref a32, ref a33);
            if (R.Value > 4) Row<C>(x4 + p, e0, o0, e1, o1, e2, o2, e3, o3, ref a40, ref a41, ref a42, ref a43);
        }
        Store<C>(x0, w, ldw, p, kd, a00, a01, a02, a03, y, bias, accumulate);
        if (R.Value > 1) Store<C>(x1, w, ldw, p, kd, a10, a11, a12, a13, y + ldy, bias, accumulate);
        if (R.Value > 2) Store<C>(x2, w, ldw, p, kd, a20, a21, a22, a23, y + 2 * ldy, bias, accumulate);
        if (R.Value > 3) Store<C>(x3, w, ldw, p, kd, a30, a31, a32, a33, y + 3 * ldy, bias, accumulate);
        if (R.Value > 4) Store<C>(x4, w, ldw, p, kd, a40, a41, a42, a43, y + 4 * ldy, bias, accumulate);
    }

    /// <summary>One row of x (its 32-block at xp: 16 even-indexed values, then 16 odd-indexed) against the C widened
    /// weight rows, added to that row's accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Row<C>(float* xp, Vector512<float> e0, Vector512<float> o0, Vector512<float> e1, Vector512<float> o1,
        Vector512<float> e2, Vector512<float> o2, Vector512<float> e3, Vector512<float> o3,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
        where C : struct, IRowCount
    {
        Vector512<float> xe = Vector512.Load(xp), xo = Vector512.Load(xp + 16);
        a0 = Vector512.FusedMultiplyAdd(xo, o0, Vector512.FusedMultiplyAdd(xe, e0, a0));
        if (C.Value > 1) a1 = Vector512.FusedMultiplyAdd(xo, o1, Vector512.FusedMultiplyAdd(xe, e1, a1));
        if (C.Value > 2) a2 = Vector512.FusedMultiplyAdd(xo, o2, Vector512.FusedMultiplyAdd(xe, e2, a2));
        if (C.Value > 3) a3 = Vector512.FusedMultiplyAdd(xo, o3, Vector512.FusedMultiplyAdd(xe, e3, a3));
    }

    /// <summary>y[0..C) (+)= the sums of one row of x against the C weight rows: each accumulator's 16 lanes plus the
    /// scalar tail [p, kd) (natural order), + bias on the first pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<C>(float* x, ushort* w, long ldw, int p, int kd, Vector512<float> a0, Vector512<float> a1,
        Vector512<float> a2, Vector512<float> a3, float* y, float* bias, bool accumulate) where C : struct, IRowCount
    {
        if (C.Value == 4 && p == kd && Avx.IsSupported)
        {
            Avx2DotKernel.Reduce4(Fold(a0), Fold(a1), Fold(a2), Fold(a3), y, bias, accumulate);
            return;
        }
        Finish(x, w, p, kd, Vector512.Sum(a0), y, bias, accumulate);
        if (C.Value > 1) Finish(x, w + ldw, p, kd, Vector512.Sum(a1), y + 1, bias == null ? null : bias + 1, accumulate);
        if (C.Value > 2) Finish(x, w + 2 * ldw, p, kd, Vector512.Sum(a2), y + 2, bias == null ? null : bias + 2, accumulate);
        if (C.Value > 3) Finish(x, w + 3 * ldw, p, kd, Vector512.Sum(a3), y + 3, bias == null ? null : bias + 3, accumulate);
    }

    /// <summary>The 16 lanes folded to 8: lanes i and i + 8 added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fold(Vector512<float> v) => v.GetLower() + v.GetUpper();

    /// <summary>Adds the scalar k-tail [p, kd) to the vector sum s and stores it to *y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Finish(float* x, ushort* w, int p, int kd, float s, float* y, float* bias, bool accumulate)
    {
        for (; p < kd; p++) s += x[p] * BitConverter.Int32BitsToSingle(w[p] << 16);
        *y = (accumulate ? *y : bias != null ? *bias : 0f) + s;
    }

    /// <summary>dst[0, len) = src[0, len) in 32-block even/odd order (whole blocks permuted, the tail copied); simd =
    /// false takes the scalar loop (tests compare the two).</summary>
    public static void PackRow(float* src, float* dst, int len, bool simd = true)
    {
        int p = 0;
        if (simd && Avx512F.IsSupported)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            var odd = even + Vector512<int>.One;
            for (; p <= len - Block; p += Block)
            {
                Vector512<float> lo = Vector512.Load(src + p), hi = Vector512.Load(src + p + 16);
                Avx512F.PermuteVar16x32x2(lo, even, hi).Store(dst + p);
                Avx512F.PermuteVar16x32x2(lo, odd, hi).Store(dst + p + 16);
            }
        }
        for (; p <= len - Block; p += Block)
            for (int i = 0; i < 16; i++)
            {
                dst[p + i] = src[p + 2 * i];
                dst[p + 16 + i] = src[p + 2 * i + 1];
            }
        for (; p < len; p++) dst[p] = src[p];
    }
}
