using System.Runtime.InteropServices;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Tests.Kernels;

/// <summary>
/// The skinny GEMM reads no weight, bias or output element past the end of its buffer: each ends exactly at an
/// inaccessible page (Linux mmap + mprotect), so an out-of-bounds access kills the test run instead of reading
/// whatever lies there. Row counts around the broadcast kernel's blocks of 8 and 24, ragged column groups (nr &lt; 4,
/// whose missing weight rows the broadcast kernel must not read), ragged K-chunks, every dtype. The weights are also
/// placed to start right after an inaccessible page, so that a read before a tensor's first element (a 32-bit read of
/// a bf16 pair reaching back one element, a negative offset) kills the run as well. Both vector levels: AVX2 (the
/// broadcast and dot kernels) and AVX-512 (for bf16 weights the tile that reads them in place, over several K-spans at
/// k = 2085). (On a CPU without a level the forced level runs on emulated vectors: its bounds are checked all the same.)
/// </summary>
public sealed unsafe class GemmBoundsTests
{
    [DllImport("libc", SetLastError = true)] static extern nint mmap(nint addr, nuint len, int prot, int flags, int fd, nint off);
    [DllImport("libc", SetLastError = true)] static extern int mprotect(nint addr, nuint len, int prot);
    [DllImport("libc", SetLastError = true)] static extern int munmap(nint addr, nuint len);

    /// <summary>A buffer of <c>bytes</c> bytes that ends where a PROT_NONE page begins, or (atStart) starts where one
    /// ends.</summary>
    sealed class Guarded : IDisposable
    {
        const int ProtNone = 0, ProtReadWrite = 3, MapPrivateAnonymous = 0x22, Page = 4096;
        readonly nint _base;
        readonly nuint _length;
        public readonly nint Ptr;

        public Guarded(long bytes, bool atStart = false)
        {
            long pages = (bytes + Page - 1) / Page + 1;
            _length = (nuint)(pages * Page);
            _base = mmap(0, _length, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            Assert.True(_base != -1, "mmap failed");
            Assert.Equal(0, mprotect(atStart ? _base : _base + (nint)((pages - 1) * Page), Page, ProtNone));
            Ptr = atStart ? _base + Page : _base + (nint)((pages - 1) * Page - bytes);
        }

        public void Dispose() => munmap(_base, _length);
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (SimdLevel level in new[] { SimdLevel.Avx2, SimdLevel.Avx512 })
            foreach (DType dt in Enum.GetValues<DType>())
                foreach (int m in new[] { 1, 7, 8, 9, 16, 23, 25, 33, 48 })
                    foreach (int k in new[] { 5, 37, 528, 1040, 2085 })
                        yield return new object[] { level, dt, m, k };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SkinnyPath_StaysInsideItsBuffers(SimdLevel level, DType dtype, int m, int k)
    {
        foreach (int n in new[] { 3, 9, 12 })
            foreach (bool dotOnly in new[] { false, true })
            foreach (bool guardStart in new[] { false, true })
            {
                var rng = new Random(HashCode.Combine(m, k, n, (int)dtype));
                int size = DTypes.Size(dtype);
                using var wBuf = new Guarded((long)n * k * size, atStart: guardStart);
                for (long i = 0; i < (long)n * k; i++)
                {
                    float v = (float)(rng.NextDouble() * 2 - 1);
                    if (dtype == DType.F32) ((float*)wBuf.Ptr)[i] = v;
                    else if (dtype == DType.F16) ((Half*)wBuf.Ptr)[i] = (Half)v;
                    else ((ushort*)wBuf.Ptr)[i] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16);
                }
                var w = new WeightMatrix(wBuf.Ptr, dtype, n, k);
                using var biasBuf = new Guarded(n * sizeof(float));
                using var yBuf = new Guarded((long)m * n * sizeof(float));
                var bias = new Span<float>((void*)biasBuf.Ptr, n);
                for (int j = 0; j < n; j++) bias[j] = (float)(rng.NextDouble() * 2 - 1);
                var y = new Span<float>((void*)yBuf.Ptr, m * n);
                y.Fill(float.NaN);
                var x = new float[m * k];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);

                KernelOptions.ForcedLevel = level;
                GemmSkinny.ForcedMaxM = int.MaxValue;
                GemmSkinny.NoBroadcast = dotOnly;
                try { Gemm.LinearForward(x, m, w, bias, y); }
                finally { KernelOptions.ForcedLevel = null; GemmSkinny.ForcedMaxM = null; GemmSkinny.NoBroadcast = false; }

                var expected = new float[m * n];
                Gemm.LinearForwardNaive(x, m, w, bias, expected);
                for (int i = 0; i < m * n; i++)
                    Assert.True(Math.Abs(expected[i] - y[i]) <= 1e-4 * Math.Sqrt(k),
                        $"{level} {dtype} {m}×{k}×{n} dotOnly={dotOnly} guardStart={guardStart} [{i / n},{i % n}]: expected {expected[i]}, got {y[i]}");
            }
    }
}
