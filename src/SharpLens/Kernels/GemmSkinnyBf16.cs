using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>
/// The bf16 side of the skinny GEMM (<see cref="GemmSkinny"/>). A bf16 value is the top half of an fp32, so 16 of them,
/// read as eight 32-bit lanes, give the 8 even-indexed values as fp32 by a left shift of 16 and the 8 odd-indexed ones
/// by masking off the low half: two ALU operations per 16 values, against a widening load and a shift per 8 in natural
/// order. The widened weights then come out <b>even/odd ordered</b>: within every whole block of 16 elements of a K-chunk
/// (counted from the chunk's start), positions 0–7 hold elements 0, 2, …, 14 and positions 8–15 hold 1, 3, …, 15; a
/// tail shorter than 16 stays in natural order. A dot product is the same sum in any order, so x is packed in that
/// order too (<see cref="PackRow"/>) and the fp32 dot kernels run unchanged.
/// </summary>
internal static unsafe class GemmSkinnyBf16
{
    /// <summary>dst[0, len) = src[0, len) in even/odd order (whole 16-blocks permuted, the tail copied); simd = false
    /// takes the scalar loop (tests compare the two).</summary>
    public static void PackRow(float* src, float* dst, int len, bool simd = true)
    {
        int p = 0;
        if (simd && Avx2.IsSupported)
            for (; p <= len - 16; p += 16)
            {
                Vector256<float> lo = Vector256.Load(src + p), hi = Vector256.Load(src + p + 8);
                // shuffle per 128-bit lane: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; the 64-bit permute puts the lanes in order.
                var even = Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble();
                var odd = Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble();
                Avx2.Permute4x64(even, 0b11_01_10_00).AsSingle().Store(dst + p);
                Avx2.Permute4x64(odd, 0b11_01_10_00).AsSingle().Store(dst + p + 8);
            }
        for (; p <= len - 16; p += 16)
            for (int i = 0; i < 8; i++)
            {
                dst[p + i] = src[p + 2 * i];
                dst[p + 8 + i] = src[p + 2 * i + 1];
            }
        for (; p < len; p++) dst[p] = src[p];
    }

    /// <summary>dst[0, len) = the bf16 row src[0, len) widened to fp32, in even/odd order; simd = false takes the scalar
    /// loop.</summary>
    public static void WidenRow(ushort* src, float* dst, int len, bool simd = true)
    {
        int p = 0;
        if (simd && Avx2.IsSupported)
        {
            var high = Vector256.Create(unchecked((int)0xFFFF0000));
            for (; p <= len - 16; p += 16)
            {
                var v = Vector256.Load((int*)(src + p));
                Avx2.ShiftLeftLogical(v, 16).AsSingle().Store(dst + p);
                (v & high).AsSingle().Store(dst + p + 8);
            }
        }
        for (; p <= len - 16; p += 16)
            for (int i = 0; i < 8; i++)
            {
                dst[p + i] = BitConverter.Int32BitsToSingle(src[p + 2 * i] << 16);
                dst[p + 8 + i] = BitConverter.Int32BitsToSingle(src[p + 2 * i + 1] << 16);
            }
        for (; p < len; p++) dst[p] = BitConverter.Int32BitsToSingle(src[p] << 16);
    }

    /// <summary>
    /// The first row tile (rows = 1–3 rows of x, 4 weight rows) of a K-chunk with the widening folded in: y[0..rows, 0..4)
    /// (+)= x[0..rows]·W[0..4]ᵀ over kd (a multiple of 16) from bf16 rows w (row stride ldw elements), while also storing
    /// the widened rows to wide (row stride ldd, even/odd order) for the chunk's other tiles. The conversions overlap this
    /// tile's FMAs instead of running as a pass of their own before it (measured on the mapped 1.8B gate projections:
    /// +2–6 %). It issues no prefetches itself: the broadcast kernel's loop (<see cref="Avx2BcastKernel"/>) fetches a
    /// later group's chunk. Its sums run in the same order as <see cref="Avx2DotKernel"/>'s on the widened chunk, so a
    /// group gives the same bits whichever path it takes. Registers: 12 accumulators + 3 x rows + 1 W row (the mask is a
    /// memory operand).
    /// </summary>
    public static void FirstTileAvx2(int rows, int kd, float* x, long ldx, ushort* w, long ldw, float* wide, long ldd,
        float* y, long ldy, float* bias, bool accumulate)
    {
        switch (rows)
        {
            case 1: FirstTile<R1>(kd, x, ldx, w, ldw, wide, ldd, y, ldy, bias, accumulate); break;
            case 2: FirstTile<R2>(kd, x, ldx, w, ldw, wide, ldd, y, ldy, bias, accumulate); break;
            case 3: FirstTile<R3>(kd, x, ldx, w, ldw, wide, ldd, y, ldy, bias, accumulate); break;
            default: throw new ArgumentOutOfRangeException(nameof(rows));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void FirstTile<R>(int kd, float* x, long ldx, ushort* w, long ldw, float* wide, long ldd,
        float* y, long ldy, float* bias, bool accumulate) where R : struct, IRowCount
    {
        Vector256<float> a0_0 = default, a0_1 = default, a0_2 = default, a0_3 = default;
        Vector256<float> a1_0 = default, a1_1 = default, a1_2 = default, a1_3 = default;
        Vector256<float> a2_0 = default, a2_1 = default, a2_2 = default, a2_3 = default;
        float* x0p = x, x1p = x + ldx, x2p = x + 2 * ldx;
        ushort* s0 = w, s1 = w + ldw, s2 = w + 2 * ldw, s3 = w + 3 * ldw;
        float* d0 = wide, d1 = wide + ldd, d2 = wide + 2 * ldd, d3 = wide + 3 * ldd;
        var high = Vector256.Create(unchecked((int)0xFFFF0000));
        for (nint p = 0; p < kd; p += 16)
        {
            // even elements of the block: x[p .. p+8) against (bf16 pair << 16)
            Vector256<float> x0 = Vector256.Load(x0p + p), x1 = default, x2 = default, wv;
            if (R.Value > 1) x1 = Vector256.Load(x1p + p);
            if (R.Value > 2) x2 = Vector256.Load(x2p + p);
            wv = Avx2.ShiftLeftLogical(Vector256.Load((int*)(s0 + p)), 16).AsSingle(); wv.Store(d0 + p);
            Fma3<R>(x0, x1, x2, wv, ref a0_0, ref a1_0, ref a2_0);
            wv = Avx2.ShiftLeftLogical(Vector256.Load((int*)(s1 + p)), 16).AsSingle(); wv.Store(d1 + p);
            Fma3<R>(x0, x1, x2, wv, ref a0_1, ref a1_1, ref a2_1);
            wv = Avx2.ShiftLeftLogical(Vector256.Load((int*)(s2 + p)), 16).AsSingle(); wv.Store(d2 + p);
            Fma3<R>(x0, x1, x2, wv, ref a0_2, ref a1_2, ref a2_2);
            wv = Avx2.ShiftLeftLogical(Vector256.Load((int*)(s3 + p)), 16).AsSingle(); wv.Store(d3 + p);
            Fma3<R>(x0, x1, x2, wv, ref a0_3, ref a1_3, ref a2_3);
            // odd elements: x[p+8 .. p+16) against (bf16 pair & 0xFFFF0000)
            x0 = Vector256.Load(x0p + p + 8);
            if (R.Value > 1) x1 = Vector256.Load(x1p + p + 8);
            if (R.Value > 2) x2 = Vector256.Load(x2p + p + 8);
            wv = (Vector256.Load((int*)(s0 + p)) & high).AsSingle(); wv.Store(d0 + p + 8);
            Fma3<R>(x0, x1, x2, wv, ref a0_0, ref a1_0, ref a2_0);
            wv = (Vector256.Load((int*)(s1 + p)) & high).AsSingle(); wv.Store(d1 + p + 8);
            Fma3<R>(x0, x1, x2, wv, ref a0_1, ref a1_1, ref a2_1);
            wv = (Vector256.Load((int*)(s2 + p)) & high).AsSingle(); wv.Store(d2 + p + 8);
            Fma3<R>(x0, x1, x2, wv, ref a0_2, ref a1_2, ref a2_2);
            wv = (Vector256.Load((int*)(s3 + p)) & high).AsSingle(); wv.Store(d3 + p + 8);
            Fma3<R>(x0, x1, x2, wv, ref a0_3, ref a1_3, ref a2_3);
        }
        Avx2DotKernel.Reduce4(a0_0, a0_1, a0_2, a0_3, y, bias, accumulate);
        if (R.Value > 1) Avx2DotKernel.Reduce4(a1_0, a1_1, a1_2, a1_3, y + ldy, bias, accumulate);
        if (R.Value > 2) Avx2DotKernel.Reduce4(a2_0, a2_1, a2_2, a2_3, y + 2 * ldy, bias, accumulate);
    }

    /// <summary>a_i += x_i · w for the tile's rows i &lt; R.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Fma3<R>(Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> w,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2) where R : struct, IRowCount
    {
        a0 = Fma.MultiplyAdd(x0, w, a0);
        if (R.Value > 1) a1 = Fma.MultiplyAdd(x1, w, a1);
        if (R.Value > 2) a2 = Fma.MultiplyAdd(x2, w, a2);
    }
}
