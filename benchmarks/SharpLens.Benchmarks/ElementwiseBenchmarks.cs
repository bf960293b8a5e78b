using BenchmarkDotNet.Attributes;
using SharpLens.Kernels;

namespace SharpLens.Benchmarks;

/// <summary>The elementwise kernels at one 25-token prompt of the 1.8B shapes, fast against naive.</summary>
public class ElementwiseBenchmarks
{
    const int D = 2048, Mlp = 5504, Vocab = 151936;
    float[] _x = [], _w = [], _y = [], _gate = [], _up = [], _scratch = [], _post = [], _logits = [], _probs = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        (_x, _w, _y) = (R(D), R(D), new float[D]);
        (_gate, _up, _scratch, _post) = (R(25 * Mlp), R(25 * Mlp), new float[25 * Mlp], new float[25 * Mlp]);
        (_logits, _probs) = (R(Vocab), new float[Vocab]);
    }

    [Benchmark] public void RmsNormFast() => RmsNorm.Apply(_x, 1f, _w, _y);
    [Benchmark] public void RmsNormNaive() => RmsNorm.ApplyNaive(_x, 1f, _w, _y);
    [Benchmark] public void SwiGluFast() => SwiGlu.Apply(_gate, _up, _scratch, _post);
    [Benchmark] public void SwiGluNaive() => SwiGlu.ApplyNaive(_gate, _up, _post);
    [Benchmark] public void SoftmaxVocabFast() => Softmax.Row(_logits, _probs);
    [Benchmark] public void SoftmaxVocabNaive() => Softmax.RowNaive(_logits, _probs);
}
