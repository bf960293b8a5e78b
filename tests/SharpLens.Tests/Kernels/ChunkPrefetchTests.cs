using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The skinny GEMM's weight prefetch plan: every line of the chunk once, in equal shares, nothing beyond it.</summary>
public sealed unsafe class ChunkPrefetchTests
{
    [Theory]
    [InlineData(4, 4096L, 1024, 0, 8)]     // the 1.8B model's q/k/v/gate/up: 4 rows × 16 lines over 8 row tiles
    [InlineData(4, 11008L, 1024, 0, 8)]    // down projection rows (5504 bf16)
    [InlineData(3, 4096L, 1024, 32, 8)]    // a chunk starting mid-line touches one more line per row
    [InlineData(2, 4096L, 96, 0, 5)]       // a ragged last chunk (48 bf16) and more steps than lines
    [InlineData(1, 4096L, 1024, 0, 1)]
    public void EveryLineOfTheChunkOnce_InEqualShares(int rows, long rowStride, int rowBytes, int offset, int steps)
    {
        nint first = (1 << 20) + offset;
        var pf = new GemmSkinny.ChunkPrefetch(rows, (byte*)first, rowStride, rowBytes, steps);
        var seen = new List<nint>();
        var shares = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            int before = seen.Count;
            pf.Step(seen);
            shares.Add(seen.Count - before);
        }
        pf.Step(seen);  // a call past the last step adds nothing

        var expected = new List<nint>();
        for (int r = 0; r < rows; r++)
        {
            nint start = first + (nint)(r * rowStride), end = start + rowBytes;
            for (nint line = start & ~(nint)63; line < end; line += 64) expected.Add(line);
        }
        Assert.Equal(expected, seen);
        int perStep = (expected.Count + steps - 1) / steps;
        Assert.All(shares, n => Assert.InRange(n, 0, perStep));
        Assert.Equal(perStep, shares[0]);
    }

    [Theory]
    [InlineData(0, 8)]   // the group PfGroups on lies past the thread's column range
    [InlineData(-3, 8)]
    [InlineData(4, 0)]   // no row tiles left to spread the chunk over
    public void NothingToFetch(int rows, int steps)
    {
        var pf = new GemmSkinny.ChunkPrefetch(rows, (byte*)4096, 4096, 1024, steps);
        var seen = new List<nint>();
        for (int s = 0; s < 4; s++) pf.Step(seen);
        Assert.Empty(seen);
    }
}

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
