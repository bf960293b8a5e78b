using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Llama (<c>LlamaForCausalLM</c>): RMSNorm, rotary positions (optionally <c>llama3</c>-scaled), a gated MLP with
/// <c>hidden_act</c>; <c>attention_bias</c> puts biases on q, k, v and o, <c>mlp_bias</c> on gate, up and down.
/// </summary>
internal sealed class LlamaFamily : IModelFamily
{
    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture) => ModelConfig.ReadLlamaStyle(r, architecture);

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has) =>
        LlamaLayout.Tensors(c, new(Qkv: c.QkvBias, O: c.QkvBias, Mlp: c.MlpBias));

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c) => LlamaLayout.Load(c, new(Qkv: c.Config.QkvBias, O: c.Config.QkvBias, Mlp: c.Config.MlpBias));
}

/// <summary>Which projections of a Llama-layout block carry biases.</summary>
internal readonly record struct LlamaBiases(bool Qkv, bool O, bool Mlp);

/// <summary>
/// The tensor layout Qwen2 and Llama share (<c>model.layers.L.self_attn.q_proj.weight</c>, …): separate [out, in]
/// projections, norms without biases, a separate <c>lm_head</c> unless tied.
/// </summary>
internal static class LlamaLayout
{
    /// <summary>Each layer tensor: name under <c>model.layers.L.</c>, shape from (d, q = H·e, kv = G·e, f), and whether a
    /// bias flag gates it.</summary>
    static readonly (string Name, Func<long, long, long, long, long[]> Shape, Func<LlamaBiases, bool> Present)[] Layer =
    [
        ("input_layernorm.weight", (d, q, kv, f) => [d], _ => true),
        ("self_attn.q_proj.weight", (d, q, kv, f) => [q, d], _ => true),
        ("self_attn.k_proj.weight", (d, q, kv, f) => [kv, d], _ => true),
        ("self_attn.v_proj.weight", (d, q, kv, f) => [kv, d], _ => true),
        ("self_attn.q_proj.bias", (d, q, kv, f) => [q], b => b.Qkv),
        ("self_attn.k_proj.bias", (d, q, kv, f) => [kv], b => b.Qkv),
        ("self_attn.v_proj.bias", (d, q, kv, f) => [kv], b => b.Qkv),
        ("self_attn.o_proj.weight", (d, q, kv, f) => [d, q], _ => true),
        ("self_attn.o_proj.bias", (d, q, kv, f) => [d], b => b.O),
        ("post_attention_layernorm.weight", (d, q, kv, f) => [d], _ => true),
        ("mlp.gate_proj.weight", (d, q, kv, f) => [f, d], _ => true),
        ("mlp.up_proj.weight", (d, q, kv, f) => [f, d], _ => true),
        ("mlp.down_proj.weight", (d, q, kv, f) => [d, f], _ => true),
        ("mlp.gate_proj.bias", (d, q, kv, f) => [f], b => b.Mlp),
        ("mlp.up_proj.bias", (d, q, kv, f) => [f], b => b.Mlp),
        ("mlp.down_proj.bias", (d, q, kv, f) => [d], b => b.Mlp),
    ];

    public static IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, LlamaBiases biases)
    {
        long d = c.DModel, q = (long)c.NHeads * c.DHead, kv = (long)c.NKvHeads * c.DHead, f = c.DMlp, v = c.VocabSize;
        yield return ("model.embed_tokens.weight", [v, d]);
        for (int l = 0; l < c.NLayers; l++)
            foreach (var (name, shape, present) in Layer)
                if (present(biases)) yield return ($"model.layers.{l}.{name}", shape(d, q, kv, f));
        yield return ("model.norm.weight", [d]);
        if (!c.TieWordEmbeddings) yield return ("lm_head.weight", [v, d]);
    }

    /// <summary>Rotary tables some exporters store, and a tied model's copy of the embedding.</summary>
    public static bool Skips(string name, ModelConfig c) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (c.TieWordEmbeddings && name == "lm_head.weight");

    /// <param name="qkNorm">also read the per-head <c>self_attn.q_norm</c>/<c>k_norm</c> weights (Qwen3)</param>
    public static ModelWeights Load(Checkpoint c, LlamaBiases biases, bool qkNorm = false)
    {
        var cfg = c.Config;
        var layers = new LayerWeights[cfg.NLayers];
        for (int l = 0; l < cfg.NLayers; l++)
        {
            string p = $"model.layers.{l}.";
            float[] Bias(string name, bool present) => present ? c.Vector(p + name) : [];
            layers[l] = new LayerWeights
            {
                Ln1 = c.Vector(p + "input_layernorm.weight"),
                Wq = c.Matrix(p + "self_attn.q_proj.weight"),
                Wk = c.Matrix(p + "self_attn.k_proj.weight"),
                Wv = c.Matrix(p + "self_attn.v_proj.weight"),
                Bq = Bias("self_attn.q_proj.bias", biases.Qkv),
                Bk = Bias("self_attn.k_proj.bias", biases.Qkv),
                Bv = Bias("self_attn.v_proj.bias", biases.Qkv),
                QNorm = Bias("self_attn.q_norm.weight", qkNorm),
                KNorm = Bias("self_attn.k_norm.weight", qkNorm),
                Wo = c.Matrix(p + "self_attn.o_proj.weight"),
                Bo = Bias("self_attn.o_proj.bias", biases.O),
                Ln2 = c.Vector(p + "post_attention_layernorm.weight"),
                WGate = c.Matrix(p + "mlp.gate_proj.weight"),
                BGate = Bias("mlp.gate_proj.bias", biases.Mlp),
                WUp = c.Matrix(p + "mlp.up_proj.weight"),
                BUp = Bias("mlp.up_proj.bias", biases.Mlp),
                WDown = c.Matrix(p + "mlp.down_proj.weight"),
                BDown = Bias("mlp.down_proj.bias", biases.Mlp),
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
