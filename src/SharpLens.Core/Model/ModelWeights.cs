using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>One decoder block's parameters: matrices are views into the mapped checkpoint (in their stored layout:
/// [out, in], or a <see cref="WeightMatrix.Transposed"/> view of a <c>Conv1D</c>'s [in, out]), vectors are fp32 copies.
/// An absent bias is an empty vector.</summary>
public sealed class LayerWeights
{
    public required float[] Ln1 { get; init; }            // [d_model]
    public float[] Ln1Bias { get; init; } = [];           // [d_model] (LayerNorm) or empty
    public required WeightMatrix Wq { get; init; }        // [n_heads·d_head, d_model]
    public required WeightMatrix Wk { get; init; }        // [n_kv·d_head, d_model]
    public required WeightMatrix Wv { get; init; }        // [n_kv·d_head, d_model]
    public required float[] Bq { get; init; }             // [n_heads·d_head] or empty
    public required float[] Bk { get; init; }             // [n_kv·d_head] or empty
    public required float[] Bv { get; init; }             // [n_kv·d_head] or empty
    public required WeightMatrix Wo { get; init; }        // [d_model, n_heads·d_head]
    public float[] Bo { get; init; } = [];                // [d_model] or empty
    public required float[] Ln2 { get; init; }            // [d_model]
    public float[] Ln2Bias { get; init; } = [];           // [d_model] (LayerNorm) or empty
    public float[] Ln1Post { get; init; } = [];           // [d_model]: the attention output's norm (post-norm designs) or empty
    public float[] Ln2Post { get; init; } = [];           // [d_model]: the MLP output's norm (post-norm designs) or empty
    /// <summary>The gate projection of a gated MLP; unset (<c>Data</c> 0) for a plain one.</summary>
    public WeightMatrix WGate { get; init; }              // [d_mlp, d_model]
    public float[] BGate { get; init; } = [];             // [d_mlp] or empty
    /// <summary>The up projection of a gated MLP, the input projection (<c>c_fc</c>, TransformerLens' W_in) of a plain one.</summary>
    public required WeightMatrix WUp { get; init; }       // [d_mlp, d_model]
    public float[] BUp { get; init; } = [];               // [d_mlp] or empty
    public required WeightMatrix WDown { get; init; }     // [d_model, d_mlp]
    public float[] BDown { get; init; } = [];             // [d_model] or empty
}

/// <summary>All parameters of a model, as its family adapter (<see cref="Loading.Families.ModelFamilies"/>) found them in
/// the checkpoint.</summary>
public sealed class ModelWeights
{
    public required WeightMatrix Embed { get; init; }     // [vocab, d_model]
    /// <summary>Learned absolute position embeddings (GPT-2's <c>wpe</c>); unset (<c>Data</c> 0) with rotary positions.</summary>
    public WeightMatrix PosEmbed { get; init; }           // [n_positions, d_model]
    public required LayerWeights[] Layers { get; init; }
    public required float[] LnFinal { get; init; }        // [d_model]
    public float[] LnFinalBias { get; init; } = [];       // [d_model] (LayerNorm) or empty
    public required WeightMatrix Unembed { get; init; }   // [vocab, d_model] (lm_head, or the embedding when tied)

    /// <summary>The weights of a checkpoint, through its family's adapter.</summary>
    public static ModelWeights From(Checkpoint c) => Loading.Families.ModelFamilies.Of(c.Config.Architecture).Load(c);
}
