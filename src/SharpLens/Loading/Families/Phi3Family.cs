using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Phi-3 (<c>Phi3ForCausalLM</c>): Llama's design (RMSNorm, rotary, SiLU-gated MLP, no biases) with fused projections
/// read as stored: <c>self_attn.qkv_proj.weight</c> [(H + 2G)·e, d] = rows [q; k; v] and <c>mlp.gate_up_proj.weight</c>
/// [2f, d] = rows [gate; up], each block a row-slice view of the mapped tensor (no copy). Config fields and defaults as
/// Hugging Face's <c>Phi3Config</c>: <c>rms_norm_eps</c> 1e-5, <c>hidden_act</c> silu, <c>tie_word_embeddings</c> false,
/// <c>partial_rotary_factor</c> 1.0 (the first int(head_dim · factor) dims of each head rotate),
/// <c>sliding_window</c> (applied on every layer, as Hugging Face's mask does), <c>rope_scaling</c> null (the 128k
/// models' <c>longrope</c> is refused by name).
/// </summary>
internal sealed class Phi3Family : IModelFamily
{
    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        var c = ModelConfig.ReadLlamaStyle(r, architecture);
        double factor = r.OptDouble("partial_rotary_factor") ?? 1.0;
        if (factor > 1) throw SharpLensException.Checkpoint($"{r.Path}: partial_rotary_factor {factor:R} must be in (0, 1]");
        int rotary = (int)(c.DHead * factor);
        if (rotary < 2 || rotary % 2 != 0)
            throw SharpLensException.Checkpoint($"{r.Path}: partial_rotary_factor {factor:R} × head_dim {c.DHead} gives {rotary} rotary dims; it must be even and at least 2");
        int? window = r.OptInt("sliding_window");
        return c with
        {
            RmsNormEps = r.OptDouble("rms_norm_eps") ?? 1e-5,
            QkvBias = false,
            MlpBias = false,
            Design = c.Design with { RotaryFraction = factor },
            LayerWindows = ModelConfig.WindowsFromLayer(c.NLayers, window),
        };
    }

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has)
    {
        long d = c.DModel, q = (long)c.NHeads * c.DHead, kv = (long)c.NKvHeads * c.DHead, f = c.DMlp, v = c.VocabSize;
        yield return ("model.embed_tokens.weight", [v, d]);
        for (int l = 0; l < c.NLayers; l++)
        {
            string p = $"model.layers.{l}.";
            yield return (p + "input_layernorm.weight", [d]);
            yield return (p + "self_attn.qkv_proj.weight", [q + 2 * kv, d]);
            yield return (p + "self_attn.o_proj.weight", [d, q]);
            yield return (p + "post_attention_layernorm.weight", [d]);
            yield return (p + "mlp.gate_up_proj.weight", [2 * f, d]);
            yield return (p + "mlp.down_proj.weight", [d, f]);
        }
        yield return ("model.norm.weight", [d]);
        if (!c.TieWordEmbeddings) yield return ("lm_head.weight", [v, d]);
    }

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c)
    {
        var cfg = c.Config;
        int q = cfg.NHeads * cfg.DHead, kv = cfg.NKvHeads * cfg.DHead, f = cfg.DMlp;
        var layers = new LayerWeights[cfg.NLayers];
        for (int l = 0; l < cfg.NLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var qkv = c.Matrix(p + "self_attn.qkv_proj.weight");       // [q + 2kv, d]
            var gateUp = c.Matrix(p + "mlp.gate_up_proj.weight");      // [2f, d]
            layers[l] = new LayerWeights
            {
                Ln1 = c.Vector(p + "input_layernorm.weight"),
                Wq = qkv.RowSlice(0, q),
                Wk = qkv.RowSlice(q, kv),
                Wv = qkv.RowSlice(q + kv, kv),
                Bq = [], Bk = [], Bv = [],
                Wo = c.Matrix(p + "self_attn.o_proj.weight"),
                Ln2 = c.Vector(p + "post_attention_layernorm.weight"),
                WGate = gateUp.RowSlice(0, f),
                WUp = gateUp.RowSlice(f, f),
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
