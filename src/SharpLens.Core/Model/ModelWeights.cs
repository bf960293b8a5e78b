using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>One decoder block's parameters: matrices are views into the mapped checkpoint, vectors are fp32 copies.</summary>
public sealed class LayerWeights
{
    public required float[] Ln1 { get; init; }            // [d_model]
    public required WeightMatrix Wq { get; init; }        // [n_heads·d_head, d_model]
    public required WeightMatrix Wk { get; init; }        // [n_kv·d_head, d_model]
    public required WeightMatrix Wv { get; init; }        // [n_kv·d_head, d_model]
    public required float[] Bq { get; init; }             // [n_heads·d_head] or empty
    public required float[] Bk { get; init; }             // [n_kv·d_head] or empty
    public required float[] Bv { get; init; }             // [n_kv·d_head] or empty
    public required WeightMatrix Wo { get; init; }        // [d_model, n_heads·d_head]
    public required float[] Ln2 { get; init; }            // [d_model]
    public required WeightMatrix WGate { get; init; }     // [d_mlp, d_model]
    public required WeightMatrix WUp { get; init; }       // [d_mlp, d_model]
    public required WeightMatrix WDown { get; init; }     // [d_model, d_mlp]
}

/// <summary>All parameters of a Qwen2/Llama model, named as Hugging Face stores them.</summary>
public sealed class ModelWeights
{
    public required WeightMatrix Embed { get; init; }     // [vocab, d_model]
    public required LayerWeights[] Layers { get; init; }
    public required float[] LnFinal { get; init; }        // [d_model]
    public required WeightMatrix Unembed { get; init; }   // [vocab, d_model] (lm_head, or the embedding when tied)

    public static ModelWeights From(Checkpoint c)
    {
        var cfg = c.Config;
        float[] Bias(string name) => cfg.QkvBias ? c.Vector(name) : [];
        var layers = new LayerWeights[cfg.NLayers];
        for (int l = 0; l < cfg.NLayers; l++)
        {
            string p = $"model.layers.{l}.";
            layers[l] = new LayerWeights
            {
                Ln1 = c.Vector(p + "input_layernorm.weight"),
                Wq = c.Matrix(p + "self_attn.q_proj.weight"),
                Wk = c.Matrix(p + "self_attn.k_proj.weight"),
                Wv = c.Matrix(p + "self_attn.v_proj.weight"),
                Bq = Bias(p + "self_attn.q_proj.bias"),
                Bk = Bias(p + "self_attn.k_proj.bias"),
                Bv = Bias(p + "self_attn.v_proj.bias"),
                Wo = c.Matrix(p + "self_attn.o_proj.weight"),
                Ln2 = c.Vector(p + "post_attention_layernorm.weight"),
                WGate = c.Matrix(p + "mlp.gate_proj.weight"),
                WUp = c.Matrix(p + "mlp.up_proj.weight"),
                WDown = c.Matrix(p + "mlp.down_proj.weight"),
            };
        }
        var embed = c.Matrix("model.embed_tokens.weight");
        return new ModelWeights
        {
            Embed = embed,
            Layers = layers,
            LnFinal = c.Vector("model.norm.weight"),
            Unembed = cfg.TieWordEmbeddings ? embed : c.Matrix("lm_head.weight"),
        };
    }
}
