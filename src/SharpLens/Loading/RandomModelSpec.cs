using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// The architecture of a random checkpoint: every field <c>config.json</c> needs, with the exact values of a real
/// model in the presets (<see cref="RandomCheckpoint.Presets"/>). <see cref="WithLayers"/> and <see cref="Small"/>
/// derive cheaper variants for tests that keep the architecture's features (GQA ratio, biases, tying, rope scaling,
/// the full Qwen vocabulary so the real tokenizer's ids stay valid).
/// </summary>
public sealed record RandomModelSpec
{
    /// <summary>Preset name (with "-small" appended by <see cref="Small"/>).</summary>
    public required string Name { get; init; }
    /// <summary>Qwen2ForCausalLM, LlamaForCausalLM, MistralForCausalLM, Qwen3ForCausalLM or GPTNeoXForCausalLM.</summary>
    public required string Architecture { get; init; }
    public required int DModel { get; init; }
    public required int DMlp { get; init; }
    public required int NLayers { get; init; }
    public required int NHeads { get; init; }
    public required int NKvHeads { get; init; }
    /// <summary>Explicit <c>head_dim</c> (Llama); null means d_model / n_heads and is not written.</summary>
    public int? HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required bool Tied { get; init; }
    public required double RopeTheta { get; init; }
    public required double RmsNormEps { get; init; }
    public required int MaxPositions { get; init; }
    public Llama3RopeScaling? RopeScaling { get; init; }
    /// <summary>Mistral's <c>sliding_window</c> (null: none).</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>GPT-NeoX's <c>rotary_pct</c>.</summary>
    public double RotaryFraction { get; init; } = 1;
    /// <summary>Number of safetensors shards (1 writes a single model.safetensors without an index).</summary>
    public int Shards { get; init; } = 2;
    /// <summary>Standard deviation of the (approximately normal) matrix and bias entries; norms are 1.</summary>
    public double InitStd { get; init; } = 0.02;

    public bool IsQwen => Architecture == "Qwen2ForCausalLM";
    public int DHead => HeadDim ?? DModel / NHeads;

    /// <summary>The same architecture with <paramref name="layers"/> decoder blocks.</summary>
    public RandomModelSpec WithLayers(int layers)
    {
        if (layers < 1) throw SharpLensException.Usage($"a model needs at least 1 layer, got {layers}", nameof(layers));
        return this with { NLayers = layers };
    }

    /// <summary>
    /// Every width divided by 16 (d_head too, kept even and ≥ 4; head counts, GQA ratio, biases, tying and rope scaling
    /// kept), the vocabulary kept whole: a variant small enough for tests that still runs the real tokenizer's ids.
    /// </summary>
    public RandomModelSpec Small()
    {
        const int f = 16;
        // Partial rotary needs an even number of rotated dims: int(8 · 0.25) = 2.
        int dHead = Math.Max(RotaryFraction < 1 ? 8 : 4, DHead / f / 2 * 2);
        return this with
        {
            Name = Name + "-small",
            DModel = HeadDim == null ? NHeads * dHead : Math.Max(8, DModel / f),
            HeadDim = HeadDim == null ? null : dHead,
            DMlp = Math.Max(8, DMlp / f / 8 * 8),
        };
    }

    /// <summary>The Hugging Face <c>config.json</c> of this model (what the real model's file says, for the presets).</summary>
    public JsonObject ConfigJson() => Architecture switch
    {
        "GPTNeoXForCausalLM" => NeoXConfigJson(),
        _ => LlamaStyleConfigJson(),
    };

    /// <summary>Pythia's config.json fields (transformers 4.24 layout).</summary>
    JsonObject NeoXConfigJson() => new()
    {
        ["architectures"] = new JsonArray(Architecture), ["model_type"] = "gpt_neox", ["bos_token_id"] = 0, ["eos_token_id"] = 0,
        ["hidden_act"] = "gelu", ["hidden_size"] = DModel, ["initializer_range"] = InitStd, ["intermediate_size"] = DMlp,
        ["layer_norm_eps"] = RmsNormEps, ["max_position_embeddings"] = MaxPositions, ["num_attention_heads"] = NHeads,
        ["num_hidden_layers"] = NLayers, ["rotary_emb_base"] = RopeTheta, ["rotary_pct"] = RotaryFraction,
        ["tie_word_embeddings"] = Tied, ["torch_dtype"] = "bfloat16", ["transformers_version"] = "4.24.0", ["use_cache"] = true,
        ["use_parallel_residual"] = true, ["vocab_size"] = VocabSize,
        ["sharplens_random"] = new JsonObject { ["preset"] = Name, ["note"] = "random weights written by sharplens make-random" },
    };

    JsonObject LlamaStyleConfigJson()
    {
        bool mistral = Architecture == "MistralForCausalLM", qwen3 = Architecture == "Qwen3ForCausalLM";
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = IsQwen ? "qwen2" : mistral ? "mistral" : qwen3 ? "qwen3" : "llama",
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = 151643,
            ["eos_token_id"] = 151645,
            ["hidden_act"] = "silu",
            ["hidden_size"] = DModel,
            ["initializer_range"] = InitStd,
            ["intermediate_size"] = DMlp,
            ["max_position_embeddings"] = MaxPositions,
        };
        if (IsQwen || qwen3) o["max_window_layers"] = NLayers;
        o["num_attention_heads"] = NHeads;
        o["num_hidden_layers"] = NLayers;
        o["num_key_value_heads"] = NKvHeads;
        if (HeadDim is { } hd) o["head_dim"] = hd;
        if (!IsQwen && !mistral) o["attention_bias"] = false;
        if (Architecture == "LlamaForCausalLM")
        {
            o["mlp_bias"] = false;
            o["pretraining_tp"] = 1;
        }
        o["rms_norm_eps"] = RmsNormEps;
        o["rope_theta"] = RopeTheta;
        if (RopeScaling is { } rs)
            o["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = rs.Factor, ["low_freq_factor"] = rs.LowFreqFactor,
                ["high_freq_factor"] = rs.HighFreqFactor, ["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings,
            };
        if (IsQwen || qwen3)
        {
            o["sliding_window"] = MaxPositions;
            o["use_sliding_window"] = false;
        }
        if (mistral) o["sliding_window"] = SlidingWindow;
        o["tie_word_embeddings"] = Tied;
        o["torch_dtype"] = "bfloat16";
        o["transformers_version"] = "4.37.0";
        o["use_cache"] = true;
        o["vocab_size"] = VocabSize;
        o["sharplens_random"] = new JsonObject { ["preset"] = Name, ["note"] = "random weights written by sharplens make-random" };
        return o;
    }

    /// <summary>The <see cref="ModelConfig"/> SharpLens reads from <see cref="ConfigJson"/>.</summary>
    public ModelConfig ToConfig() => ModelConfig.Parse(ConfigJson().ToJsonString());
}
