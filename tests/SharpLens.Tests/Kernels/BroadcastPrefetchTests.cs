using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The broadcast kernel's in-loop prefetch: over a K-chunk it touches every line of the next group's chunk once.</summary>
public sealed unsafe class BroadcastPrefetchTests
{
    [Theory]
    [InlineData(512, 4096L)]   // the 1.8B model's K-chunk of a 2048-wide bf16 row
    [InlineData(512, 11008L)]  // down projection rows
    [InlineData(64, 4096L)]
    public void AKdStepLoop_CoversEveryLineOfTheFourRowsOnce(int kd, long rowStride)
    {
        byte* pf = (byte*)(1 << 20);
        var seen = new List<nint>();
        for (nint p = 0; p < kd; p += 8) seen.Add((nint)Avx2BcastKernel.PrefetchLine(pf, rowStride, p));
        var expected = new List<nint>();
        for (int r = 0; r < 4; r++)
            for (int line = 0; line < kd * sizeof(ushort) / 64; line++) expected.Add((nint)(pf + r * rowStride + line * 64));
        Assert.Equal(expected.OrderBy(a => a), seen.OrderBy(a => a));
    }
}
