namespace SharpLens.Tests.Support;

/// <summary>Element-wise closeness of two float spans, relative to each expected value's size.</summary>
public static class NumericAssert
{
    /// <summary>Same length, and |a[i] − b[i]| ≤ <paramref name="tol"/> · (1 + |a[i]|) at every index (0: bitwise equal values).</summary>
    public static void Close(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float tol = 1e-4f)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= tol * (1 + Math.Abs(a[i])), $"[{i}] {a[i]} vs {b[i]}");
    }
}
