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

    [Theory, MemberData(nameof(Lengths))]
    public void LayerNormMatchesNaive(int n)
    {
        var x = Random(n, n); var w = Random(n, n + 1); var b = Random(n, n + 2);
        for (int i = 0; i < n; i++) x[i] += 50;   // a large mean: the scale must come from the centred values
        float s = LayerNorm.Scale(x, 1e-5), sn = LayerNorm.ScaleNaive(x, 1e-5);
        Assert.True(Math.Abs(s - sn) <= 1e-4f * sn, $"scale {s} vs {sn}");
        var y = new float[n]; var yn = new float[n];
        foreach (var bias in new[] { b, [] })
        {
            LayerNorm.Apply(x, sn, w, bias, y); LayerNorm.ApplyNaive(x, sn, w, bias, yn);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yn[i]) <= 2e-4f * (1 + Math.Abs(yn[i])), $"[{i}] {y[i]} vs {yn[i]}");
        }
    }

    [Fact]
    public void LayerNormOfAConstantRowIsItsBias()
    {
        var x = Enumerable.Repeat(3.25f, 40).ToArray(); var w = Random(40, 1); var b = Random(40, 2);
        float s = LayerNorm.Scale(x, 1e-5);
        Assert.Equal(Math.Sqrt(1e-5), s, 6);
        var y = new float[40];
        LayerNorm.Apply(x, s, w, b, y);
        Assert.Equal(b, y);
    }

    public static IEnumerable<object[]> ActivationCases()
    {
        foreach (var kind in Enum.GetValues<Loading.ActivationKind>())
            foreach (var level in Enum.GetValues<SimdLevel>())
                foreach (int n in new[] { 1, 7, 16, 33, 100, 1031, 70_000 })
                    yield return [kind, level, n];
    }

    /// <summary>Every activation at every instruction-set level (levels this CPU lacks run in software), on ragged lengths
    /// and on one long enough to be split across threads, against its double-precision reference.</summary>
    [Theory, MemberData(nameof(ActivationCases))]
    public void ActivationsMatchNaiveAtEveryLevel(Loading.ActivationKind kind, SimdLevel level, int n)
    {
        var x = Random(n, n + 3, 12);
        x[0] = 0; if (n > 3) { x[1] = -30; x[2] = 30; }   // zero and the far tails (exp under- and overflow)
        var y = new float[n]; var yn = new float[n];
        KernelOptions.ForcedLevel = level;
        KernelOptions.ForcedThreads = 2;
        try { Activations.Apply(kind, x, y); }
        finally { KernelOptions.ForcedLevel = null; KernelOptions.ForcedThreads = null; }
        Activations.ApplyNaive(kind, x, yn);
        for (int i = 0; i < n; i++)
            Assert.True(Math.Abs(y[i] - yn[i]) <= 1e-6f + 2e-6f * Math.Abs(yn[i]), $"{kind} {level} x={x[i]}: {y[i]} vs {yn[i]}");
    }

    [Theory, MemberData(nameof(Lengths))]
    public void GatedActivationsAreActivationTimesUp(int n)
    {
        var g = Random(n, n, 8); var u = Random(n, n + 7);
        foreach (var kind in Enum.GetValues<Loading.ActivationKind>())
        {
            var y = new float[n]; var yn = new float[n]; var scratch = new float[n];
            Activations.ApplyGated(kind, g, u, scratch, y);
            Activations.ApplyNaive(kind, g, yn);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(y[i] - yn[i] * u[i]) <= 1e-5f * (1 + Math.Abs(yn[i])), $"{kind} [{i}]");
        }
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-2.0, -0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(6.0, 0.9999999999999999785)]
    public void TheNaiveGeluErfIsExact(double z, double erf) => Assert.Equal(erf, Gelu.Erf(z), 14);

    [Fact]
    public void Llama3RopeScalingKeepsHighFrequenciesAndDividesLowOnes()
    {
        var plain = Rotary.InverseFrequencies(64, 500000, null);
        var scaled = Rotary.InverseFrequencies(64, 500000, new Loading.Llama3RopeScaling(8, 1, 4, 8192));
        Assert.Equal(plain[0], scaled[0]);                       // wavelength 2π < 8192/4: unchanged
        Assert.Equal(plain[^1] / 8, scaled[^1], 12);             // wavelength ≫ 8192: divided by the factor
    }
}
