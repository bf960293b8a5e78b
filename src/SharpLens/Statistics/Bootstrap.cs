namespace SharpLens.Statistics;

/// <summary>
/// Percentile bootstrap confidence intervals of a mean over pairs. Resample <c>b</c> (0 ≤ b &lt; B) draws n pair indices
/// with replacement; the draws come from <see cref="SeededRandom"/>(seed) in the order b = 0…B−1, index 0…n−1, and depend
/// on nothing but the seed, the pair count n and B — so every key of a study, every leaf of a key, and every shard of a
/// sharded study that is merged later sees the same resamples, however the work was batched or ordered.
/// The interval is the 2.5th and 97.5th percentile of the B resample means (<see cref="Descriptive.Quantile"/>).
/// </summary>
public sealed class Bootstrap
{
    /// <summary>Resamples unless the caller says otherwise.</summary>
    public const int DefaultResamples = 1000;

    /// <summary>Leaves computed together: bounds the memory at B × this many doubles, whatever the number of leaves.</summary>
    const int LeafChunk = 64;

    public Bootstrap(int resamples = DefaultResamples, long seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        Resamples = resamples;
        Seed = seed;
    }

    /// <summary>B, the number of resamples.</summary>
    public int Resamples { get; }

    /// <summary>The seed the resample indices are drawn from.</summary>
    public long Seed { get; }

    /// <summary>The pair indices of every resample, in draw order: <c>[b][i]</c>. For inspection and tests; the interval
    /// methods stream the same draws without keeping them.</summary>
    public int[][] Indices(int pairCount)
    {
        var rng = new SeededRandom(Seed);
        var all = new int[Resamples][];
        for (int b = 0; b < Resamples; b++)
        {
            all[b] = new int[pairCount];
            for (int i = 0; i < pairCount; i++) all[b][i] = rng.NextInt(pairCount);
        }
        return all;
    }

    /// <summary>The 95 % interval of the mean of <paramref name="values"/> (one value per pair).</summary>
    public (double Low, double High) Ci95(IReadOnlyList<double> values)
    {
        var columns = new double[values.Count][];
        for (int i = 0; i < values.Count; i++) columns[i] = [values[i]];
        return Ci95(columns)[0];
    }

    /// <summary>
    /// The 95 % interval of the mean of every leaf: <paramref name="perPair"/> is <c>[pair][leaf]</c> (every pair the same
    /// number of leaves); the result is one interval per leaf. Resample means are summed in draw order.
    /// </summary>
    public (double Low, double High)[] Ci95(IReadOnlyList<double[]> perPair)
    {
        int n = perPair.Count;
        if (n == 0) throw new ArgumentException("a bootstrap needs at least one pair", nameof(perPair));
        int leaves = perPair[0].Length;
        if (perPair.Any(r => r.Length != leaves)) throw new ArgumentException("every pair needs the same number of leaves", nameof(perPair));
        var result = new (double, double)[leaves];
        var means = new double[LeafChunk * Resamples];
        for (int start = 0; start < leaves; start += LeafChunk)
        {
            int width = Math.Min(LeafChunk, leaves - start);
            Array.Clear(means);
            var rng = new SeededRandom(Seed);   // the same stream for every chunk of leaves
            for (int b = 0; b < Resamples; b++)
            {
                var sums = means.AsSpan(b * LeafChunk, width);
                for (int i = 0; i < n; i++)
                {
                    var row = perPair[rng.NextInt(n)].AsSpan(start, width);
                    for (int l = 0; l < width; l++) sums[l] += row[l];
                }
            }
            var column = new double[Resamples];
            for (int l = 0; l < width; l++)
            {
                for (int b = 0; b < Resamples; b++) column[b] = means[b * LeafChunk + l] / n;
                Array.Sort(column);
                result[start + l] = (Descriptive.Quantile(column, 0.025), Descriptive.Quantile(column, 0.975));
            }
        }
        return result;
    }
}
