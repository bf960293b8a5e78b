using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using SharpLens.Kernels;

namespace SharpLens.Benchmarks;

/// <summary>
/// A two-way parallel loop whose halves each take about as long as half of a 25-row o-projection (~0.5 ms), after a
/// single-threaded gap like a forward's norms and attention: <see cref="KernelThreads"/> against <c>Parallel.For</c>. The ideal
/// is one half's time; a loop whose second thread arrives late, or never (the caller then runs both), takes longer.
/// Compare the means and the Max columns.
/// </summary>
[MemoryDiagnoser, MaxColumn]
public class ParallelLoopBenchmarks
{
    [Params(500)] public int HalfMicroseconds;
    [Params(50, 300)] public int GapMicroseconds;

    static void Busy(double microseconds)
    {
        long end = Stopwatch.GetTimestamp() + (long)(Stopwatch.Frequency * microseconds / 1e6);
        while (Stopwatch.GetTimestamp() < end) Thread.SpinWait(10);
    }

    [Benchmark(Baseline = true)]
    public void ParallelFor()
    {
        Busy(GapMicroseconds);
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, _ => Busy(HalfMicroseconds));
    }

    [Benchmark]
    public void KernelThreadsFor()
    {
        Busy(GapMicroseconds);
        KernelThreads.For(2, 2, _ => Busy(HalfMicroseconds));
    }
}
