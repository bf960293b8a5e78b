using System.Numerics.Tensors;
using SharpLens.Kernels;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// OV-circuit copying: for head h of layer L and token t, <c>o = W_O^h · W_V^kv(h) · (E[t] ⊙ w_ln1)</c>,
/// <c>row = W_U · (o ⊙ w_final)</c>; the rank of <c>row[t]</c> among all vocabulary rows (1 = highest; no biases,
/// no RMS scale; the same in both processing modes).
/// </summary>
public static class OvCircuit
{
    /// <summary>ov_copy_rank [layer][head][token].</summary>
    public static int[][][] CopyRanks(HookedTransformer model, int[] tokens)
    {
        var c = model.Config; var w = model.Weights;
        int d = c.DModel, e = c.DHead, H = c.NHeads;
        var vectors = new List<float[]>();
        var x = new float[d];
        var vh = new float[e];
        for (int l = 0; l < c.NLayers; l++)
            for (int h = 0; h < H; h++)
                foreach (int t in tokens)
                {
                    w.Embed.ReadRow(t, x);
                    TensorPrimitives.Multiply(x, w.Layers[l].Ln1, x);
                    Gemm.LinearForward(x, 1, w.Layers[l].Wv.RowSlice(h / c.GroupSize * e, e), default, vh);
                    var o = new float[d];
                    Gemm.LinearForward(vh, 1, w.Layers[l].Wo.ColSlice(h * e, e), default, o);
                    TensorPrimitives.Multiply(o, w.LnFinal, o);
                    vectors.Add(o);
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
}
