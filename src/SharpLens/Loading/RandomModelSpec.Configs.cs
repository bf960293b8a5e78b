using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// The <c>config.json</c> of each family's preset: the fields (and their order) of the real model's file on the Hub
/// (Qwen1.5-1.8B-Chat, Mistral-7B-v0.1, Qwen3-0.6B, pythia-410m, gpt2, gemma-2-2b, Phi-3-mini-4k-instruct), with the
/// preset's shapes. Deviations, each because the preset ships another tokenizer or other weights than the real model:
/// <c>torch_dtype</c> is the spec's <see cref="DType"/>, bfloat16 for every preset (gpt2 and gemma-2-2b ship float32), and
/// Pythia's <c>bos_token_id</c>/<c>eos_token_id</c> are GPT-2's <c>&lt;|endoftext|&gt;</c> (50256), the tokenizer it ships.
/// </summary>
public sealed partial record RandomModelSpec
{
    /// <summary>The Hugging Face <c>config.json</c> of this model (what the real model's file says, for the presets).</summary>
    public JsonObject ConfigJson()
    {
        var o = Architecture switch
        {
            "GPTNeoXForCausalLM" => NeoXConfigJson(),
            "GPT2LMHeadModel" => Gpt2ConfigJson(),
            "Gemma2ForCausalLM" => Gemma2ConfigJson(),
            "Phi3ForCausalLM" => Phi3ConfigJson(),
            _ => LlamaStyleConfigJson(),
        };
        o["sharplens_random"] = new JsonObject
        {
            ["preset"] = Name, ["tokenizer"] = Tokenizer, ["note"] = "random weights written by sharplens make-random",
        };
        return o;
    }

    /// <summary>Pythia's config.json fields (transformers 4.24 layout).</summary>
    JsonObject NeoXConfigJson() => new()
    {
        ["architectures"] = new JsonArray(Architecture), ["model_type"] = "gpt_neox", ["bos_token_id"] = 50256, ["eos_token_id"] = 50256,
        ["hidden_act"] = "gelu", ["hidden_size"] = DModel, ["initializer_range"] = InitStd, ["intermediate_size"] = DMlp,
        ["layer_norm_eps"] = RmsNormEps, ["max_position_embeddings"] = MaxPositions, ["num_attention_heads"] = NHeads,
        ["num_hidden_layers"] = NLayers, ["rotary_emb_base"] = RopeTheta, ["rotary_pct"] = RotaryFraction,
        ["tie_word_embeddings"] = Tied, ["torch_dtype"] = TorchDType, ["transformers_version"] = "4.24.0", ["use_cache"] = true,
        ["use_parallel_residual"] = true, ["vocab_size"] = VocabSize,
    };

    /// <summary>openai-community/gpt2's config.json (no <c>torch_dtype</c> there; tied unembedding by default).</summary>
    JsonObject Gpt2ConfigJson()
    {
        var o = new JsonObject
        {
        ["activation_function"] = "gelu_new", ["architectures"] = new JsonArray(Architecture), ["attn_pdrop"] = 0.1,
        ["bos_token_id"] = 50256, ["embd_pdrop"] = 0.1, ["eos_token_id"] = 50256, ["initializer_range"] = InitStd,
        ["layer_norm_epsilon"] = RmsNormEps, ["model_type"] = "gpt2", ["n_ctx"] = MaxPositions, ["n_embd"] = DModel,
        ["n_head"] = NHeads, ["n_inner"] = DMlp == 4 * DModel ? null : DMlp, ["n_layer"] = NLayers, ["n_positions"] = MaxPositions,
        ["resid_pdrop"] = 0.1, ["tie_word_embeddings"] = Tied, ["vocab_size"] = VocabSize,
        };
        if (DMlp == 4 * DModel) o.Remove("n_inner"); // gpt2's file leaves it out: 4 · n_embd
        return o;
    }

    /// <summary>google/gemma-2-2b's config.json: soft-caps 50 and 30, <c>query_pre_attn_scalar</c> = head_dim,
    /// sliding window on the even layers (the default <c>layer_types</c>).</summary>
    JsonObject Gemma2ConfigJson() => new()
    {
        ["architectures"] = new JsonArray(Architecture), ["attention_bias"] = false, ["attention_dropout"] = 0.0,
        ["attn_logit_softcapping"] = 50.0, ["bos_token_id"] = 2, ["cache_implementation"] = "hybrid", ["eos_token_id"] = 1,
        ["final_logit_softcapping"] = 30.0, ["head_dim"] = DHead, ["hidden_act"] = "gelu_pytorch_tanh",
        ["hidden_activation"] = "gelu_pytorch_tanh", ["hidden_size"] = DModel, ["initializer_range"] = InitStd,
        ["intermediate_size"] = DMlp, ["max_position_embeddings"] = MaxPositions, ["model_type"] = "gemma2",
        ["num_attention_heads"] = NHeads, ["num_hidden_layers"] = NLayers, ["num_key_value_heads"] = NKvHeads, ["pad_token_id"] = 0,
        ["query_pre_attn_scalar"] = DHead, ["rms_norm_eps"] = RmsNormEps, ["rope_theta"] = RopeTheta, ["sliding_window"] = SlidingWindow,
        ["tie_word_embeddings"] = Tied, ["torch_dtype"] = TorchDType, ["transformers_version"] = "4.42.4", ["use_cache"] = true,
        ["vocab_size"] = VocabSize,
    };

    /// <summary>microsoft/Phi-3-mini-4k-instruct's config.json (without its <c>auto_map</c> to remote code).</summary>
    JsonObject Phi3ConfigJson() => new()
    {
        ["architectures"] = new JsonArray(Architecture), ["attention_bias"] = false, ["attention_dropout"] = 0.0, ["bos_token_id"] = 1,
        ["embd_pdrop"] = 0.0, ["eos_token_id"] = 32000, ["hidden_act"] = "silu", ["hidden_size"] = DModel, ["initializer_range"] = InitStd,
        ["intermediate_size"] = DMlp, ["max_position_embeddings"] = MaxPositions, ["model_type"] = "phi3",
        ["num_attention_heads"] = NHeads, ["num_hidden_layers"] = NLayers, ["num_key_value_heads"] = NKvHeads,
        ["original_max_position_embeddings"] = MaxPositions, ["pad_token_id"] = 32000, ["resid_pdrop"] = 0.0,
        ["rms_norm_eps"] = RmsNormEps, ["rope_scaling"] = null, ["rope_theta"] = RopeTheta, ["sliding_window"] = SlidingWindow,
        ["tie_word_embeddings"] = Tied, ["torch_dtype"] = TorchDType, ["transformers_version"] = "4.40.2", ["use_cache"] = true,
        ["vocab_size"] = VocabSize,
    };

    JsonObject LlamaStyleConfigJson()
    {
        bool mistral = Architecture == "MistralForCausalLM", qwen3 = Architecture == "Qwen3ForCausalLM";
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = IsQwen ? "qwen2" : mistral ? "mistral" : qwen3 ? "qwen3" : "llama",
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = mistral ? 1 : 151643,
            ["eos_token_id"] = mistral ? 2 : 151645,
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
        if (IsQwen) o["sliding_window"] = MaxPositions;
        if (qwen3) o["sliding_window"] = null;
        if (IsQwen || qwen3) o["use_sliding_window"] = false;
        if (mistral) o["sliding_window"] = SlidingWindow;
        o["tie_word_embeddings"] = Tied;
        o["torch_dtype"] = TorchDType;
        o["transformers_version"] = qwen3 ? "4.51.0" : mistral ? "4.34.0.dev0" : "4.37.0";
        o["use_cache"] = true;
        o["vocab_size"] = VocabSize;
        return o;
    }
}
