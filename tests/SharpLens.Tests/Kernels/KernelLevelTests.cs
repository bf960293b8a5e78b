using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using SharpLens.Kernels;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Kernels;

/// <summary>Which instruction-set level the kernels run at, and the <c>SHARPLENS_SIMD</c> cap.</summary>
public class KernelLevelTests
{
    [Theory]
    [InlineData(true, true, SimdLevel.Avx512)]
    [InlineData(true, false, SimdLevel.Avx512)]
    [InlineData(false, true, SimdLevel.Avx2)]
    [InlineData(false, false, SimdLevel.Scalar)]
    public void Detect_TakesTheWidestLevelTheCpuHas(bool avx512, bool avx2Fma, SimdLevel expected) =>
        Assert.Equal(expected, KernelOptions.Detect(avx512, avx2Fma));

    [Fact]
    public void BestAvailable_FollowsTheInstructionSetsNotThePreferredVectorWidth()
    {
        // Not Vector512.IsHardwareAccelerated: .NET reports that false on first-generation AVX-512 Intel, where the
        // Vector512 operations still compile to AVX-512 (KernelOptions.Detect).
        Assert.Equal(KernelOptions.Detect(Avx512F.IsSupported, Avx2.IsSupported && Fma.IsSupported), KernelOptions.BestAvailable);
    }

    [Theory]
    [InlineData("avx512", SimdLevel.Avx512)]
    [InlineData(" AVX2 ", SimdLevel.Avx2)]
    [InlineData("Scalar", SimdLevel.Scalar)]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("  ", null)]
    public void ParseLevel_NamesALevelOrNone(string? value, SimdLevel? expected) =>
        Assert.Equal(expected, KernelOptions.ParseLevel(value));

    [Theory]
    [InlineData("sse4")]
    [InlineData("avx")]
    [InlineData("512")]
    public void ParseLevel_RefusesAnythingElse(string value)
    {
        var e = Assert.Throws<SharpLensException>(() => KernelOptions.ParseLevel(value));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains($"SHARPLENS_SIMD={value} is not a kernel level", e.Message);
    }

    [Fact]
    public void TheCliHonoursTheCap()
    {
        // bench reports the level its kernels ran at
        var r = CliProcess.Run(["bench", "--json", "--quick"], new Dictionary<string, string> { ["SHARPLENS_SIMD"] = "scalar" });
        Assert.True(r.Code == 0, r.Err);
        var machine = JsonNode.Parse(r.Out.Trim())!["machine"]!;
        Assert.Equal("Scalar", machine["simd_level"]!.GetValue<string>());
        Assert.Equal(Avx512F.IsSupported, machine["avx512"]!.GetValue<bool>());
        Assert.NotNull(machine["vector512_accelerated"]);
    }
}
