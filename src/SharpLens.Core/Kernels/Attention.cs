using System.Numerics.Tensors;

namespace SharpLens.Kernels;

/// <summary>
/// Causal grouped-query attention over a batch. Query head h reads key/value head h / (H / G).
/// Shapes: q [B, n, H, e] for absolute positions q0 … q0+n−1; keys/values [B, T, G, e]; scores/pattern [B, H, n, T].
/// </summary>
public static class Attention
{
    /// <summary>scores[b, h, i, j] = q·k / sqrt(e) for j ≤ q0 + i, −inf above the diagonal.</summary>
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> k, int B, int n, int T, int q0, int H, int G, int e, Span<float> scores)
    {
        float inv = 1f / MathF.Sqrt(e);
        int group = H / G;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n; i++)
                {
                    var qv = q.Slice(((b * n + i) * H + h) * e, e);
                    var row = scores.Slice(((b * H + h) * n + i) * T, T);
                    int last = q0 + i;
                    for (int j = 0; j <= last; j++)
                        row[j] = TensorPrimitives.Dot(qv, k.Slice(((b * T + j) * G + h / group) * e, e)) * inv;
                    row[(last + 1)..].Fill(float.NegativeInfinity);
                }
    }

    /// <summary>Row-wise softmax in place over rows of length T.</summary>
    public static void Pattern(Span<float> scores, int T)
    {
        for (int r = 0; r < scores.Length / T; r++)
        {
            var row = scores.Slice(r * T, T);
            Softmax.Row(row, row);
        }
    }

    /// <summary>z[b, i, h, :] = Σ_j pattern[b, h, i, j] · v[b, j, h/group, :].</summary>
    public static void WeightedValues(ReadOnlySpan<float> pattern, ReadOnlySpan<float> v, int B, int n, int T, int H, int G, int e, Span<float> z)
    {
        int group = H / G;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++)
                for (int h = 0; h < H; h++)
                {
                    var zv = z.Slice(((b * n + i) * H + h) * e, e);
                    zv.Clear();
                    var p = pattern.Slice(((b * H + h) * n + i) * T, T);
                    for (int j = 0; j < T; j++)
                        if (p[j] != 0) TensorPrimitives.MultiplyAdd(v.Slice(((b * T + j) * G + h / group) * e, e), p[j], zv, zv);
                }
    }
}
