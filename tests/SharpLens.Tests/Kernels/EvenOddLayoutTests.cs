using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The even/odd orders the skinny GEMM packs x and widens bf16 weights in: 16-blocks for the 256-bit kernels
/// (<see cref="GemmSkinnyBf16"/>), 32-blocks for the AVX-512 bf16 tile (<see cref="Avx512Bf16DotKernel"/>).</summary>
public unsafe class EvenOddLayoutTests
{
    /// <summary>Where element p of a chunk goes: whole 16-blocks put their even elements first, a shorter tail stays.</summary>
    static int Position(int p, int len, int size = 16)
    {
        int block = p / size * size;
        if (block + size > len) return p;
        int r = p % size;
        return block + (r % 2 == 0 ? r / 2 : size / 2 + r / 2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(512)]
    public void PackRow_PutsEachElementWhereTheLayoutSays(int len)
    {
        var rng = new Random(len);
        float[] src = Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (bool simd in new[] { true, false })
        {
            var dst = new float[len];
            fixed (float* s = src, d = dst) GemmSkinnyBf16.PackRow(s, d, len, simd);
            for (int p = 0; p < len; p++) Assert.Equal(src[p], dst[Position(p, len)]);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(40)]
    [InlineData(512)]
    public void WidenRow_IsPackRowOfTheWidenedValues(int len)
    {
        var rng = new Random(len + 1);
        ushort[] bf16 = Enumerable.Range(0, len).Select(_ => (ushort)rng.Next(0, 0x10000)).ToArray();
        float[] natural = bf16.Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray();
        foreach (bool simd in new[] { true, false })
        {
            var dst = new float[len];
            fixed (ushort* s = bf16) fixed (float* d = dst) GemmSkinnyBf16.WidenRow(s, d, len, simd);
            // bit patterns, so that NaN payloads count too
            for (int p = 0; p < len; p++)
                Assert.Equal(BitConverter.SingleToInt32Bits(natural[p]), BitConverter.SingleToInt32Bits(dst[Position(p, len)]));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(77)]
    [InlineData(1024)]
    public void PackRow32_PutsEachElementWhereTheLayoutSays(int len)
    {
        var rng = new Random(len + 2);
        float[] src = Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble()).ToArray();
        foreach (bool simd in new[] { true, false })
        {
            var dst = new float[len];
            fixed (float* s = src, d = dst) Avx512Bf16DotKernel.PackRow(s, d, len, simd);
            for (int p = 0; p < len; p++) Assert.Equal(src[p], dst[Position(p, len, 32)]);
        }
    }
}
