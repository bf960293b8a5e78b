namespace SharpLens.Statistics;

/// <summary>Mean, sample standard deviation and percentiles, written out so that their definitions are plain.</summary>
public static class Descriptive
{
    /// <summary>The arithmetic mean (summed in order, so the same values in the same order give the same bits).</summary>
    public static double Mean(ReadOnlySpan<double> values)
    {
        if (values.IsEmpty) throw new ArgumentException("the mean of no values is undefined", nameof(values));
        double sum = 0;
        foreach (double v in values) sum += v;
        return sum / values.Length;
    }

    /// <summary>The sample standard deviation, <c>sqrt(Σ(x − mean)² / (n − 1))</c> (numpy's <c>std(ddof=1)</c>);
    /// null for fewer than two values, where it is undefined.</summary>
    public static double? SampleStd(ReadOnlySpan<double> values)
    {
        if (values.Length < 2) return null;
        double mean = Mean(values), ss = 0;
        foreach (double v in values) ss += (v - mean) * (v - mean);
        return Math.Sqrt(ss / (values.Length - 1));
    }

    /// <summary>
    /// The <paramref name="q"/>-quantile (0 ≤ q ≤ 1) of values already sorted ascending, interpolated linearly between
    /// the two nearest order statistics at rank <c>q·(n − 1)</c> (numpy's default <c>percentile</c> method).
    /// </summary>
    public static double Quantile(ReadOnlySpan<double> sorted, double q)
    {
        if (sorted.IsEmpty) throw new ArgumentException("the quantile of no values is undefined", nameof(sorted));
        if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException(nameof(q), "a quantile is between 0 and 1");
        double rank = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = Math.Min(lo + 1, sorted.Length - 1);
        double frac = rank - lo;
        return frac == 0 ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }
}
