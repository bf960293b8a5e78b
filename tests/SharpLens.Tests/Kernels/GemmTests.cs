using System.Runtime.InteropServices;
using SharpLens.Kernels;
using SharpLens.Loading;
using Xunit.Abstractions;

namespace SharpLens.Tests.Kernels;

/// <summary>Fast GEMM vs the naive reference at every SIMD level, dtype, ragged shape and thread count.</summary>
public sealed unsafe class GemmTests(ITestOutputHelper output)
{
    // (m, k, n, colSlice): colSlice views W as ColSlice(3, k) of a [n, k + 8] matrix (RowStride > Cols).
    static readonly (int M, int K, int N, bool Slice)[] Shapes =
    {
        (1, 1, 1, false), (7, 13, 3, false), (25, 67, 129, false), (33, 100, 300, true),
        (1, 300, 17, true), (150, 70, 40, false), (2, 3, 4100, false), (40, 300, 130, true), (61, 517, 203, false),
        // K a multiple of 8 and 16: the vector-only reductions of the skinny kernels (no scalar k-tail)
        (5, 64, 37, false), (26, 1040, 45, true),
        // several L2 spans of K in the skinny path (GemmSkinny.XBlockBytes), the last one ragged
        (25, 2600, 9, false),
        // m = 4: balanced row tiles of 2 + 2, so the skinny path's fused first tile has 2 rows (a 3-row one summed row 2 twice)
        (4, 1040, 13, false),
        // two broadcast blocks (24 + 16 rows) over three K-chunks: each block carries its own running totals (yT)
        (40, 1100, 70, false),
        // packed path with two A blocks in M (144 + 6, the last padded to 8) and in K (256 + 44), shared by two threads' ranges
        (150, 300, 72, true),
        // the AVX-512 bf16 tile: three K-spans (1024 + 1024 + 37, a scalar tail) under (with one thread) three blocks of
        // 16 weight groups (64 + 64 + 5 rows, the last group of one), rows in tiles of 5
        (25, 2085, 133, true),
        // ... and spans cut short by SpanBytes (100 rows: 640 + 360), rows in 20 tiles
        (100, 1000, 20, true),
    };

    public static IEnumerable<object[]> LinearCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            foreach (DType dt in Enum.GetValues<DType>())
                for (int s = 0; s < Shapes.Length; s++)
                    foreach (bool bias in new[] { false, true })
                        foreach (int threads in new[] { 1, 2 })
                            foreach (Path path in Enum.GetValues<Path>())
                                if (path == Path.SkinnyWidening ? level == SimdLevel.Avx512 && dt == DType.BF16  // only there it differs
                                    : path == Path.Auto || level != SimdLevel.Scalar)  // scalar has one path
                                    yield return new object[] { level, dt, s, bias, threads, path };
    }

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void LinearForward_MatchesNaive(SimdLevel level, DType dtype, int shape, bool withBias, int threads, Path path)
    {
        var (m, k, n, slice) = Shapes[shape];
        var rng = new Random(HashCode.Combine(m, k, n, (int)dtype));
        float[] x = RandomArray(rng, m * k);
        float[] bias = withBias ? RandomArray(rng, n) : Array.Empty<float>();
        using var store = new NativeWeight(rng, n, slice ? k + 8 : k, dtype);
        WeightMatrix w = slice ? store.View.ColSlice(3, k) : store.View;

        var expected = new float[m * n];
        Gemm.LinearForwardNaive(x, m, w, bias, expected);
        var actual = new float[m * n];
        actual.AsSpan().Fill(float.NaN);  // the kernel must overwrite, not accumulate into, y
        RunAt(level, threads, () => Gemm.LinearForward(x, m, w, bias, actual), path);

        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double scale = withBias ? Math.Abs(bias[j]) : 0;
                for (int p = 0; p < k; p++) scale += Math.Abs(x[i * k + p] * w[j, p]);
                AssertClose(expected[i * n + j], actual[i * n + j], scale, k, $"[{i},{j}] {level} {dtype} {m}×{k}×{n}");
            }
    }

    public static IEnumerable<object[]> InOutCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            foreach (DType dt in Enum.GetValues<DType>())
                foreach (int s in new[] { 0, 1, 2, 3, 5, 6, 8, 14 })
                    foreach (int threads in new[] { 1, 2 })
                        yield return new object[] { level, dt, s, threads };
    }

    /// <summary>A <c>Conv1D</c> weight stored [in = K, out] read in place as [N, K]: a block of its columns (the way q, k
    /// and v are cut from GPT-2's fused <c>c_attn</c>) with a bias, and a block of its rows (one head's share of
    /// <c>c_proj</c>, <see cref="WeightMatrix.ColSlice"/> of the [out, in] view).</summary>
    [Theory]
    [MemberData(nameof(InOutCases))]
    public void LinearForward_ReadsInOutWeightsInPlace(SimdLevel level, DType dtype, int shape, int threads)
    {
        var (m, k, n, _) = Shapes[shape];
        var rng = new Random(HashCode.Combine(m, k, n, (int)dtype, 7));
        float[] x = RandomArray(rng, m * k), bias = RandomArray(rng, n);
        using var store = new NativeWeight(rng, k + 5, 3 * n, dtype);       // stored [in, out] row-major, with spare rows
        var full = WeightMatrix.InOut(store.View.Data, dtype, k + 5, 3 * n);  // [3n, k + 5]
        Assert.Equal(store.View[2, n + 1], full[n + 1, 2]);
        foreach (var w in new[] { full.RowSlice(n, n).ColSlice(0, k), full.RowSlice(2 * n, n).ColSlice(5, k) })
        {
            Assert.True(w.Transposed);
            var expected = new float[m * n];
            Gemm.LinearForwardNaive(x, m, w, bias, expected);
            var actual = new float[m * n];
            actual.AsSpan().Fill(float.NaN);
            RunAt(level, threads, () => Gemm.LinearForward(x, m, w, bias, actual));
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double scale = Math.Abs(bias[j]);
                    for (int p = 0; p < k; p++) scale += Math.Abs(x[i * k + p] * w[j, p]);
                    AssertClose(expected[i * n + j], actual[i * n + j], scale, k, $"[{i},{j}] {level} {dtype} {m}×{k}×{n} in-out");
                }
            var row = new float[k];
            w.ReadRow(n - 1, row);
            for (int p = 0; p < k; p++) Assert.Equal(w[n - 1, p], row[p]);
        }
    }

    public static IEnumerable<object[]> MatMulCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            for (int s = 0; s < Shapes.Length; s++)
                foreach (int threads in new[] { 1, 2 })
                    yield return new object[] { level, s, threads };
    }

    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void MatMul_MatchesNaive(SimdLevel level, int shape, int threads)
    {
        var (m, k, n, _) = Shapes[shape];
        var rng = new Random(m * 31 + k * 7 + n);
        float[] a = RandomArray(rng, m * k), b = RandomArray(rng, k * n);
        var expected = new float[m * n];
        Gemm.MatMulNaive(a, m, k, b, n, expected);
        var actual = new float[m * n];
        actual.AsSpan().Fill(float.NaN);
        RunAt(level, threads, () => Gemm.MatMul(a, m, k, b, n, actual));
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double scale = 0;
                for (int p = 0; p < k; p++) scale += Math.Abs(a[i * k + p] * b[p * n + j]);
                AssertClose(expected[i * n + j], actual[i * n + j], scale, k, $"[{i},{j}] {level} {m}×{k}×{n}");
            }
    }

    [Fact]
    public void ZeroK_GivesBiasOrZeros()
    {
        var w = new WeightMatrix(0, DType.BF16, 3, 0);
        var y = new float[6];
        y.AsSpan().Fill(float.NaN);
        Gemm.LinearForward(ReadOnlySpan<float>.Empty, 2, w, new float[] { 1, 2, 3 }, y);
        Assert.Equal(new float[] { 1, 2, 3, 1, 2, 3 }, y);
        Gemm.LinearForward(ReadOnlySpan<float>.Empty, 2, w, default, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RejectsShortBuffers()
    {
        using var store = new NativeWeight(new Random(1), 4, 5, DType.F32);
        Assert.Throws<ArgumentException>(() => Gemm.LinearForward(new float[9], 2, store.View, default, new float[8]));
        Assert.Throws<ArgumentException>(() => Gemm.LinearForward(new float[10], 2, store.View, default, new float[7]));
        Assert.Throws<ArgumentException>(() => Gemm.LinearForward(new float[10], 2, store.View, new float[3], new float[8]));
        Assert.Throws<ArgumentException>(() => Gemm.MatMul(new float[5], 2, 3, new float[6], 2, new float[4]));
    }

    [Fact]
    public void ReportsSimdLevelsExercised()
    {
        // Levels the CPU lacks are still exercised above, through the software emulation of
        // Vector512/Vector256 (KernelOptions.ForcedLevel); say so rather than silently skipping hardware.
        output.WriteLine($"Best available: {KernelOptions.BestAvailable}");
        foreach (SimdLevel l in Enum.GetValues<SimdLevel>())
            output.WriteLine(KernelOptions.IsSupported(l)
                ? $"{l}: native"
                : $"{l}: CPU lacks it; tested via emulated vectors (correctness only)");
        Assert.Equal(KernelOptions.BestAvailable, KernelOptions.MaxLevel);
        Assert.Equal(KernelOptions.BestAvailable, KernelOptions.EffectiveLevel);
        Assert.Equal(Environment.ProcessorCount, KernelOptions.MaxThreads);
    }

    [Theory]
    [InlineData(25, 1024, 40, true)]    // 24 rows through the broadcast kernel, a fused 1-row tile; bias on the first K-chunk only
    [InlineData(7, 528, 9, false)]      // a ragged last group (9 = 2·4 + 1) and a 16-wide last chunk
    [InlineData(10, 528, 12, true)]     // 8 rows through the broadcast kernel, a fused tile of the other 2
    public void SkinnyBf16_FusedFirstTile_GivesTheSameBitsAsASeparatePass(int m, int k, int n, bool withBias)
    {
        if (!KernelOptions.IsSupported(SimdLevel.Avx2)) return;  // the fused tile is AVX2 code
        var rng = new Random(m + k + n);
        float[] x = RandomArray(rng, m * k);
        float[] bias = withBias ? RandomArray(rng, n) : Array.Empty<float>();
        using var store = new NativeWeight(rng, n, k, DType.BF16);
        float[] Run(bool separate)
        {
            var y = new float[m * n];
            GemmSkinny.NoFusedFirstTile = separate;
            try { RunAt(SimdLevel.Avx2, 1, () => Gemm.LinearForward(x, m, store.View, bias, y), Path.Skinny); }
            finally { GemmSkinny.NoFusedFirstTile = false; }
            return y;
        }
        Assert.Equal(Run(separate: true), Run(separate: false));
    }

    [Theory]
    [InlineData(25, 1000, 1000)]    // all of K in one span, a multiple of 32 or not
    [InlineData(25, 2048, 1024)]    // the longest span, so that a 5-row tile of x stays in L1
    [InlineData(25, 5504, 1024)]
    [InlineData(300, 5000, 192)]    // many rows: the span's x within SpanBytes, whole 32-blocks
    [InlineData(5000, 100, 32)]     // never below one block
    public void Avx512Bf16Span_KeepsXWithinItsBudgetInWholeBlocks(int m, int k, int expected)
    {
        int span = GemmSkinnyBf16Avx512.SpanLength(m, k);
        Assert.Equal(expected, span);
        Assert.True(span == k || span % Avx512Bf16DotKernel.Block == 0);
    }

    [Fact]
    public void BenchmarkProbesRun()
    {
        // No timed assertion: only that the probes run and return a positive rate.
        Assert.True(GemmBenchmark.MeasureGflops(5, 40, 33, DType.BF16, TimeSpan.FromMilliseconds(30)) > 0);
        Assert.True(GemmBenchmark.MeasureFmaPeakGflops(TimeSpan.FromMilliseconds(1)) > 0);
    }

    /// <summary>Which LinearForward implementation to force: the size-based default, the packed (transposed-panel) path
    /// for every M, the same with each column range packing its own A (as one thread, or a large A, does), the skinny
    /// path for every M, the skinny path without its AVX2 broadcast kernel (every row through the dot kernel), or the
    /// skinny path with bf16 weights at the AVX-512 level widened to a copy for the fp32 dot kernel instead of read by the
    /// bf16 tile (<see cref="Avx512Bf16DotKernel"/>).</summary>
    public enum Path { Auto, Packed, PackedPerRangeA, Skinny, SkinnyDotOnly, SkinnyWidening }

    static void RunAt(SimdLevel level, int threads, Action action, Path path = Path.Auto)
    {
        KernelOptions.ForcedLevel = level;
        KernelOptions.ForcedThreads = threads;
        GemmSkinny.ForcedMaxM = path switch
        {
            Path.Packed or Path.PackedPerRangeA => 0, Path.Skinny or Path.SkinnyDotOnly or Path.SkinnyWidening => int.MaxValue, _ => null,
        };
        GemmSkinny.NoBroadcast = path == Path.SkinnyDotOnly;
        GemmSkinny.NoAvx512Bf16 = path == Path.SkinnyWidening;
        GemmDriver.NoPrePack = path == Path.PackedPerRangeA;
        try { action(); }
        finally
        {
            KernelOptions.ForcedLevel = null; KernelOptions.ForcedThreads = null;
            GemmSkinny.ForcedMaxM = null; GemmSkinny.NoBroadcast = false; GemmSkinny.NoAvx512Bf16 = false; GemmDriver.NoPrePack = false;
        }
    }

    static void AssertClose(float expected, float actual, double scale, int k, string where)
    {
        // fp32 accumulation error grows ~√K·ε relative to Σ|x·w|.
        double tol = 1e-6 * Math.Sqrt(k) * scale + 1e-30;
        if (!(Math.Abs(expected - actual) <= tol))
            Assert.Fail($"{where}: expected {expected}, got {actual} (tol {tol:g3})");
    }

    static float[] RandomArray(Random rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>A [rows, cols] matrix of random values in native memory, stored in <c>dtype</c>.</summary>
    sealed class NativeWeight : IDisposable
    {
        readonly nint _data;
        public WeightMatrix View { get; }

        public NativeWeight(Random rng, int rows, int cols, DType dtype)
        {
            long count = (long)rows * cols;
            _data = (nint)NativeMemory.Alloc((nuint)Math.Max(1, count * DTypes.Size(dtype)));
            for (long i = 0; i < count; i++)
            {
                float v = (float)(rng.NextDouble() * 2 - 1);
                switch (dtype)
                {
                    case DType.F32: ((float*)_data)[i] = v; break;
                    case DType.F16: ((Half*)_data)[i] = (Half)v; break;
                    default: ((ushort*)_data)[i] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16); break;
                }
            }
            View = new WeightMatrix(_data, dtype, rows, cols);
        }

        public void Dispose() => NativeMemory.Free((void*)_data);
    }
}
