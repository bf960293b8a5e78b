using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>How the direct dx microkernel reads 32 columns of one weight row where it lies.</summary>
internal unsafe interface IWeightRow32
{
    /// <summary>Bytes per element.</summary>
    static abstract int Size { get; }
    /// <summary>Whether b0/b1 hold the even/odd-indexed columns (else columns 0–15 / 16–31).</summary>
    static abstract bool EvenOdd { get; }
    /// <summary>The 32 elements at p widened to fp32.</summary>
    static abstract void Load(byte* p, out Vector512<float> b0, out Vector512<float> b1);
}

/// <summary>bf16: 32 elements loaded as sixteen 32-bit lanes are the 16 even-indexed fp32 values after a left shift by
/// 16 and the 16 odd-indexed ones after masking off the low half (as <see cref="Avx512Bf16DotKernel"/>).</summary>
internal unsafe struct Bf16Row32 : IWeightRow32
{
    public static int Size => 2;
    public static bool EvenOdd => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* p, out Vector512<float> b0, out Vector512<float> b1)
    {
        var v = Vector512.Load((uint*)p);
        b0 = Vector512.ShiftLeft(v, 16).AsSingle();
        b1 = (v & Vector512.Create(0xFFFF0000u)).AsSingle();
    }
}

/// <summary>fp32: two vectors as stored.</summary>
internal unsafe struct F32Row32 : IWeightRow32
{
    public static int Size => 4;
    public static bool EvenOdd => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* p, out Vector512<float> b0, out Vector512<float> b1)
    {
        b0 = Vector512.Load((float*)p);
        b1 = Vector512.Load((float*)p + 16);
    }
}

/// <summary>
/// AVX-512 13×32 tile of dx[mr, 32] += Σ_p a[p][i] · W[p, 0..32) for <see cref="InputGradKernel"/>: a is a packed dy tile
/// [kc][MR] (<see cref="GemmPack.PackA"/>), W's kc rows are read where they lie, ldw bytes apart, and widened in
/// registers (no fp32 panel). 26 accumulators + 2 weight vectors + 1 broadcast (+ the bf16 mask) fit the 32 registers;
/// a step is 26 FMAs against one 64-byte weight load (bf16) and 13 broadcasts. Even/odd accumulators (bf16) are put back
/// in column order by two permutes per row at the store.
/// </summary>
internal static unsafe class InputGradMicroAvx512
{
    public const int MR = 13;
    public const int NR = 32;

    /// <summary>dx (row stride ldc floats) rows 0..mr, columns 0..nr (≤ 32) += the tile; scratch ≥ 32 floats. Unless pf is
    /// null, each step also prefetches (into L2) the next 64 bytes (bf16; 128 bytes fp32) of a walk along rows pfStride
    /// bytes apart, pfRowBytes of each, starting pfOff bytes into the row at pf (a prefetch never faults).</summary>
    public static void Run<TW>(int kc, float* a, byte* w, long ldw, float* dx, long ldc, int mr, int nr, float* scratch, byte* pf, long pfStride, int pfOff, int pfRowBytes)
        where TW : struct, IWeightRow32
    {
        switch (mr)
        {
            case 1: Tile<TW, R1>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 2: Tile<TW, R2>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 3: Tile<TW, R3>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 4: Tile<TW, R4>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 5: Tile<TW, R5>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 6: Tile<TW, R6>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 7: Tile<TW, R7>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 8: Tile<TW, R8>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 9: Tile<TW, R9>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 10: Tile<TW, R10>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 11: Tile<TW, R11>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            case 12: Tile<TW, R12>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
            default: Tile<TW, R13>(kc, a, w, ldw, dx, ldc, nr, scratch, pf, pfStride, pfOff, pfRowBytes); break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void Tile<TW, R>(int kc, float* a, byte* w, long ldw, float* c, long ldc, int nr, float* scratch, byte* pf, long pfStride, int pfOff, int pfRowBytes)
        where TW : struct, IWeightRow32 where R : struct, IRowCount
    {
        Vector512<float> c0_0 = default, c0_1 = default;
        Vector512<float> c1_0 = default, c1_1 = default;
        Vector512<float> c2_0 = default, c2_1 = default;
        Vector512<float> c3_0 = default, c3_1 = default;
        Vector512<float> c4_0 = default, c4_1 = default;
        Vector512<float> c5_0 = default, c5_1 = default;
        Vector512<float> c6_0 = default, c6_1 = default;
        Vector512<float> c7_0 = default, c7_1 = default;
        Vector512<float> c8_0 = default, c8_1 = default;
        Vector512<float> c9_0 = default, c9_1 = default;
        Vector512<float> c10_0 = default, c10_1 = default;
        Vector512<float> c11_0 = default, c11_1 = default;
        Vector512<float> c12_0 = default, c12_1 = default;
        for (int p = 0; p < kc; p++)
        {
            TW.Load(w, out var b0, out var b1);
            if (Sse.IsSupported && pf != null)
            {
                Sse.Prefetch1(pf + pfOff);
                if (TW.Size > 2) Sse.Prefetch1(pf + pfOff + 64);
                pfOff += 32 * TW.Size;
                if (pfOff >= pfRowBytes) { pfOff = 0; pf += pfStride; }
            }
            Vector512<float> av;
            av = Vector512.Create(a[0]); c0_0 = Vector512.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(av, b1, c0_1);
            if (R.Value > 1) { av = Vector512.Create(a[1]); c1_0 = Vector512.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(av, b1, c1_1); }
            if (R.Value > 2) { av = Vector512.Create(a[2]); c2_0 = Vector512.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(av, b1, c2_1); }
            if (R.Value > 3) { av = Vector512.Create(a[3]); c3_0 = Vector512.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(av, b1, c3_1); }
            if (R.Value > 4) { av = Vector512.Create(a[4]); c4_0 = Vector512.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(av, b1, c4_1); }
            if (R.Value > 5) { av = Vector512.Create(a[5]); c5_0 = Vector512.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(av, b1, c5_1); }
            if (R.Value > 6) { av = Vector512.Create(a[6]); c6_0 = Vector512.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(av, b1, c6_1); }
            if (R.Value > 7) { av = Vector512.Create(a[7]); c7_0 = Vector512.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(av, b1, c7_1); }
            if (R.Value > 8) { av = Vector512.Create(a[8]); c8_0 = Vector512.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(av, b1, c8_1); }
            if (R.Value > 9) { av = Vector512.Create(a[9]); c9_0 = Vector512.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(av, b1, c9_1); }
            if (R.Value > 10) { av = Vector512.Create(a[10]); c10_0 = Vector512.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(av, b1, c10_1); }
            if (R.Value > 11) { av = Vector512.Create(a[11]); c11_0 = Vector512.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(av, b1, c11_1); }
            if (R.Value > 12) { av = Vector512.Create(a[12]); c12_0 = Vector512.FusedMultiplyAdd(av, b0, c12_0); c12_1 = Vector512.FusedMultiplyAdd(av, b1, c12_1); }
            a += 13; w += ldw;
        }
        StoreRow<TW>(c + 0 * ldc, c0_0, c0_1, nr, scratch);
        if (R.Value > 1) StoreRow<TW>(c + 1 * ldc, c1_0, c1_1, nr, scratch);
        if (R.Value > 2) StoreRow<TW>(c + 2 * ldc, c2_0, c2_1, nr, scratch);
        if (R.Value > 3) StoreRow<TW>(c + 3 * ldc, c3_0, c3_1, nr, scratch);
        if (R.Value > 4) StoreRow<TW>(c + 4 * ldc, c4_0, c4_1, nr, scratch);
        if (R.Value > 5) StoreRow<TW>(c + 5 * ldc, c5_0, c5_1, nr, scratch);
        if (R.Value > 6) StoreRow<TW>(c + 6 * ldc, c6_0, c6_1, nr, scratch);
        if (R.Value > 7) StoreRow<TW>(c + 7 * ldc, c7_0, c7_1, nr, scratch);
        if (R.Value > 8) StoreRow<TW>(c + 8 * ldc, c8_0, c8_1, nr, scratch);
        if (R.Value > 9) StoreRow<TW>(c + 9 * ldc, c9_0, c9_1, nr, scratch);
        if (R.Value > 10) StoreRow<TW>(c + 10 * ldc, c10_0, c10_1, nr, scratch);
        if (R.Value > 11) StoreRow<TW>(c + 11 * ldc, c11_0, c11_1, nr, scratch);
        if (R.Value > 12) StoreRow<TW>(c + 12 * ldc, c12_0, c12_1, nr, scratch);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow<TW>(float* c, Vector512<float> v0, Vector512<float> v1, int nr, float* scratch) where TW : struct, IWeightRow32
    {
        if (TW.EvenOdd)
        {
            var lo = Avx512F.PermuteVar16x32x2(v0, Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), v1);
            var hi = Avx512F.PermuteVar16x32x2(v0, Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), v1);
            v0 = lo; v1 = hi;
        }
        if (nr == NR)
        {
            (Vector512.Load(c) + v0).Store(c);
            (Vector512.Load(c + 16) + v1).Store(c + 16);
            return;
        }
        v0.Store(scratch);
        v1.Store(scratch + 16);
        for (int j = 0; j < nr; j++) c[j] += scratch[j];
    }
}
