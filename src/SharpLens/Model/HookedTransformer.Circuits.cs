namespace SharpLens.Model;

/// <summary>Which input of the later head a composition score measures.</summary>
public enum CompositionMode { Q, K, V }

/// <summary>Heads' OV and QK circuits as <see cref="FactoredMatrix"/>es, and composition scores, as TransformerLens defines them.</summary>
public sealed partial class HookedTransformer
{
    /// <summary>Head <paramref name="head"/>'s OV circuit <c>W_V[l, h]·W_O[l, h]</c> [d_model, d_model], rank d_head
    /// (no biases, no norm weights, as TransformerLens' <c>model.OV</c> on unprocessed weights).</summary>
    public FactoredMatrix OV(int layer, int head) => new(W_V.At(layer).At(head).ToMatrix(), W_O.At(layer).At(head).ToMatrix());

    /// <summary>Head <paramref name="head"/>'s QK circuit <c>W_Q[l, h]·W_K[l, h]ᵀ</c> [d_model (query side), d_model (key side)].</summary>
    public FactoredMatrix QK(int layer, int head)
    {
        var build = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build;
        return new(build.DenseOfArray(W_Q.At(layer).At(head).ToMatrix()), build.DenseOfArray(W_K.At(layer).At(head).ToMatrix()).Transpose());
    }

    /// <summary>
    /// TransformerLens' <c>all_composition_scores(mode)</c>: [n_layers, n_heads, n_layers, n_heads], entry
    /// [l1, h1, l2, h2] the composition score of head (l1, h1)'s OV circuit into head (l2, h2)'s query (Q: <c>OV·QK</c>),
    /// key (K: <c>OV·QKᵀ</c>) or value (V: <c>OV·OV</c>) input; 0 unless l1 &lt; l2. Costs n_heads²·n_layers²/2 products
    /// of k×d_model by d_model×k: seconds on small models, long on large ones.
    /// </summary>
    public Tensor AllCompositionScores(CompositionMode mode)
    {
        int L = Config.NLayers, H = Config.NHeads;
        var ov = new FactoredMatrix[L, H];
        var right = new FactoredMatrix[L, H];
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                ov[l, h] = OV(l, h);
                right[l, h] = mode switch { CompositionMode.Q => QK(l, h), CompositionMode.K => QK(l, h).T, _ => ov[l, h] };
            }
        var scores = Tensor.Zeros(L, H, L, H);
        for (int l1 = 0; l1 < L; l1++)
            for (int h1 = 0; h1 < H; h1++)
                for (int l2 = l1 + 1; l2 < L; l2++)
                    for (int h2 = 0; h2 < H; h2++)
                        scores[l1, h1, l2, h2] = (float)FactoredMatrix.CompositionScore(ov[l1, h1], right[l2, h2]);
        return scores;
    }
}
