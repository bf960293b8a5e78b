using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Benchmarks;

/// <summary>y = x·Wᵀ at Qwen1.5-1.8B's MLP shape, bf16 weights: the 25-row prompt (skinny path) and a 625-row sweep batch
/// (packed path), at every instruction-set level this CPU has and with one or all cores.</summary>
[MemoryDiagnoser]
public unsafe class GemmBenchmarks
{
    const int K = 2048, N = 5504;

    [Params(25, 625)] public int M;
    [Params(SimdLevel.Avx512, SimdLevel.Avx2, SimdLevel.Scalar)] public SimdLevel Level;
    [Params(1, 0)] public int Threads;  // 0: all cores

    float[] _x = [], _y = [];
    nint _w;
    WeightMatrix _weight;

    [GlobalSetup]
    public void Setup()
    {
        if (!KernelOptions.IsSupported(Level)) throw new NotSupportedException($"{Level} is not available on this CPU");
        var rng = new Random(1);
        _x = Enumerable.Range(0, M * K).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _y = new float[M * N];
        _w = (nint)NativeMemory.AlignedAlloc((nuint)(N * K * 2), 64);
        var w = new Span<ushort>((void*)_w, N * K);
        for (int i = 0; i < w.Length; i++) w[i] = (ushort)(BitConverter.SingleToInt32Bits((float)(rng.NextDouble() - 0.5)) >> 16);
        _weight = new WeightMatrix(_w, DType.BF16, N, K);
        KernelOptions.MaxLevel = Level;
        KernelOptions.MaxThreads = Threads == 0 ? Environment.ProcessorCount : Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree((void*)_w);

    [Benchmark(Baseline = true)]
    public void LinearForward() => Gemm.LinearForward(_x, M, _weight, default, _y);

    /// <summary>The same with the skinny path's AVX2 broadcast kernel off (every row through the dot kernel; the packed
    /// path at M = 625 is unaffected).</summary>
    [Benchmark]
    public void LinearForwardDotKernelOnly()
    {
        GemmSkinny.NoBroadcast = true;
        try { Gemm.LinearForward(_x, M, _weight, default, _y); }
        finally { GemmSkinny.NoBroadcast = false; }
    }

    /// <summary>The same with bf16 weights at the AVX-512 level widened to a copy for the fp32 dot kernel instead of read by
    /// the bf16 tile (<see cref="Avx512Bf16DotKernel"/>; other levels and the packed path are unaffected).</summary>
    [Benchmark]
    public void LinearForwardWidenedCopy()
    {
        GemmSkinny.NoAvx512Bf16 = true;
        try { Gemm.LinearForward(_x, M, _weight, default, _y); }
        finally { GemmSkinny.NoAvx512Bf16 = false; }
    }
}
