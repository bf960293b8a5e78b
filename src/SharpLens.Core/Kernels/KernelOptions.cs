using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpLens.Kernels;

/// <summary>Instruction-set levels a kernel may dispatch to, lowest first.</summary>
public enum SimdLevel
{
    /// <summary>Plain scalar code.</summary>
    Scalar,
    /// <summary>256-bit vectors with AVX2 + FMA.</summary>
    Avx2,
    /// <summary>512-bit vectors with AVX-512F.</summary>
    Avx512,
}

/// <summary>
/// Process-wide knobs for the numeric kernels: the highest instruction-set level they may use
/// (tests and benchmarks force lower levels) and the number of threads they may use.
/// </summary>
public static class KernelOptions
{
    // Declaration order matters: static initializers run top to bottom.
    static readonly SimdLevel _best =
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? SimdLevel.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? SimdLevel.Avx2
        : SimdLevel.Scalar;
    static SimdLevel _maxLevel = _best;
    static int _maxThreads = Environment.ProcessorCount;

    /// <summary>The best level this CPU supports (hardware-accelerated only).</summary>
    public static SimdLevel BestAvailable => _best;

    /// <summary>Whether <paramref name="level"/> runs natively on this CPU.</summary>
    public static bool IsSupported(SimdLevel level) => level <= BestAvailable;

    /// <summary>
    /// Highest level kernels may use; default <see cref="BestAvailable"/>. Setting a level above
    /// what the CPU supports is allowed; kernels then use <see cref="BestAvailable"/>.
    /// </summary>
    public static SimdLevel MaxLevel
    {
        get => _maxLevel;
        set => _maxLevel = value;
    }

    /// <summary>Most threads one kernel call may use (≥ 1); default <see cref="Environment.ProcessorCount"/>. Kernel
    /// loops never use more threads than there are cores (<see cref="KernelThreads"/>), whatever this says.</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set => _maxThreads = Math.Max(1, value);
    }

    /// <summary>
    /// Test hook for the calling thread only: when set, kernel calls made on this thread run exactly
    /// at this level even when the CPU lacks it (Vector512/Vector256 operations are then emulated in
    /// software: correct, but slow). Thread-static so parallel test classes do not interfere.
    /// </summary>
    [ThreadStatic] internal static SimdLevel? ForcedLevel;

    /// <summary>Test hook for the calling thread only: overrides <see cref="MaxThreads"/>.</summary>
    [ThreadStatic] internal static int? ForcedThreads;

    /// <summary>The level a kernel call made now, on this thread, will use.</summary>
    public static SimdLevel EffectiveLevel =>
        ForcedLevel ?? (SimdLevel)Math.Min((int)_maxLevel, (int)BestAvailable);

    /// <summary>The thread budget a kernel call made now, on this thread, will use.</summary>
    public static int EffectiveThreads => ForcedThreads ?? _maxThreads;
}
