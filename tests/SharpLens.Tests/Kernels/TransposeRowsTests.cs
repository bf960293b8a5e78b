using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The transposed x blocks of the skinny path's broadcast kernel (<see cref="GemmPack.Transpose8Rows"/>).</summary>
public sealed unsafe class TransposeRowsTests
{
    [Theory]
    [InlineData(0, 8)]
    [InlineData(5, 8)]      // scalar tail only
    [InlineData(8, 8)]      // one 8×8 block
    [InlineData(21, 24)]    // two blocks and a tail, into a 24-wide block (rows 8..16 of it)
    [InlineData(512, 16)]
    public void StoresEveryElementTransposed_AndNothingElse(int len, int ld)
    {
        const int stride = 530;  // > len: the rows are strided, as packed K-chunks are
        var src = new float[8 * stride];
        for (int i = 0; i < src.Length; i++) src[i] = i + 1;
        int offset = ld > 8 ? 8 : 0;
        var dst = new float[Math.Max(1, len) * ld + 8];
        fixed (float* s = src, d = dst) GemmPack.Transpose8Rows(s, stride, len, d + offset, ld);
        for (int p = 0; p < len; p++)
            for (int c = 0; c < ld; c++)
            {
                int i = c - offset;
                float expected = i >= 0 && i < 8 ? src[i * stride + p] : 0f;
                Assert.True(expected == dst[p * ld + c], $"dst[{p}][{c}] = {dst[p * ld + c]}, expected {expected}");
            }
    }
}
