using System.Text.Json.Nodes;
using SharpLens.Benchmarks;

namespace SharpLens.Tests.Perf;

/// <summary>bench explains a GEMM above 100 % of the measured peak and a speed-up under 1× instead of printing them bare.</summary>
public class BenchNotesTests
{
    static JsonObject Result(double fraction, double speedup) => new()
    {
        ["quick"] = true, ["fma_peak_gflops"] = 100.0, ["gemm_peak_fraction"] = 0.8, ["gemm_skinny_peak_fraction"] = 0.7,
        ["model_gemm"] = new JsonObject { ["peak_fraction"] = fraction, ["skinny_peak_fraction"] = 0.5 },
        ["forward_s"] = 0.002, ["naive_speedup"] = speedup,
    };

    [Fact]
    public void AboveThePeakAndBelowOneTimesAreExplained()
    {
        var notes = ModelBenchmark.Notes(Result(1.53, 0.92)).Select(n => n!.ToString()).ToArray();
        Assert.Equal(2, notes.Length);
        Assert.Contains("153 % of the measured FMA peak", notes[0]);
        Assert.Contains("--quick", notes[0]);
        Assert.Contains("0.92× < 1", notes[1]);
        Assert.Contains("counts forwards only", notes[1]);
    }

    [Fact]
    public void OrdinaryFiguresNeedNoNote() => Assert.Empty(ModelBenchmark.Notes(Result(0.82, 8.1)));
}
