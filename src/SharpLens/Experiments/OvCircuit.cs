using System.Numerics.Tensors;
using SharpLens.Kernels;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// OV-circuit copying: for head h of layer L and token t, <c>o = W_O^h · W_V^kv(h) · (E[t]' ⊙ w_ln1)</c>,
/// <c>row = W_U · (o' ⊙ w_final)</c>; the rank of <c>row[t]</c> among all vocabulary rows (1 = highest; no biases,
/// no norm scale; the same in both processing modes). With LayerNorm, v' = v − mean(v) (the centring the norms do);
/// under RMSNorm v' = v. With post-norms (Gemma 2) o is also multiplied by ln1_post's weight; norm scales, sqrt(d) and a
/// soft-cap are positive or monotone and cannot change a rank.
/// </summary>
public static class OvCircuit
{
    /// <summary>ov_copy_rank [layer][head][token].</summary>
    public static int[][][] CopyRanks(HookedTransformer model, int[] tokens)
    {
        var c = model.Config; var w = model.Weights;
        int d = c.DModel, e = c.DHead, H = c.NHeads;
        int n = tokens.Length;
        var vectors = new List<float[]>();
        var embed = new float[n * d];                     // [tokens, d]: E[t]
        for (int i = 0; i < n; i++) w.Embed.ReadRow(tokens[i], embed.AsSpan(i * d, d));
        var x = new float[n * d];                         // [tokens, d]: E[t] ⊙ w_ln1
        var vh = new float[n * e];                        // [tokens, e]
        var o = new float[n * d];                         // [tokens, d]
        bool centre = c.Design.Norm == Loading.NormKind.LayerNorm;
        if (centre)
            for (int i = 0; i < n; i++) Centre(embed.AsSpan(i * d, d));
        for (int l = 0; l < c.NLayers; l++)
        {
            for (int i = 0; i < n; i++) TensorPrimitives.Multiply(embed.AsSpan(i * d, d), w.Layers[l].Ln1, x.AsSpan(i * d, d));
            for (int h = 0; h < H; h++)
            {
                // All tokens at once: one pass over each head's weight slices instead of one per token.
                Gemm.LinearForward(x, n, w.Layers[l].VHead(h / c.GroupSize, e), default, vh);
                Gemm.LinearForward(vh, n, w.Layers[l].Wo.ColSlice(h * e, e), default, o);
                for (int i = 0; i < n; i++)
                {
                    var row = o.AsSpan(i * d, d).ToArray();
                    if (centre) Centre(row);
                    if (c.Design.PostNorms) TensorPrimitives.Multiply(row, w.Layers[l].Ln1Post, row);
                    TensorPrimitives.Multiply(row, w.LnFinal, row);
                    vectors.Add(row);
                }
            }
        }
        var ranks = new int[vectors.Count];
        VocabularyScan.Scores(w.Unembed, vectors.ToArray(), null, (i, row) =>
        {
            float own = row[tokens[i % tokens.Length]];
            int above = 0;
            foreach (float v in row) if (v > own) above++;
            ranks[i] = above + 1;
        });
        return ranks.Chunk(tokens.Length).Chunk(H).ToArray();
    }

    static void Centre(Span<float> v) => TensorPrimitives.Subtract(v, TensorPrimitives.Sum(v) / v.Length, v);
}
