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
    /// <summary>Environment variable that caps the level (<c>avx512</c>, <c>avx2</c> or <c>scalar</c>), read by the CLI
    /// (<see cref="ApplyEnvironment"/>).</summary>
    public const string LevelVariable = "SHARPLENS_SIMD";

    // Declaration order matters: static initializers run top to bottom.
    static readonly SimdLevel _best = Detect(Avx512F.IsSupported, Avx2.IsSupported && Fma.IsSupported);
    static SimdLevel _maxLevel = _best;
    static int _maxThreads = Environment.ProcessorCount;

    /// <summary>The best level this CPU supports.</summary>
    public static SimdLevel BestAvailable => _best;

    /// <summary>
    /// The level for a CPU with (avx512) the AVX-512 baseline the JIT requires (F, CD, BW, DQ, VL: it enables all or none,
    /// so <c>Avx512F.IsSupported</c> stands for the set) and (avx2Fma) AVX2 with FMA. AVX-512 is chosen even where .NET
    /// reports <c>Vector512.IsHardwareAccelerated</c> false: on first-generation AVX-512 Intel (Skylake-SP, Cascade Lake,
    /// Cooper Lake) the runtime only lowers its <i>preferred</i> width to 256 bits, because scattered 512-bit code there
    /// can cost more clock speed than it gains; the Vector512 operations are still compiled to AVX-512 instructions.
    /// These kernels are long FMA-bound loops, the case 512-bit units are for: on the speed issue's 2-core AVX-512 machine
    /// OpenBLAS's 512-bit sgemm reached 310 GFLOP/s, above the 189 that 256-bit FMAs can reach there at all.
    /// <see cref="LevelVariable"/> caps the choice.
    /// </summary>
    internal static SimdLevel Detect(bool avx512, bool avx2Fma) =>
        avx512 ? SimdLevel.Avx512 : avx2Fma ? SimdLevel.Avx2 : SimdLevel.Scalar;

    /// <summary>The level named by a <see cref="LevelVariable"/> value (case-insensitive; surrounding blanks ignored),
    /// null for an unset or blank one.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) for any other value.</exception>
    public static SimdLevel? ParseLevel(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "avx512" => SimdLevel.Avx512,
        "avx2" => SimdLevel.Avx2,
        "scalar" => SimdLevel.Scalar,
        _ => throw SharpLensException.Usage($"{LevelVariable}={value} is not a kernel level (avx512, avx2 or scalar)"),
    };

    /// <summary>Caps <see cref="MaxLevel"/> at the level <see cref="LevelVariable"/> names, if it is set (a level above
    /// what the CPU has leaves <see cref="BestAvailable"/> in force).</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) when the variable names no level.</exception>
    public static void ApplyEnvironment()
    {
        if (ParseLevel(Environment.GetEnvironmentVariable(LevelVariable)) is { } cap) MaxLevel = cap;
    }

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
