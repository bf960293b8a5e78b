using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Experiments;

/// <summary>Scores many d_model vectors against every row of the unembedding, in row blocks, without keeping the
/// whole [vectors, vocab] matrix.</summary>
internal static class VocabularyScan
{
    /// <summary>Vectors scored per pass over W_U. Each pass widens and packs all of W_U (vocab × d_model) once, which
    /// costs about as much as a dozen rows of products: 128 rows keep that under 10% (32 made it ~40%), and the score
    /// block (128 × vocab fp32, 78 MB for Qwen's 151,936) stays small next to the weights.</summary>
    const int BlockRows = 128;

    /// <summary>Calls <paramref name="visit"/>(i, scores over all W_U rows) for each vector i; score = W_U[t] · v (− mean · v).</summary>
    public static void Scores(WeightMatrix unembed, float[][] vectors, float[]? meanRow, Action<int, ReadOnlySpan<float>> visit)
    {
        int d = unembed.Cols, V = unembed.Rows;
        int rows = Math.Min(BlockRows, Math.Max(1, vectors.Length));
        var x = new float[rows * d];
        var s = new float[(long)rows * V];
        for (int start = 0; start < vectors.Length; start += rows)
        {
            int m = Math.Min(rows, vectors.Length - start);
            for (int i = 0; i < m; i++) vectors[start + i].CopyTo(x, i * d);
            long t0 = Diagnostics.StageTimer.Start();
            Gemm.LinearForward(x.AsSpan(0, m * d), m, unembed, default, s.AsSpan(0, m * V));
            Diagnostics.StageTimer.Stop(Diagnostics.Stage.VocabScan, t0);
            for (int i = 0; i < m; i++)
            {
                var row = s.AsSpan(i * V, V);
                if (meanRow != null)
                {
                    float shift = System.Numerics.Tensors.TensorPrimitives.Dot(meanRow, vectors[start + i]);
                    System.Numerics.Tensors.TensorPrimitives.Subtract(row, shift, row);
                }
                visit(start + i, row);
            }
        }
    }

    /// <summary>The k highest-scoring defined ids per vector, best first.</summary>
    public static int[][] TopK(WeightMatrix unembed, float[][] vectors, int k, Func<int, bool> isDefined, float[]? meanRow = null)
    {
        var result = new int[vectors.Length][];
        Scores(unembed, vectors, meanRow, (i, row) =>
        {
            var best = new List<(float Score, int Id)>(k + 1);
            for (int t = 0; t < row.Length; t++)
            {
                if (best.Count == k && row[t] <= best[^1].Score) continue;
                if (!isDefined(t)) continue;
                int at = best.Count;
                while (at > 0 && row[t] > best[at - 1].Score) at--;
                best.Insert(at, (row[t], t));
                if (best.Count > k) best.RemoveAt(k);
            }
            result[i] = best.Select(b => b.Id).ToArray();
        });
        return result;
    }
}
