using SharpLens.Kernels;

namespace SharpLens.Tests.Perf;

/// <summary>The attention and SwiGLU kernels give bit-identical results on one thread and split across threads.</summary>
public class AttentionParallelTests
{
    [Fact]
    public void ParallelAttention_EqualsSingleThreaded()
    {
        const int B = 3, n = 40, q0 = 24, T = q0 + n, H = 8, G = 2, e = 64;   // large enough to go parallel
        var rng = new Random(5);
        float[] Rand(int len) => Enumerable.Range(0, len).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var q = Rand(B * n * H * e); var k = Rand(B * T * G * e); var v = Rand(B * T * G * e);

        (float[] Pattern, float[] Z) Run(int threads)
        {
            KernelOptions.ForcedThreads = threads;
            try
            {
                var s = new float[B * H * n * T];
                var z = new float[B * n * H * e];
                Attention.Scores(q, k, B, n, T, q0, H, G, e, s);
                Attention.Pattern(s, T);
                Attention.WeightedValues(s, v, B, n, T, H, G, e, z);
                return (s, z);
            }
            finally { KernelOptions.ForcedThreads = null; }
        }

        var one = Run(1);
        var two = Run(2);
        Assert.Equal(one.Pattern, two.Pattern);
        Assert.Equal(one.Z, two.Z);
        // Causal: query i (absolute q0 + i) gives no weight to later keys; rows sum to 1.
        for (int r = 0; r < B * H * n; r++)
        {
            int i = r % n;
            var row = one.Pattern.AsSpan(r * T, T);
            for (int j = q0 + i + 1; j < T; j++) Assert.Equal(0f, row[j]);
            Assert.Equal(1.0, row.ToArray().Sum(x => (double)x), 1e-5);
        }
    }

    [Fact]
    public void ParallelSwiGlu_EqualsSingleThreaded()
    {
        var rng = new Random(9);
        int n = (1 << 19) + 37;
        var gate = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var up = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] Run(int threads)
        {
            KernelOptions.ForcedThreads = threads;
            try
            {
                var post = new float[n];
                SwiGlu.Apply(gate, up, post, post);
                return post;
            }
            finally { KernelOptions.ForcedThreads = null; }
        }
        Assert.Equal(Run(1), Run(2));
    }
}
