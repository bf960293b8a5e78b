using System.Runtime.InteropServices;
using SharpLens.Kernels;
using SharpLens.Loading;
using Xunit;

namespace SharpLens.Tests.Kernels;

/// <summary>Each backward kernel against its naive twin (at every SIMD level where it runs through the GEMM), and each
/// naive twin against finite differences of the forward's naive kernel.</summary>
public sealed unsafe class BackwardKernelTests
{
    static float[] Rand(Random r, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();

    static void Close(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = expected.Max(v => Math.Abs((double)v));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, max), $"{what}[{i}]: {expected[i]} vs {actual[i]}");
    }

    public static IEnumerable<object[]> LinearCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            foreach (DType dt in Enum.GetValues<DType>())
                foreach (bool inOut in new[] { false, true })
                    foreach (int m in new[] { 1, 25, 70 })
                        foreach (bool stream in new[] { false, true })
                            if (level <= KernelOptions.BestAvailable) yield return new object[] { level, dt, inOut, m, stream };
    }

    /// <summary>Random weights in [−1, 1) of the given dtype (NativeMemory; free with NativeMemory.Free).</summary>
    static nint RandomWeights(Random rng, DType dtype, long count)
    {
        nint data = (nint)NativeMemory.Alloc((nuint)(count * DTypes.Size(dtype)));
        for (long i = 0; i < count; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1);
            switch (dtype)
            {
                case DType.F32: ((float*)data)[i] = v; break;
                case DType.F16: ((Half*)data)[i] = (Half)v; break;
                default: ((ushort*)data)[i] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16); break;
            }
        }
        return data;
    }

    /// <summary>dx by <see cref="LinearBackward.InputGrad"/> at a forced level and thread count, through the row-streaming
    /// kernel (<see cref="InputGradKernel"/>) or the transposed GEMM.</summary>
    static void InputGradAt(SimdLevel level, bool stream, int threads, float[] dy, int m, WeightMatrix w, float[] dx)
    {
        KernelOptions.ForcedLevel = level;
        KernelOptions.ForcedThreads = threads;
        InputGradKernel.ForcedMaxM = stream ? int.MaxValue : 0;
        try
        {
            Assert.Equal(stream && !w.Transposed, InputGradKernel.Applies(m, w));
            LinearBackward.InputGrad(dy, m, w, dx, new float[m * w.Cols]);
        }
        finally { KernelOptions.ForcedLevel = null; KernelOptions.ForcedThreads = null; InputGradKernel.ForcedMaxM = null; }
    }

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void LinearBackward_MatchesNaive(SimdLevel level, DType dtype, bool inOut, int m, bool stream)
    {
        const int n = 37, k = 53;
        var rng = new Random(m * 7 + (int)dtype);
        long count = (long)n * k;
        nint data = RandomWeights(rng, dtype, count);
        try
        {
            // [N, K] as stored by nn.Linear, or a Conv1D [K, N] seen as [N, K].
            var w = inOut ? WeightMatrix.InOut(data, dtype, k, n) : new WeightMatrix(data, dtype, n, k);
            float[] dy = Rand(rng, m * n), x = Rand(rng, m * k), start = Rand(rng, m * k);
            float[] expected = (float[])start.Clone(), actual = (float[])start.Clone();
            LinearBackward.InputGradNaive(dy, m, w, expected);
            InputGradAt(level, stream, 1, dy, m, w, actual);
            Close(expected, actual, 1e-5, $"dx {level} {dtype}");

            float[] dW0 = Rand(rng, n * k), db0 = Rand(rng, n);
            float[] dWe = (float[])dW0.Clone(), dbe = (float[])db0.Clone(), dWa = (float[])dW0.Clone(), dba = (float[])db0.Clone();
            LinearBackward.WeightGradNaive(dy, x, m, n, k, dWe, dbe);
            KernelOptions.ForcedLevel = level;
            try { LinearBackward.WeightGrad(dy, x, m, n, k, dWa, dba, new float[n * (m + k)]); }
            finally { KernelOptions.ForcedLevel = null; }
            Close(dWe, dWa, 1e-5, "dW"); Close(dbe, dba, 1e-5, "db");
        }
        finally { NativeMemory.Free((void*)data); }
    }

    public static IEnumerable<object[]> StreamCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            foreach (DType dt in Enum.GetValues<DType>())
                foreach (int threads in new[] { 1, 2 })
                    if (level <= KernelOptions.BestAvailable) yield return new object[] { level, dt, threads };
    }

    /// <summary>The row-streaming dx kernel over several chunks of W's rows and spans of its columns (ragged at both ends),
    /// on a strided column slice of a wider weight, split across threads: against the naive twin, added onto dx.</summary>
    [Theory]
    [MemberData(nameof(StreamCases))]
    public void InputGradStreaming_ManyChunksAndSpans_MatchesNaive(SimdLevel level, DType dtype, int threads)
    {
        const int n = 2 * InputGradKernel.ChunkRows + 45, k = 2 * InputGradKernel.SpanCols + 77, stride = k + 19, m = 25;
        var rng = new Random(11 + (int)dtype);
        nint data = RandomWeights(rng, dtype, (long)n * stride);
        try
        {
            var w = new WeightMatrix(data, dtype, n, stride).ColSlice(5, k);
            float[] dy = Rand(rng, m * n), start = Rand(rng, m * k);
            float[] expected = (float[])start.Clone(), actual = (float[])start.Clone();
            LinearBackward.InputGradNaive(dy, m, w, expected);
            InputGradAt(level, stream: true, threads, dy, m, w, actual);
            Close(expected, actual, 1e-5, $"dx {level} {dtype}");
        }
        finally { NativeMemory.Free((void*)data); }
    }

    public static IEnumerable<object[]> RaggedCases()
    {
        foreach (SimdLevel level in Enum.GetValues<SimdLevel>())
            foreach (DType dt in Enum.GetValues<DType>())
                foreach (bool direct in new[] { true, false })
                    if (level <= KernelOptions.BestAvailable && (direct || level == SimdLevel.Avx512))
                        yield return new object[] { level, dt, direct };
    }

    /// <summary>The row-streaming dx kernel at every instruction-set level (at the AVX-512 level both the direct path for
    /// bf16 and fp32 weights and the widened panels, which f16 weights always take), for m = 1, 13, 25, 31 and 128 rows of
    /// dy (one to ten row tiles, ragged), K and N not multiples of the tile widths, rows strided wider than K: against the
    /// naive twin, added onto dx, on one and on two threads.</summary>
    [Theory]
    [MemberData(nameof(RaggedCases))]
    public void InputGradStreaming_RaggedShapesAtEachLevel_MatchesNaive(SimdLevel level, DType dtype, bool direct)
    {
        const int n = InputGradKernel.DirectChunkRows + 61, k = 2 * InputGradKernel.SpanCols + 45, stride = k + 37;
        var rng = new Random(31 + (int)dtype);
        nint data = RandomWeights(rng, dtype, (long)n * stride);
        InputGradKernel.NoDirect = !direct;
        try
        {
            var w = new WeightMatrix(data, dtype, n, stride).ColSlice(3, k);
            foreach (int m in new[] { 1, 13, 25, 31, 128 })
                foreach (int threads in new[] { 1, 2 })
                {
                    float[] dy = Rand(rng, m * n), start = Rand(rng, m * k);
                    float[] expected = (float[])start.Clone(), actual = (float[])start.Clone();
                    LinearBackward.InputGradNaive(dy, m, w, expected);
                    InputGradAt(level, stream: true, threads, dy, m, w, actual);
                    Close(expected, actual, 1e-5, $"dx {level} {dtype} m={m} threads={threads}");
                }
        }
        finally { InputGradKernel.NoDirect = false; NativeMemory.Free((void*)data); }
    }

    /// <summary>GPT-NeoX's q/k/v input gradient: dq, dk, dv interleaved as the fused [H, 3, e] rows and multiplied by the
    /// fused matrix as stored (one GEMM) equals the naive sum over heads of each part through its own rows.</summary>
    [Fact]
    public void InterleavedQkvInputGrad_MatchesPerHeadNaive()
    {
        const int T = 7, H = 3, e = 4, d = 10;
        var rng = new Random(23);
        var fused = Rand(rng, 3 * H * e * d);                                  // [H, 3, e, d]
        fixed (float* p = fused)
        {
            var w = new WeightMatrix((nint)p, DType.F32, 3 * H * e, d);
            float[] dq = Rand(rng, T * H * e), dk = Rand(rng, T * H * e), dv = Rand(rng, T * H * e);
            var expected = new float[T * d];
            for (int h = 0; h < H; h++)
                foreach (var (part, g) in new[] { (0, dq), (1, dk), (2, dv) })
                {
                    var rows = new float[T * e];                                // [T, e]: head h's slice of this part
                    for (int t = 0; t < T; t++) g.AsSpan((t * H + h) * e, e).CopyTo(rows.AsSpan(t * e, e));
                    LinearBackward.InputGradNaive(rows, T, w.RowSlice((3 * h + part) * e, e), expected);
                }
            var actual = new float[T * d];
            LinearBackward.InputGrad(SharpLens.Model.BackwardPass.InterleaveQkv(dq, dk, dv, T, H, e), T, w, actual, new float[T * d]);
            Close(expected, actual, 1e-5, "dh");
        }
    }

    /// <summary>d/dx of Σ dy ⊙ f(x) by central differences in double through <paramref name="f"/>.</summary>
    static float[] NumericGrad(float[] x, float[] dy, Func<float[], float[]> f, double h = 1e-3)
    {
        var g = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            var p = (float[])x.Clone(); var q = (float[])x.Clone();
            p[i] += (float)h; q[i] -= (float)h;
            double fp = f(p).Zip(dy, (a, b) => (double)a * b).Sum(), fq = f(q).Zip(dy, (a, b) => (double)a * b).Sum();
            g[i] = (float)((fp - fq) / ((double)p[i] - q[i]));
        }
        return g;
    }

    [Theory]
    [InlineData(false, 16)]
    [InlineData(false, 67)]
    [InlineData(true, 16)]
    [InlineData(true, 67)]
    public void NormBackward_MatchesNaive_AndNaiveMatchesFiniteDifferences(bool layerNorm, int d)
    {
        var rng = new Random(d);
        float[] x = Rand(rng, d, 2), w = Rand(rng, d), b = Rand(rng, d), dy = Rand(rng, d);
        const double eps = 1e-5;
        float s = layerNorm ? LayerNorm.ScaleNaive(x, eps) : RmsNorm.ScaleNaive(x, eps);
        float[] dxN = new float[d], dwN = new float[d], dbN = new float[d], dxF = new float[d], dwF = new float[d], dbF = new float[d];
        if (layerNorm) { NormBackward.LayerNaive(x, s, w, dy, dxN, dwN, dbN); NormBackward.Layer(x, s, w, dy, dxF, dwF, dbF, new float[2 * d]); }
        else { NormBackward.RmsNaive(x, s, w, dy, dxN, dwN); NormBackward.Rms(x, s, w, dy, dxF, dwF, new float[2 * d]); }
        Close(dxN, dxF, 1e-5, "dx"); Close(dwN, dwF, 1e-5, "dw"); Close(dbN, dbF, 1e-5, "db");

        Func<float[], float[]> forward = xx =>
        {
            var y = new float[d];
            if (layerNorm) LayerNorm.ApplyNaive(xx, LayerNorm.ScaleNaive(xx, eps), w, b, y);
            else RmsNorm.ApplyNaive(xx, RmsNorm.ScaleNaive(xx, eps), w, y);
            return y;
        };
        Close(NumericGrad(x, dy, forward), dxN, 2e-3, "finite differences");

        // The gradient at the scale (x held fixed): fast against naive, naive against a finite difference in s.
        float gs = NormBackward.ScaleGrad(x, s, w, dy, centered: layerNorm, new float[2 * d]);
        float gsN = NormBackward.ScaleGradNaive(x, s, w, dy, centered: layerNorm);
        Assert.True(Math.Abs(gs - gsN) <= 1e-5 * Math.Max(1, Math.Abs(gsN)), $"scale: {gs} vs {gsN}");
        double Out(float scale)
        {
            var y = new float[d];
            if (layerNorm) LayerNorm.ApplyNaive(x, scale, w, b, y); else RmsNorm.ApplyNaive(x, scale, w, y);
            return y.Zip(dy, (p, q) => (double)p * q).Sum();
        }
        float hs = 1e-3f * s;
        double numeric = (Out(s + hs) - Out(s - hs)) / ((double)(s + hs) - (s - hs));
        Assert.True(Math.Abs(numeric - gsN) <= 2e-3 * Math.Max(1, Math.Abs(gsN)), $"scale: finite difference {numeric} vs {gsN}");
    }

    [Theory]
    [InlineData(0)]   // every dimension of the head rotates
    [InlineData(4)]   // partial rotary (GPT-NeoX's rotary_pct, Phi-3's partial_rotary_factor): 4 of 16 dims
    public void RotaryInverse_IsTheTranspose(int rotaryDims)
    {
        var rot = new Rotary(16, 10000, null, rotaryDims);
        var rng = new Random(3);
        float[] x = Rand(rng, 32), y = Rand(rng, 32), rx = (float[])x.Clone(), ry = (float[])y.Clone();
        rot.Apply(rx, 7);
        rot.ApplyInverse(ry, 7);
        double a = rx.Zip(y, (p, q) => (double)p * q).Sum(), bb = x.Zip(ry, (p, q) => (double)p * q).Sum();
        Assert.Equal(a, bb, 5);
        rot.ApplyInverse(rx, 7);
        Close(x, rx, 1e-6, "round trip");
    }

    public static IEnumerable<object[]> ActivationCases() =>
        from kind in new[] { ActivationKind.Silu, ActivationKind.GeluExact, ActivationKind.GeluTanh }
        from level in Enum.GetValues<SimdLevel>()
        where level <= KernelOptions.BestAvailable
        select new object[] { kind, level };

    /// <summary>At each instruction-set level (301 elements: whole vectors and a scalar tail), against the double
    /// reference; the reference against finite differences of the forward's naive activation.</summary>
    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationBackward_MatchesNaive_AndNaiveMatchesFiniteDifferences(ActivationKind kind, SimdLevel level)
    {
        const int n = 301;
        var rng = new Random((int)kind);
        float[] x = Rand(rng, n, 5), up = Rand(rng, n, 2), dy = Rand(rng, n);
        x[0] = 0; x[1] = -12; x[2] = 12;                                   // the slope's flat ends and its middle
        float[] dxN = new float[n], dxF = new float[n], dgN = new float[n], duN = new float[n], dgF = new float[n], duF = new float[n];
        ActivationBackward.PlainNaive(kind, x, dy, dxN);
        ActivationBackward.GatedNaive(kind, x, up, dy, dgN, duN);
        KernelOptions.ForcedLevel = level;
        try
        {
            ActivationBackward.Plain(kind, x, dy, dxF, new float[n]);
            ActivationBackward.Gated(kind, x, up, dy, dgF, duF);
        }
        finally { KernelOptions.ForcedLevel = null; }
        Close(dxN, dxF, 1e-5, $"plain at {level}");
        Close(dgN, dgF, 1e-5, $"dgate at {level}"); Close(duN, duF, 1e-5, $"dup at {level}");
        Close(NumericGrad(x, dy, xx => { var y = new float[xx.Length]; Activations.ApplyNaive(kind, xx, y); return y; }), dxN, 2e-3, "finite differences");
    }

    [Theory]
    [InlineData(1, 6, 6, 0, 4, 2, 8)]   // GQA, every position
    [InlineData(2, 3, 7, 4, 4, 4, 5)]   // a later block of queries (q0 > 0), two items
    [InlineData(1, 9, 9, 0, 6, 1, 4)]   // one kv head for all
    public void AttentionBackward_MatchesNaive_AndNaiveMatchesFiniteDifferences(int B, int n, int T, int q0, int H, int G, int e)
    {
        var rng = new Random(B * 100 + T);
        float scale = 1 / MathF.Sqrt(e);
        float[] q = Rand(rng, B * n * H * e), k = Rand(rng, B * T * G * e), v = Rand(rng, B * T * G * e), dz = Rand(rng, B * n * H * e);
        float[] Forward(float[] qq, float[] kk, float[] vv, float[]? patternOut = null)
        {
            var s = new float[B * H * n * T];
            Attention.ScoresNaive(qq, kk, B, n, T, q0, H, G, e, s, scale);
            Attention.Pattern(s, T);
            s.CopyTo(patternOut ?? new float[s.Length], 0);
            var z = new float[B * n * H * e];
            Attention.WeightedValuesNaive(s, vv, B, n, T, H, G, e, z);
            return z;
        }
        var pattern = new float[B * H * n * T];
        Forward(q, k, v, pattern);
        var outs = Enumerable.Range(0, 10).Select(i => new float[i < 4 ? B * H * n * T : i % 2 == 0 ? B * n * H * e : B * T * G * e]).ToArray();
        float[] dPn = outs[0], dSn = outs[1], dPf = outs[2], dSf = outs[3];
        float[] dqn = new float[q.Length], dkn = new float[k.Length], dvn = new float[v.Length], dqf = new float[q.Length], dkf = new float[k.Length], dvf = new float[v.Length];
        AttentionBackward.RunNaive(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPn, dSn, dqn, dkn, dvn);
        AttentionBackward.Run(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPf, dSf, dqf, dkf, dvf);
        Close(dPn, dPf, 1e-5, "dPattern"); Close(dSn, dSf, 1e-5, "dScores");
        Close(dqn, dqf, 1e-5, "dq"); Close(dkn, dkf, 1e-5, "dk"); Close(dvn, dvf, 1e-5, "dv");

        Close(NumericGrad(q, dz, qq => Forward(qq, k, v)), dqn, 2e-3, "dq by finite differences");
        Close(NumericGrad(k, dz, kk => Forward(q, kk, v)), dkn, 2e-3, "dk by finite differences");
        Close(NumericGrad(v, dz, vv => Forward(q, k, vv)), dvn, 2e-3, "dv by finite differences");
    }

    /// <summary>A size the backward splits across threads (kv heads on KernelThreads): still the naive result.</summary>
    [Fact]
    public void AttentionBackward_Threaded_MatchesNaive()
    {
        const int B = 2, n = 25, T = 27, q0 = 2, H = 8, G = 4, e = 64;
        var rng = new Random(5);
        float scale = 1 / MathF.Sqrt(e);
        float[] q = Rand(rng, B * n * H * e), k = Rand(rng, B * T * G * e), v = Rand(rng, B * T * G * e), dz = Rand(rng, B * n * H * e);
        var pattern = new float[B * H * n * T];
        Attention.ScoresNaive(q, k, B, n, T, q0, H, G, e, pattern, scale);
        Attention.Pattern(pattern, T);
        float[] Z(int len) => new float[len];
        float[] dPn = Z(pattern.Length), dSn = Z(pattern.Length), dqn = Z(q.Length), dkn = Z(k.Length), dvn = Z(v.Length);
        float[] dPf = Z(pattern.Length), dSf = Z(pattern.Length), dqf = Rand(rng, q.Length), dkf = Rand(rng, k.Length), dvf = Rand(rng, v.Length);
        AttentionBackward.RunNaive(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPn, dSn, dqn, dkn, dvn);
        KernelOptions.ForcedThreads = 2;
        try { AttentionBackward.Run(pattern, q, k, v, dz, B, n, T, q0, H, G, e, scale, dPf, dSf, dqf, dkf, dvf); }
        finally { KernelOptions.ForcedThreads = null; }
        Close(dPn, dPf, 1e-5, "dPattern"); Close(dSn, dSf, 1e-5, "dScores");
        Close(dqn, dqf, 1e-5, "dq"); Close(dkn, dkf, 1e-5, "dk"); Close(dvn, dvf, 1e-5, "dv");
    }
}
