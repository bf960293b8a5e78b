using SharpLens.Statistics;

namespace SharpLens.Tests.Datasets;

/// <summary>The statistics library against values computed independently (a plain-Python implementation of the same
/// generator and of numpy's percentile rule, run once; the numbers are below) and against its own definitions.</summary>
public class StatisticsTests
{
    [Fact]
    public void SeededRandomMatchesAnIndependentImplementationOfXoshiro256StarStar()
    {
        var r = new SeededRandom(0UL);
        Assert.Equal([11091344671253066420UL, 13793997310169335082UL, 1900383378846508768UL], new[] { r.NextUInt64(), r.NextUInt64(), r.NextUInt64() });
        var s = new SeededRandom(42L);
        Assert.Equal([0, 3, 6, 9, 9, 7, 7, 8, 7, 5, 6, 2], Enumerable.Range(0, 12).Select(_ => s.NextInt(10)));
        var t = new SeededRandom(-7L);
        Assert.Equal([949, 838, 450, 414, 450], Enumerable.Range(0, 5).Select(_ => t.NextInt(1000)));
    }

    [Fact]
    public void NextIntIsUniformAndSampleIsWithoutReplacement()
    {
        var r = new SeededRandom(5L);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++) counts[r.NextInt(7)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_400, 10_600));
        var sample = r.Sample(Enumerable.Range(0, 10).ToArray(), 10);
        Assert.Equal(Enumerable.Range(0, 10), sample.Order());
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Sample(new[] { 1, 2 }, 3));
    }

    [Fact]
    public void MeanStdAndQuantileFollowTheirDefinitions()
    {
        double[] v = [1, 2, 3, 4, 10];
        Assert.Equal(4.0, Descriptive.Mean(v));
        Assert.Equal(Math.Sqrt(12.5), Descriptive.SampleStd(v)!.Value, 15);   // Σ(x−4)² = 50, / (n−1) = 12.5
        Assert.Null(Descriptive.SampleStd([3.0]));
        Assert.Equal(1.1, Descriptive.Quantile(v, 0.025), 12);                 // rank 0.1: 1 + 0.1·(2 − 1)
        Assert.Equal(9.4, Descriptive.Quantile(v, 0.975), 12);                 // rank 3.9: 4 + 0.9·(10 − 4)
        Assert.Equal(3.0, Descriptive.Quantile(v, 0.5));
        Assert.Throws<ArgumentException>(() => Descriptive.Mean([]));
    }

    [Fact]
    public void BootstrapIntervalsMatchAnIndependentImplementation()
    {
        var (lo, hi) = new Bootstrap(resamples: 200, seed: 7).Ci95([1.0, 2, 3, 4, 10]);
        Assert.Equal(1.8, lo, 12);
        Assert.Equal(7.2, hi, 12);
        var (lo2, hi2) = new Bootstrap(resamples: 1000, seed: 123).Ci95([0.5, -0.25, 0.125, 2.0]);
        Assert.Equal(-0.0625, lo2, 12);
        Assert.Equal(1.53125, hi2, 12);
    }

    [Fact]
    public void BootstrapIntervalIsThePercentilesOfTheResampleMeansOfItsDraws()
    {
        var values = Enumerable.Range(0, 23).Select(i => Math.Sin(i) * 3 + i % 4).ToArray();
        var boot = new Bootstrap(resamples: 500, seed: 11);
        var means = boot.Indices(values.Length).Select(draw => draw.Sum(i => values[i]) / values.Length).Order().ToArray();
        var (lo, hi) = boot.Ci95(values);
        Assert.Equal(means[12] + (means[13] - means[12]) * 0.475, lo, 12);       // rank 0.025·499 = 12.475
        Assert.Equal(means[486] + (means[487] - means[486]) * 0.525, hi, 12);    // rank 0.975·499 = 486.525
        Assert.True(lo < values.Average() && values.Average() < hi);
    }

    [Fact]
    public void BootstrapDrawsDependOnlyOnSeedAndPairCount()
    {
        Assert.Equal(new Bootstrap(100, 3).Indices(17), new Bootstrap(100, 3).Indices(17));
        Assert.NotEqual(new Bootstrap(100, 3).Indices(17), new Bootstrap(100, 4).Indices(17));
        // The same leaf gives the same interval whether computed alone, among 150 leaves (several chunks), or in
        // another leaf order: batching and order do not change the draws.
        var rng = new SeededRandom(1L);
        var perPair = Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 150).Select(_ => rng.NextInt(1000) / 7.0).ToArray()).ToArray();
        var boot = new Bootstrap(300, 9);
        var all = boot.Ci95(perPair);
        foreach (int leaf in new[] { 0, 63, 64, 100, 149 })
            Assert.Equal(all[leaf], boot.Ci95(perPair.Select(r => r[leaf]).ToArray()));
        var reversed = boot.Ci95(perPair.Select(r => r.Reverse().ToArray()).ToArray());
        Assert.Equal(all.Reverse(), reversed);
    }

    [Fact]
    public void BootstrapIntervalHasTheNormalWidthOnALargeSample()
    {
        var rng = new SeededRandom(2L);
        // Sums of 12 uniforms − 6: mean 0, sd 1.
        var values = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 12).Sum(_ => rng.NextUInt64() / 18446744073709551616.0) - 6).ToArray();
        var (lo, hi) = new Bootstrap(2000, 1).Ci95(values);
        double se = Descriptive.SampleStd(values)!.Value / Math.Sqrt(values.Length);
        Assert.InRange((hi - lo) / (2 * 1.96 * se), 0.9, 1.1);
        Assert.InRange(values.Average(), lo, hi);
    }

    [Fact]
    public void OnePairGivesAPointInterval()
    {
        Assert.Equal((2.5, 2.5), new Bootstrap(50, 0).Ci95([2.5]));
        Assert.Throws<ArgumentException>(() => new Bootstrap(50, 0).Ci95(Array.Empty<double[]>()));
    }
}
