using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// The B operand of C[M,N] = A[M,K]·B[K,N], addressed as N "columns" × K: either a Linear weight
/// W [N, K] in its stored dtype (B = Wᵀ, element (n, k) at n·Stride + k), or a row-major [K, N] matrix
/// (element (n, k) at k·Stride + n): fp32 activations, or a <c>Conv1D</c> weight in its stored dtype.
/// </summary>
internal readonly unsafe struct BOperand
{
    public readonly nint Data;
    public readonly DType DType;
    /// <summary>Row stride of the underlying storage, in elements.</summary>
    public readonly long Stride;
    /// <summary>True for a row-major [K, N] fp32 matrix, false for a [N, K] weight.</summary>
    public readonly bool KMajor;

    BOperand(nint data, DType dtype, long stride, bool kMajor) { Data = data; DType = dtype; Stride = stride; KMajor = kMajor; }

    /// <summary>A weight view: [N, K] rows, or a <see cref="WeightMatrix.Transposed"/> one read K-major where it lies.</summary>
    public static BOperand FromWeight(WeightMatrix w) => new(w.Data, w.DType, w.RowStride, w.Transposed);
    public static BOperand FromKN(float* b, int n) => new((nint)b, DType.F32, n, true);
}

/// <summary>Packing of GEMM operands into the panel layouts the microkernels read.</summary>
internal static unsafe class GemmPack
{
    /// <summary>How many NR panels ahead <see cref="Transpose"/> prefetches.</summary>
    const int PfPanels = 1;

    /// <summary>
    /// Packs rows [0, mc) × columns [0, kc) of row-major fp32 a (stride lda) into tiles
    /// dst[tiles][kc][MR] (row index fastest) of <see cref="TileRows"/> rows each. Rows past a tile's
    /// count are left unspecified: the kernels are specialised on the real row count and never read them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackA(float* a, long lda, int mc, int kc, int MR, float* dst)
    {
        int tiles = (mc + MR - 1) / MR;
        for (int t = 0; t < tiles; t++)
        {
            var (i0, rows) = TileRows(mc, MR, t);
            for (int i = 0; i < rows; i++)
            {
                float* src = a + (i0 + i) * lda;
                float* d = dst + i;
                for (int k = 0; k < kc; k++) d[k * MR] = src[k];
            }
            dst += (long)kc * MR;
        }
    }

    /// <summary>
    /// Tile t of mc rows split into ceil(mc/MR) balanced tiles (sizes differ by ≤ 1): e.g. 25 rows with
    /// MR = 6 → 5×5 rather than 4×6 + 1, because a 1-row tile is FMA-latency bound.
    /// </summary>
    public static (int Start, int Rows) TileRows(int mc, int MR, int t)
    {
        int tiles = (mc + MR - 1) / MR, q = mc / tiles, r = mc % tiles;
        return (t * q + Math.Min(t, r), q + (t < r ? 1 : 0));
    }

    /// <summary>
    /// Packs columns [n0, n0+nr) × k in [k0, k0+kc) of B, widened to fp32, into one panel
    /// dst[kc][NR] (column index fastest), zero-filling columns nr..NR.
    /// scratch: ≥ NR·kc floats (used to widen f16 rows). simd: use the AVX2 8×8 transposes.
    /// </summary>
    public static void PackB(in BOperand src, int n0, int nr, int k0, int kc, int NR, float* dst, float* scratch, bool simd)
    {
        if (src.KMajor)
        {
            // Rows of a [K, N] operand are already panel rows: copy (widen) nr of them per k.
            long at = (long)k0 * src.Stride + n0;
            for (int k = 0; k < kc; k++, at += src.Stride)
            {
                var row = new Span<float>(dst + (long)k * NR, nr);
                switch (src.DType)
                {
                    case DType.F32: new ReadOnlySpan<float>((float*)src.Data + at, nr).CopyTo(row); break;
                    case DType.F16: TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)src.Data + at, nr), row); break;
                    default: WidenBf16((ushort*)src.Data + at, dst + (long)k * NR, nr, simd); break;
                }
                if (nr < NR) new Span<float>(dst + (long)k * NR + nr, NR - nr).Clear();
            }
            return;
        }
        switch (src.DType)
        {
            case DType.F32:
                Transpose<F32Loader>((byte*)((float*)src.Data + n0 * src.Stride + k0), src.Stride, nr, kc, dst, NR, simd, true);
                break;
            case DType.BF16:
                Transpose<BF16Loader>((byte*)((ushort*)src.Data + n0 * src.Stride + k0), src.Stride, nr, kc, dst, NR, simd, true);
                break;
            default:
                // f16 → fp32 rows in scratch [nr][kc] (TensorPrimitives uses F16C/AVX-512 when present), then transpose.
                for (int r = 0; r < nr; r++)
                {
                    var row = new ReadOnlySpan<Half>((Half*)src.Data + (n0 + r) * src.Stride + k0, kc);
                    TensorPrimitives.ConvertToSingle(row, new Span<float>(scratch + (long)r * kc, kc));
                }
                Transpose<F32Loader>((byte*)scratch, kc, nr, kc, dst, NR, simd, false);
                break;
        }
    }

    /// <summary>
    /// Packs columns [n0, n0+nc) × k in [k0, k0+kc) of a K-major B (row-major [K, N]), widened to fp32, into
    /// ⌈nc/NR⌉ panels dst[panel][kc][NR] — what <see cref="PackB"/> writes for each panel, zero-filled past nc — reading
    /// each stored row's nc columns front to back. (Panel by panel, every k touched another page for NR columns: GPT-2's
    /// Conv1D products at 25 rows measured 0.5× the [N, K] weights' GFLOP/s.)
    /// </summary>
    public static void PackBRows(in BOperand src, int n0, int nc, int k0, int kc, int NR, float* dst, bool simd)
    {
        int panels = (nc + NR - 1) / NR, ragged = nc - (panels - 1) * NR;
        long at = (long)k0 * src.Stride + n0, panelFloats = (long)kc * NR;
        for (int k = 0; k < kc; k++, at += src.Stride)
            for (int p = 0; p < panels; p++)
            {
                int nr = p == panels - 1 ? ragged : NR;
                float* d = dst + p * panelFloats + (long)k * NR;
                long s = at + (long)p * NR;
                switch (src.DType)
                {
                    case DType.F32: new ReadOnlySpan<float>((float*)src.Data + s, nr).CopyTo(new Span<float>(d, nr)); break;
                    case DType.F16: TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)src.Data + s, nr), new Span<float>(d, nr)); break;
                    default: WidenBf16((ushort*)src.Data + s, d, nr, simd); break;
                }
                if (nr < NR) new Span<float>(d + nr, NR - nr).Clear();
            }
    }

    /// <summary>dst[j] = bf16 src[j] widened (the 16 bits become a float's high half) for j &lt; n; 16 at a time with
    /// <paramref name="simd"/>. (A scalar loop here held GPT-2's <c>Conv1D</c> weights, read K-major, to a fifth of the
    /// skinny path's GFLOP/s at 25 rows: docs/benchmarks.md, "Families against Qwen2".)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WidenBf16(ushort* src, float* dst, int n, bool simd)
    {
        int j = 0;
        if (simd && Vector256.IsHardwareAccelerated)
            for (; j + 16 <= n; j += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(src + j));
                (lo << 16).AsSingle().Store(dst + j);
                (hi << 16).AsSingle().Store(dst + j + 8);
            }
        for (; j < n; j++) dst[j] = BitConverter.Int32BitsToSingle(src[j] << 16);
    }

    /// <summary>
    /// dst[k·NR + r] = widen(src[r·stride + k]) for r &lt; nr, k &lt; kc; 0 for nr ≤ r &lt; NR.
    /// prefetchNext: also prefetch (into L2) the same block of the next NR rows, the panel packed next:
    /// W rows are pages apart, so the hardware prefetchers alone leave this loop waiting on DRAM.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static void Transpose<L>(byte* src, long stride, int nr, int kc, float* dst, int NR, bool simd, bool prefetchNext)
        where L : struct, IElementLoader
    {
        long rowBytes = stride * L.Size;
        long ahead = prefetchNext && Sse.IsSupported ? PfPanels * NR * rowBytes : 0;
        int r8 = simd ? nr & ~7 : 0, k8 = simd ? kc & ~7 : 0;
        for (int r0 = 0; r0 < r8; r0 += 8)
        {
            byte* s = src + r0 * rowBytes;
            for (int k0 = 0; k0 < k8; k0 += 8)
            {
                byte* p = s + k0 * L.Size;
                if (ahead != 0 && ((k0 * L.Size) & 63) == 0)
                    for (int i = 0; i < 8; i++) Sse.Prefetch1(p + ahead + i * rowBytes);  // never faults
                Transpose8x8(
                    L.Load8(p), L.Load8(p + rowBytes), L.Load8(p + 2 * rowBytes), L.Load8(p + 3 * rowBytes),
                    L.Load8(p + 4 * rowBytes), L.Load8(p + 5 * rowBytes), L.Load8(p + 6 * rowBytes), L.Load8(p + 7 * rowBytes),
                    dst + (long)k0 * NR + r0, NR);
            }
            for (int r = r0; r < r0 + 8; r++)
                for (int k = k8; k < kc; k++)
                    dst[(long)k * NR + r] = L.Load1(src + (r * stride + k) * L.Size);
        }
        for (int r = r8; r < nr; r++)
        {
            byte* s = src + r * rowBytes;
            for (int k = 0; k < kc; k++) dst[(long)k * NR + r] = L.Load1(s + k * L.Size);
        }
        if (nr < NR)
            for (int k = 0; k < kc; k++) new Span<float>(dst + (long)k * NR + nr, NR - nr).Clear();
    }

    /// <summary>dst[p·ld + i] = src[i·stride + p] for i &lt; 8, p &lt; len: 8 rows stored transposed (8×8 blocks on AVX).</summary>
    public static void Transpose8Rows(float* src, long stride, int len, float* dst, int ld)
    {
        int p = 0;
        if (Avx.IsSupported)
            for (; p <= len - 8; p += 8)
            {
                float* s = src + p;
                Transpose8x8(Vector256.Load(s), Vector256.Load(s + stride), Vector256.Load(s + 2 * stride),
                    Vector256.Load(s + 3 * stride), Vector256.Load(s + 4 * stride), Vector256.Load(s + 5 * stride),
                    Vector256.Load(s + 6 * stride), Vector256.Load(s + 7 * stride), dst + (long)p * ld, ld);
            }
        for (; p < len; p++)
            for (int i = 0; i < 8; i++) dst[(long)p * ld + i] = src[i * stride + p];
    }

    /// <summary>Stores the transpose of the 8×8 block with rows r0..r7 as 8 vectors at dst + i·ld.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, int ld)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(s0, s4, 0x20).Store(dst);
        Avx.Permute2x128(s1, s5, 0x20).Store(dst + ld);
        Avx.Permute2x128(s2, s6, 0x20).Store(dst + 2 * ld);
        Avx.Permute2x128(s3, s7, 0x20).Store(dst + 3 * ld);
        Avx.Permute2x128(s0, s4, 0x31).Store(dst + 4 * ld);
        Avx.Permute2x128(s1, s5, 0x31).Store(dst + 5 * ld);
        Avx.Permute2x128(s2, s6, 0x31).Store(dst + 6 * ld);
        Avx.Permute2x128(s3, s7, 0x31).Store(dst + 7 * ld);
    }

    /// <summary>Reads stored elements widened to fp32.</summary>
    interface IElementLoader
    {
        static abstract int Size { get; }
        /// <summary>8 consecutive elements (requires AVX2).</summary>
        static abstract Vector256<float> Load8(byte* p);
        static abstract float Load1(byte* p);
    }

    struct F32Loader : IElementLoader
    {
        public static int Size => 4;
        public static Vector256<float> Load8(byte* p) => Avx.LoadVector256((float*)p);
        public static float Load1(byte* p) => *(float*)p;
    }

    struct BF16Loader : IElementLoader
    {
        public static int Size => 2;
        // bf16 is the top half of an fp32: zero-extend to 32 bits, shift left 16.
        public static Vector256<float> Load8(byte* p) =>
            Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();
        public static float Load1(byte* p) => BitConverter.Int32BitsToSingle(*(ushort*)p << 16);
    }
}
