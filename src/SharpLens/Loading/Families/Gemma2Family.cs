using SharpLens.IO;
using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// Gemma 2 (<c>Gemma2ForCausalLM</c>): Llama's tensor layout with four RMSNorms per block, each multiplying by
/// <c>1 + w</c> (<see cref="BlockDesign.NormWeightOffset"/>): <c>input_layernorm</c> (ln1), <c>post_attention_layernorm</c>
/// on the attention output (ln1_post; in Llama that name is the pre-MLP norm), <c>pre_feedforward_layernorm</c> (ln2),
/// <c>post_feedforward_layernorm</c> on the MLP output (ln2_post). Embeddings × sqrt(d_model); a GeGLU MLP
/// (<c>hidden_activation</c>, default gelu_pytorch_tanh); scores × <c>query_pre_attn_scalar</c>^-½, then soft-capped by
/// <c>attn_logit_softcapping</c>; final logits soft-capped by <c>final_logit_softcapping</c> (either null: no cap);
/// <c>sliding_window</c> on the layers <c>layer_types</c> marks "sliding_attention", by default layers 0, 2, 4, …
/// (Hugging Face's <c>not bool(layer_idx % 2)</c>); <c>attention_bias</c> puts biases on q, k, v and o. Defaults as
/// <c>Gemma2Config</c>: <c>rms_norm_eps</c> 1e-6, <c>head_dim</c> 256, <c>query_pre_attn_scalar</c> 256,
/// <c>sliding_window</c> 4096, soft-caps 50 and 30, <c>tie_word_embeddings</c> true.
/// </summary>
internal sealed class Gemma2Family : IModelFamily
{
    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        var c = ModelConfig.ReadLlamaStyle(r, architecture);
        string act = r.OptString("hidden_activation") ?? r.OptString("hidden_act") ?? "gelu_pytorch_tanh";
        int dHead = r.OptInt("head_dim") ?? 256;
        if (dHead % 2 != 0) throw SharpLensException.Checkpoint($"{r.Path}: head_dim {dHead} must be even for rotary embeddings");
        int? window = r.SlidingWindow();
        var types = r.OptStrings("layer_types");
        if (types != null && types.Length != c.NLayers)
            throw SharpLensException.Checkpoint($"{r.Path}: layer_types has {types.Length} entries for {c.NLayers} layers");
        var windows = new int?[c.NLayers];
        for (int l = 0; l < c.NLayers; l++)
        {
            string type = types?[l] ?? (l % 2 == 0 ? "sliding_attention" : "full_attention");
            windows[l] = type switch
            {
                "sliding_attention" => window,
                "full_attention" => null,
                _ => throw SharpLensException.Checkpoint($"{r.Path}: layer_types entry {UntrustedText.Quote(type, 40)} is not supported (sliding_attention, full_attention)"),
            };
        }
        return c with
        {
            DHead = dHead,
            MaxPositions = r.OptInt("max_position_embeddings") ?? 8192,
            TieWordEmbeddings = r.OptBool("tie_word_embeddings") ?? true,
            MlpBias = false,
            QueryPreAttnScalar = r.OptDouble("query_pre_attn_scalar") ?? 256,
            AttnSoftcap = r.Has("attn_logit_softcapping") ? r.OptDouble("attn_logit_softcapping") : 50,
            FinalSoftcap = r.Has("final_logit_softcapping") ? r.OptDouble("final_logit_softcapping") : 30,
            LayerWindows = windows.Any(w => w != null) ? windows : null,
            Design = BlockDesign.Llama with
            {
                Activation = BlockDesign.ActivationNamed(act, "hidden_activation", r.Path),
                PostNorms = true, NormWeightOffset = 1, ScaleEmbedding = true,
            },
        };
    }

    static LlamaBiases Biases(ModelConfig c) => new(Qkv: c.QkvBias, O: c.QkvBias, Mlp: false);

    /// <summary>Llama's tensors plus the two norms Gemma 2 adds per layer.</summary>
    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has)
    {
        foreach (var t in LlamaLayout.Tensors(c, Biases(c))) yield return t;
        for (int l = 0; l < c.NLayers; l++)
        {
            yield return ($"model.layers.{l}.pre_feedforward_layernorm.weight", [c.DModel]);
            yield return ($"model.layers.{l}.post_feedforward_layernorm.weight", [c.DModel]);
        }
    }

    public bool Skips(string name, ModelConfig c) => LlamaLayout.Skips(name, c);

    public ModelWeights Load(Checkpoint c)
    {
        var llama = LlamaLayout.Load(c, Biases(c.Config));
        float offset = c.Config.Design.NormWeightOffset;
        float[] Norm(string name) => Offset(c.Vector(name), offset);
        var layers = new LayerWeights[c.Config.NLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            var w = llama.Layers[l];
            string p = $"model.layers.{l}.";
            layers[l] = new LayerWeights
            {
                Ln1 = Norm(p + "input_layernorm.weight"),
                Wq = w.Wq, Wk = w.Wk, Wv = w.Wv, Bq = w.Bq, Bk = w.Bk, Bv = w.Bv, Wo = w.Wo, Bo = w.Bo,
                Ln1Post = Norm(p + "post_attention_layernorm.weight"),
                Ln2 = Norm(p + "pre_feedforward_layernorm.weight"),
                Ln2Post = Norm(p + "post_feedforward_layernorm.weight"),
                WGate = w.WGate, WUp = w.WUp, WDown = w.WDown,
            };
        }
        return new ModelWeights
        {
            Embed = llama.Embed,
            Layers = layers,
            LnFinal = Norm("model.norm.weight"),
            Unembed = llama.Unembed,
        };
    }

    static float[] Offset(float[] w, float offset)
    {
        for (int i = 0; i < w.Length; i++) w[i] += offset;
        return w;
    }
}
