using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>One decoder block's parameters: matrices are [out, in] views into the mapped checkpoint in their
/// stored dtype (a <c>Conv1D</c>'s [in, out] weight is copied once at load to [out, in]), vectors are fp32 copies.
/// An absent bias is an empty vector.</summary>
public sealed class LayerWeights
{
    public required float[] Ln1 { get; init; }            // [d_model]
    public float[] Ln1Bias { get; init; } = [];           // [d_model] (LayerNorm) or empty
    /// <summary>Query rows: head h's d_head rows start at row h·<see cref="HeadRowStep"/> (contiguous heads: [n_heads·d_head,
    /// d_model]; GPT-NeoX: a view of the fused per-head [H, 3, d_head] matrix, heads 3·d_head rows apart).</summary>
    public required WeightMatrix Wq { get; init; }
    public required WeightMatrix Wk { get; init; }        // as Wq, per key/value head
    public required WeightMatrix Wv { get; init; }        // as Wq, per key/value head
    /// <summary>Rows between consecutive heads in Wq/Wk/Wv; 0 = d_head (contiguous heads).</summary>
    public int HeadRowStep { get; init; }
    /// <summary>The fused [H, 3, d_head]-row q/k/v matrix when the checkpoint stores one (GPT-NeoX <c>query_key_value</c>):
    /// the forward pass reads it as stored in one GEMM; unset (<c>Data</c> 0) otherwise.</summary>
    public WeightMatrix QkvInterleaved { get; init; }    // [3·n_heads·d_head, d_model]
    public float[] BQkvInterleaved { get; init; } = [];  // [3·n_heads·d_head] or empty
    public required float[] Bq { get; init; }             // [n_heads·d_head] or empty (fp32 copies, heads contiguous)
    public required float[] Bk { get; init; }             // [n_kv·d_head] or empty
    public required float[] Bv { get; init; }             // [n_kv·d_head] or empty

    int Step(int e) => HeadRowStep == 0 ? e : HeadRowStep;
    /// <summary>Query head h's [d_head, d_model] rows.</summary>
    public WeightMatrix QHead(int h, int e) => Wq.RowSlice(h * Step(e), e);
    /// <summary>Key/value head g's [d_head, d_model] key rows.</summary>
    public WeightMatrix KHead(int g, int e) => Wk.RowSlice(g * Step(e), e);
    /// <summary>Key/value head g's [d_head, d_model] value rows.</summary>
    public WeightMatrix VHead(int g, int e) => Wv.RowSlice(g * Step(e), e);
    /// <summary>Rows between consecutive heads in Wq/Wk/Wv for heads of <paramref name="e"/> dims.</summary>
    public int HeadStep(int e) => Step(e);
    /// <summary>Per-head q/k RMSNorm weights (<see cref="BlockDesign.QkNorm"/>); empty otherwise.</summary>
    public float[] QNorm { get; init; } = [];            // [d_head] or empty
    public float[] KNorm { get; init; } = [];            // [d_head] or empty
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
