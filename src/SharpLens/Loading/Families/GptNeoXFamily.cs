using SharpLens.Model;

namespace SharpLens.Loading.Families;

/// <summary>
/// GPT-NeoX / Pythia (<c>GPTNeoXForCausalLM</c>): LayerNorm with bias, partial rotary positions, a plain MLP
/// (<c>dense_h_to_4h</c>/<c>dense_4h_to_h</c> with biases, <c>hidden_act</c> default exact <c>gelu</c>), parallel residual
/// unless <c>use_parallel_residual</c> is false, an untied <c>embed_out</c> unless <c>tie_word_embeddings</c>. q, k and v
/// are one fused <c>attention.query_key_value</c> [3d, d] whose rows are per head [H, 3, d_head]: the forward pass reads it
/// as stored in one GEMM, and Wq/Wk/Wv are views of it with heads 3·d_head rows apart (no copies).
/// <c>attention_bias</c> (default true) puts biases on <c>query_key_value</c> and <c>dense</c>. Rotary fraction and base
/// come from <c>rotary_pct</c>/<c>rotary_emb_base</c> (Pythia's config), <c>partial_rotary_factor</c>/<c>rope_theta</c>
/// (transformers 4.45+), or transformers v5's <c>rope_parameters</c>, in that order of precedence reversed (the newest
/// wins). The buffers older checkpoints carry (<c>attention.bias</c>, <c>attention.masked_bias</c>,
/// <c>attention.rotary_emb.inv_freq</c>) are skipped whatever their dtype; inv_freq is recomputed in double precision.
/// Defaults as Hugging Face's <c>GPTNeoXConfig</c>.
/// </summary>
internal sealed class GptNeoXFamily : IModelFamily
{
    public ModelConfig ReadConfig(ModelConfig.Reader r, string architecture)
    {
        int d = r.OptInt("hidden_size") ?? 6144, heads = r.OptInt("num_attention_heads") ?? 64;
        if (d % heads != 0)
            throw SharpLensException.Checkpoint($"{r.Path}: hidden_size {d} is not divisible by num_attention_heads {heads}");
        var rope = r.Object("rope_parameters");
        double fraction = rope?.OptFraction("partial_rotary_factor") ?? r.OptFraction("partial_rotary_factor") ?? r.OptFraction("rotary_pct") ?? 0.25;
        double theta = rope?.OptDouble("rope_theta") ?? r.OptDouble("rope_theta") ?? r.OptDouble("rotary_emb_base") ?? 10000;
        string? ropeType = rope?.OptString("rope_type");
        if (ropeType is not (null or "default"))
            throw SharpLensException.Checkpoint($"{r.Path}: rope_parameters rope_type {IO.UntrustedText.Quote(ropeType, 40)} is not supported (supported: default)");
        var scaling = r.Object("rope_scaling");
        if (scaling is { } s && (s.OptString("rope_type") ?? s.OptString("type") ?? "default") != "default")
            throw SharpLensException.Checkpoint($"{r.Path}: rope_scaling is not supported for GPT-NeoX");
        int dHead = d / heads;
        if ((int)(dHead * fraction) % 2 != 0 || (int)(dHead * fraction) == 0)
            throw SharpLensException.Checkpoint($"{r.Path}: rotary dims int({dHead} · {fraction}) must be a positive even number");
        bool parallel = r.OptBool("use_parallel_residual") ?? true;
        return new ModelConfig
        {
            Architecture = architecture,
            DModel = d,
            DMlp = r.OptInt("intermediate_size") ?? 24576,
            NLayers = r.OptInt("num_hidden_layers") ?? 44,
            NHeads = heads,
            NKvHeads = heads,
            DHead = dHead,
            RmsNormEps = r.OptDouble("layer_norm_eps") ?? 1e-5,
            RopeTheta = theta,
            VocabSize = r.OptInt("vocab_size") ?? 50432,
            TieWordEmbeddings = r.OptBool("tie_word_embeddings") ?? false,
            QkvBias = r.OptBool("attention_bias") ?? true,
            MlpBias = true,
            MaxPositions = r.OptInt("max_position_embeddings") ?? 2048,
            Design = new BlockDesign(NormKind.LayerNorm, PositionKind.Rotary, MlpKind.Plain,
                BlockDesign.ActivationNamed(r.OptString("hidden_act") ?? "gelu", "hidden_act", r.Path))
            {
                Residual = parallel ? ResidualKind.Parallel : ResidualKind.Sequential,
                RotaryFraction = fraction,
            },
        };
    }

    /// <summary>Each layer tensor under <c>gpt_neox.layers.L.</c>: shape from (d, f), and whether it is an attention bias.</summary>
    static readonly (string Name, Func<long, long, long[]> Shape, bool AttentionBias)[] Layer =
    [
        ("input_layernorm.weight", (d, f) => [d], false), ("input_layernorm.bias", (d, f) => [d], false),
        ("post_attention_layernorm.weight", (d, f) => [d], false), ("post_attention_layernorm.bias", (d, f) => [d], false),
        ("attention.query_key_value.weight", (d, f) => [3 * d, d], false), ("attention.query_key_value.bias", (d, f) => [3 * d], true),
        ("attention.dense.weight", (d, f) => [d, d], false), ("attention.dense.bias", (d, f) => [d], true),
        ("mlp.dense_h_to_4h.weight", (d, f) => [f, d], false), ("mlp.dense_h_to_4h.bias", (d, f) => [f], false),
        ("mlp.dense_4h_to_h.weight", (d, f) => [d, f], false), ("mlp.dense_4h_to_h.bias", (d, f) => [d], false),
    ];

    public IEnumerable<(string Name, long[] Shape)> Tensors(ModelConfig c, Func<string, bool> has)
    {
        long d = c.DModel, f = c.DMlp;
        yield return ("gpt_neox.embed_in.weight", [c.VocabSize, d]);
        for (int l = 0; l < c.NLayers; l++)
            foreach (var (name, shape, attentionBias) in Layer)
                if (!attentionBias || c.QkvBias) yield return ($"gpt_neox.layers.{l}.{name}", shape(d, f));
        yield return ("gpt_neox.final_layer_norm.weight", [d]);
        yield return ("gpt_neox.final_layer_norm.bias", [d]);
        if (!c.TieWordEmbeddings) yield return ("embed_out.weight", [c.VocabSize, d]);
    }

    static readonly string[] Buffers = [".attention.bias", ".attention.masked_bias", ".attention.rotary_emb.inv_freq"];

    public bool Skips(string name, ModelConfig c) =>
        (name.StartsWith("gpt_neox.layers.", StringComparison.Ordinal) && Buffers.Any(b => name.EndsWith(b, StringComparison.Ordinal)))
        || name == "gpt_neox.rotary_emb.inv_freq" || (c.TieWordEmbeddings && name == "embed_out.weight");

    public ModelWeights Load(Checkpoint c)
    {
        var cfg = c.Config;
        int d = cfg.DModel, H = cfg.NHeads, e = cfg.DHead;
        var layers = new LayerWeights[cfg.NLayers];
        for (int l = 0; l < cfg.NLayers; l++)
        {
            string p = $"gpt_neox.layers.{l}.";
            var qkv = c.Matrix(p + "attention.query_key_value.weight");          // [H·3·e, d]: rows (head, q|k|v, e)
            float[] qkvBias = cfg.QkvBias ? c.Vector(p + "attention.query_key_value.bias") : [];
            int span = (H - 1) * 3 * e + e;                                      // rows from a head's first q row to the last head's end
            layers[l] = new LayerWeights
            {
                Ln1 = c.Vector(p + "input_layernorm.weight"),
                Ln1Bias = c.Vector(p + "input_layernorm.bias"),
                QkvInterleaved = qkv,
                BQkvInterleaved = qkvBias,
                Wq = qkv.RowSlice(0, span),
                Wk = qkv.RowSlice(e, span),
                Wv = qkv.RowSlice(2 * e, span),
                HeadRowStep = 3 * e,
                Bq = Part(qkvBias, 0, H, e),
                Bk = Part(qkvBias, 1, H, e),
                Bv = Part(qkvBias, 2, H, e),
                Wo = c.Matrix(p + "attention.dense.weight"),
                Bo = cfg.QkvBias ? c.Vector(p + "attention.dense.bias") : [],
                Ln2 = c.Vector(p + "post_attention_layernorm.weight"),
                Ln2Bias = c.Vector(p + "post_attention_layernorm.bias"),
                WUp = c.Matrix(p + "mlp.dense_h_to_4h.weight"),
                BUp = c.Vector(p + "mlp.dense_h_to_4h.bias"),
                WDown = c.Matrix(p + "mlp.dense_4h_to_h.weight"),
                BDown = c.Vector(p + "mlp.dense_4h_to_h.bias"),
            };
        }
        var embed = c.Matrix("gpt_neox.embed_in.weight");
        return new ModelWeights
        {
            Embed = embed,
            Layers = layers,
            LnFinal = c.Vector("gpt_neox.final_layer_norm.weight"),
            LnFinalBias = c.Vector("gpt_neox.final_layer_norm.bias"),
            Unembed = cfg.TieWordEmbeddings ? embed : c.Matrix("embed_out.weight"),
        };
    }

    /// <summary>Part <paramref name="which"/> (0 q, 1 k, 2 v) of every head of a fused [H, 3, e] bias, heads contiguous.</summary>
    static float[] Part(float[] fused, int which, int H, int e)
    {
        if (fused.Length == 0) return [];
        var part = new float[H * e];
        for (int h = 0; h < H; h++) fused.AsSpan((h * 3 + which) * e, e).CopyTo(part.AsSpan(h * e, e));
        return part;
    }
}
