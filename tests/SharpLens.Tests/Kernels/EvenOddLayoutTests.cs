using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The even/odd order the skinny GEMM packs x and widens bf16 weights in (<see cref="GemmSkinnyBf16"/>).</summary>
public unsafe class EvenOddLayoutTests
{
    /// <summary>Where element p of a chunk goes: whole 16-blocks put their even elements first, a shorter tail stays.</summary>
    static int Position(int p, int len)
    {
        int block = p / 16 * 16;
        if (block + 16 > len) return p;
        int r = p % 16;
        return block + (r % 2 == 0 ? r / 2 : 8 + r / 2);
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
}
