using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>Each small kernel against its naive reference, on ragged lengths.</summary>
public class ElementwiseKernelTests
{
    static float[] Random(int n, int seed, float scale = 3)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
    }

    public static TheoryData<int> Lengths => new() { 1, 3, 7, 16, 33, 64, 100, 1031 };

    [Theory, MemberData(nameof(Lengths))]
    public void RmsNormMatchesNaive(int n)
    {
        var x = Random(n, n); var w = Random(n, n + 1);
        float s = RmsNorm.Scale(x, 1e-6), sn = RmsNorm.ScaleNaive(x, 1e-6);
        Assert.True(Math.Abs(s - sn) <= 1e-5f * sn);
        var y = new float[n]; var yn = new float[n];
        RmsNorm.Apply(x, s, w, y); RmsNorm.ApplyNaive(x, sn, w, yn);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yn[i]) <= 1e-5f * (1 + Math.Abs(yn[i])));
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SoftmaxMatchesNaiveWithMaskedEntries(int n)
    {
        var x = Random(n, n, 20);
        for (int i = n / 2 + 1; i < n; i++) x[i] = float.NegativeInfinity;
        var y = new float[n]; var yn = new float[n];
        Softmax.Row(x, y); Softmax.RowNaive(x, yn);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yn[i]) <= 1e-6f + 1e-5f * yn[i]);
        Assert.True(Math.Abs(y.Sum() - 1) < 1e-5);
        for (int i = n / 2 + 1; i < n; i++) Assert.Equal(0, y[i]);
    }

    [Theory, MemberData(nameof(Lengths))]
    public void SwiGluMatchesNaive(int n)
    {
        var g = Random(n, n, 8); var u = Random(n, n + 7);
        var y = new float[n]; var yn = new float[n]; var scratch = new float[n];
        SwiGlu.Apply(g, u, scratch, y); SwiGlu.ApplyNaive(g, u, yn);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yn[i]) <= 1e-5f * (1 + Math.Abs(yn[i])));
    }

    [Fact]
    public void Llama3RopeScalingKeepsHighFrequenciesAndDividesLowOnes()
    {
        var plain = Rotary.InverseFrequencies(64, 500000, null);
        var scaled = Rotary.InverseFrequencies(64, 500000, new Loading.Llama3RopeScaling(8, 1, 4, 8192));
        Assert.Equal(plain[0], scaled[0]);                       // wavelength 2π < 8192/4: unchanged
        Assert.Equal(plain[^1] / 8, scaled[^1], 12);             // wavelength ≫ 8192: divided by the factor
    }
}
