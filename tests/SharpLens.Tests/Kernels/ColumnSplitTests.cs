using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>How the GEMM drivers cut the output columns into chunks for the worker threads.</summary>
public class ColumnSplitTests
{
    /// <summary>(panels, threads): tiny, the 1.8B model's q/k/v/o (2048 columns / 4), gate/up (5504 / 4), LM head
    /// (151,936 / 4), and an odd thread count.</summary>
    public static TheoryData<int, int> Sizes => new() { { 1, 2 }, { 3, 2 }, { 512, 2 }, { 1376, 2 }, { 37984, 2 }, { 1000, 7 } };

    static void AssertPartition(int[] b, int panels)
    {
        Assert.Equal(0, b[0]);
        Assert.Equal(panels, b[^1]);
        for (int i = 1; i < b.Length; i++) Assert.True(b[i] > b[i - 1], $"chunk {i - 1} is empty: {string.Join(",", b)}");
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Even_IsTwoEqualChunksPerThread(int panels, int threads)
    {
        int[] b = GemmDriver.PanelBounds(panels, threads, ColumnSplit.Even);
        AssertPartition(b, panels);
        Assert.Equal(Math.Min(panels, 2 * threads), b.Length - 1);
        var sizes = b.Zip(b.Skip(1), (x, y) => y - x).ToArray();
        Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Tapered_ShrinksToASmallLastChunk(int panels, int threads)
    {
        int[] b = GemmDriver.PanelBounds(panels, threads, ColumnSplit.Tapered);
        AssertPartition(b, panels);
        var sizes = b.Zip(b.Skip(1), (x, y) => y - x).ToArray();
        for (int i = 1; i < sizes.Length; i++) Assert.True(sizes[i] <= sizes[i - 1], string.Join(",", sizes));
        int floor = Math.Max(1, panels / (64 * threads));
        Assert.True(sizes[^1] <= floor, $"last chunk {sizes[^1]} > floor {floor}");
        // The first chunk is a 1/(2·threads) share, and there are few chunks (each costs a claim and a cold start).
        Assert.Equal(Math.Max(Math.Min(panels, floor), panels / (2 * threads)), sizes[0]);
        Assert.InRange(sizes.Length, 1, 32 * threads);
    }
}
