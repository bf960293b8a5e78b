using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>Throughput probes for <see cref="Gemm"/> (for <c>sharplens bench</c>); never used in assertions.</summary>
public static unsafe class GemmBenchmark
{
    /// <summary>
    /// Measures <see cref="Gemm.LinearForward"/> on y[m,n] = x[m,k]·Wᵀ with W [n,k] stored as
    /// <paramref name="wType"/> (random data), at the current <see cref="KernelOptions"/>.
    /// Runs one warm-up call, then repeats for about <paramref name="budget"/> and returns the best
    /// GFLOP/s (2·m·n·k flops per call) over timed batches.
    /// </summary>
    public static double MeasureGflops(int m, int k, int n, DType wType, TimeSpan budget)
    {
        var rng = new Random(1234);
        var x = new float[(long)m * k];
        var y = new float[(long)m * n];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        long count = (long)n * k;
        int size = DTypes.Size(wType);
        nint data = (nint)NativeMemory.AlignedAlloc((nuint)(count * size), 64);
        try
        {
            for (long i = 0; i < count; i++)
            {
                float v = (float)(rng.NextDouble() * 2 - 1);
                switch (wType)
                {
                    case DType.F32: ((float*)data)[i] = v; break;
                    case DType.F16: ((Half*)data)[i] = (Half)v; break;
                    default: ((ushort*)data)[i] = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16); break;
                }
            }
            var w = new WeightMatrix(data, wType, n, k);
            Gemm.LinearForward(x, m, w, default, y);  // warm-up: JIT, buffers, page faults
            double flops = 2.0 * m * n * k, best = 0;
            var total = Stopwatch.StartNew();
            do
            {
                var sw = Stopwatch.StartNew();
                int calls = 0;
                do { Gemm.LinearForward(x, m, w, default, y); calls++; }
                while (sw.Elapsed.TotalMilliseconds < 20);
                best = Math.Max(best, flops * calls / sw.Elapsed.TotalSeconds / 1e9);
            }
            while (total.Elapsed < budget);
            return best;
        }
        finally { NativeMemory.AlignedFree((void*)data); }
    }

    /// <summary>
    /// Measures the fp32 FMA peak of this machine: every core (up to <see cref="KernelOptions.MaxThreads"/>)
    /// runs a loop of 12 independent vector FMA chains at the widest native width, for about
    /// <paramref name="budget"/>. Returns the best GFLOP/s over rounds.
    /// </summary>
    public static double MeasureFmaPeakGflops(TimeSpan budget)
    {
        int threads = Math.Max(1, Math.Min(Environment.ProcessorCount, KernelOptions.MaxThreads));
        bool wide = KernelOptions.IsSupported(SimdLevel.Avx512);
        int lanes = wide ? 16 : KernelOptions.IsSupported(SimdLevel.Avx2) ? 8 : 1;
        const long Iters = 1 << 22;
        double best = 0;
        var total = Stopwatch.StartNew();
        do
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
            {
                if (wide) Chains512(Iters); else if (lanes == 8) Chains256(Iters); else ChainsScalar(Iters);
            });
            double flops = 2.0 * 12 * lanes * Iters * threads;
            best = Math.Max(best, flops / sw.Elapsed.TotalSeconds / 1e9);
        }
        while (total.Elapsed < budget);
        return best;
    }

    static volatile float _sink;

    static void Chains256(long iters)
    {
        var m = Vector256.Create(0.999999f); var d = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
            a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, d); a1 = Vector256.FusedMultiplyAdd(a1, m, d);
            a2 = Vector256.FusedMultiplyAdd(a2, m, d); a3 = Vector256.FusedMultiplyAdd(a3, m, d);
            a4 = Vector256.FusedMultiplyAdd(a4, m, d); a5 = Vector256.FusedMultiplyAdd(a5, m, d);
            a6 = Vector256.FusedMultiplyAdd(a6, m, d); a7 = Vector256.FusedMultiplyAdd(a7, m, d);
            a8 = Vector256.FusedMultiplyAdd(a8, m, d); a9 = Vector256.FusedMultiplyAdd(a9, m, d);
            a10 = Vector256.FusedMultiplyAdd(a10, m, d); a11 = Vector256.FusedMultiplyAdd(a11, m, d);
        }
        _sink = Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    static void Chains512(long iters)
    {
        var m = Vector512.Create(0.999999f); var d = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
            a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d);
            a2 = Vector512.FusedMultiplyAdd(a2, m, d); a3 = Vector512.FusedMultiplyAdd(a3, m, d);
            a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
            a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d);
            a8 = Vector512.FusedMultiplyAdd(a8, m, d); a9 = Vector512.FusedMultiplyAdd(a9, m, d);
            a10 = Vector512.FusedMultiplyAdd(a10, m, d); a11 = Vector512.FusedMultiplyAdd(a11, m, d);
        }
        _sink = Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    static void ChainsScalar(long iters)
    {
        float a0 = 1, a1 = 1, a2 = 1, a3 = 1, a4 = 1, a5 = 1, a6 = 1, a7 = 1, a8 = 1, a9 = 1, a10 = 1, a11 = 1;
        const float m = 0.999999f, d = 1e-7f;
        for (long i = 0; i < iters; i++)
        {
            a0 = MathF.FusedMultiplyAdd(a0, m, d); a1 = MathF.FusedMultiplyAdd(a1, m, d);
            a2 = MathF.FusedMultiplyAdd(a2, m, d); a3 = MathF.FusedMultiplyAdd(a3, m, d);
            a4 = MathF.FusedMultiplyAdd(a4, m, d); a5 = MathF.FusedMultiplyAdd(a5, m, d);
            a6 = MathF.FusedMultiplyAdd(a6, m, d); a7 = MathF.FusedMultiplyAdd(a7, m, d);
            a8 = MathF.FusedMultiplyAdd(a8, m, d); a9 = MathF.FusedMultiplyAdd(a9, m, d);
            a10 = MathF.FusedMultiplyAdd(a10, m, d); a11 = MathF.FusedMultiplyAdd(a11, m, d);
        }
        _sink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    }
}
