using System.Text.Json;
using SharpLens.IO;

namespace SharpLens.Loading;

/// <summary><c>rope_scaling</c> of type <c>llama3</c> (Llama 3.1+), as Hugging Face's <c>_compute_llama3_parameters</c> reads it.</summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);

/// <summary>
/// The architecture hyper-parameters of a checkpoint of a supported family, read from <c>config.json</c> by the family's
/// adapter (<see cref="Families.ModelFamilies"/>). Nothing is hard-coded: every field comes from the file or from the
/// documented Hugging Face default.
/// </summary>
public sealed record ModelConfig
{
    public static readonly string[] SupportedArchitectures = Families.ModelFamilies.Architectures;

    public required string Architecture { get; init; }
    public required int DModel { get; init; }
    public required int DMlp { get; init; }
    public required int NLayers { get; init; }
    public required int NHeads { get; init; }
    public required int NKvHeads { get; init; }
    public required int DHead { get; init; }
    /// <summary>The norms' epsilon: <c>rms_norm_eps</c>, or <c>layer_norm_epsilon</c> for a LayerNorm family.</summary>
    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public Llama3RopeScaling? RopeScaling { get; init; }
    public required int VocabSize { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    /// <summary>Whether q/k/v projections carry biases (Qwen2: always; Llama: <c>attention_bias</c>).</summary>
    public required bool QkvBias { get; init; }
    public required int MaxPositions { get; init; }
    /// <summary>The sliding window of each layer (a query at i sees the keys i − W &lt; j ≤ i), a null entry for plain causal
    /// attention; null when no layer has one. Each family's adapter fills it from its own fields: Qwen2/Qwen3's
    /// <c>use_sliding_window</c> from layer <c>max_window_layers</c> on (Hugging Face's default <c>layer_types</c>),
    /// Mistral's and Phi-3's <c>sliding_window</c> on every layer, Gemma 2's <c>layer_types</c> (by default the even
    /// layers). <see cref="WindowsFromLayer"/> builds the common form. Holds <see cref="NLayers"/> entries.</summary>
    public int?[]? LayerWindows { get; init; }

    /// <summary>Layer <paramref name="layer"/>'s sliding window, or null for full causal attention.</summary>
    public int? WindowAt(int layer) => LayerWindows?[layer];

    /// <summary>Per-layer windows where layers <paramref name="fromLayer"/> … <paramref name="nLayers"/> − 1 attend within
    /// <paramref name="window"/> and the layers below it to everything: null when <paramref name="window"/> is null or
    /// no layer is at or above <paramref name="fromLayer"/>.</summary>
    public static int?[]? WindowsFromLayer(int nLayers, int? window, int fromLayer = 0)
    {
        if (window is not { } w || fromLayer >= nLayers) return null;
        var windows = new int?[nLayers];
        for (int l = Math.Max(0, fromLayer); l < nLayers; l++) windows[l] = w;
        return windows;
    }

    /// <summary>The block's strategies: norm, positions, MLP, activation (Qwen2/Llama's unless the family says otherwise).</summary>
    public BlockDesign Design { get; init; } = BlockDesign.Llama;
    /// <summary>Whether the MLP projections carry biases (Llama's <c>mlp_bias</c>; GPT-2: always).</summary>
    public bool MlpBias { get; init; }
    /// <summary>GPT-2's <c>scale_attn_weights</c>: scores are divided by sqrt(d_head) (always, in the other families).</summary>
    public bool ScaleAttnWeights { get; init; } = true;
    /// <summary>GPT-2's <c>scale_attn_by_inverse_layer_idx</c>: layer l's scores are further divided by l + 1.</summary>
    public bool ScaleAttnByInverseLayerIdx { get; init; }
    /// <summary>GPT-2's <c>reorder_and_upcast_attn</c>: Hugging Face then scales q before the product and computes it in
    /// fp32 under half precision. Recorded only: the forward pass computes in fp32 always, where the order of one
    /// scalar multiplication changes nothing beyond rounding.</summary>
    public bool ReorderAndUpcastAttn { get; init; }

    /// <summary>The factor attention scores of layer <paramref name="layer"/> are multiplied by:
    /// 1/sqrt(d_head) (if <see cref="ScaleAttnWeights"/>) · 1/(layer + 1) (if <see cref="ScaleAttnByInverseLayerIdx"/>).</summary>
    public float AttnScale(int layer) =>
        (float)((ScaleAttnWeights ? 1 / Math.Sqrt(QueryPreAttnScalar ?? DHead) : 1) / (ScaleAttnByInverseLayerIdx ? layer + 1 : 1));

    /// <summary>Gemma 2's <c>query_pre_attn_scalar</c>: scores are scaled by its inverse square root instead of head_dim's.</summary>
    public double? QueryPreAttnScalar { get; init; }
    /// <summary>Gemma 2's <c>attn_logit_softcapping</c>: scores s → c·tanh(s/c) after the scale, before the mask.</summary>
    public double? AttnSoftcap { get; init; }
    /// <summary>Gemma 2's <c>final_logit_softcapping</c>: logits l → c·tanh(l/c) after the unembedding.</summary>
    public double? FinalSoftcap { get; init; }

    /// <summary>
    /// Refuses a prompt of <paramref name="tokens"/> tokens that this model cannot run exactly: longer than
    /// max_position_embeddings. (A sliding window shorter than the prompt is computed, not refused.)
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Input"/>) naming the limit.</exception>
    public void CheckPromptLength(int tokens, string what)
    {
        if (tokens > MaxPositions)
            throw SharpLensException.Input($"the {what} has {tokens} tokens, more than the model's context of {MaxPositions} (max_position_embeddings); shorten it");
    }

    /// <summary>The rotated prefix of each head: <c>int(d_head · rotary fraction)</c> (Hugging Face's <c>rotary_ndims</c>).</summary>
    public int RotaryDims => (int)(DHead * Design.RotaryFraction);

    /// <summary>Query heads that share one key/value head (grouped-query attention).</summary>
    public int GroupSize => NHeads / NKvHeads;

    public static ModelConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, "config.json");
        if (Directory.Exists(path))
            throw SharpLensException.Checkpoint($"{path}: is a directory, not a file (a Hugging Face model directory needs config.json to be a JSON file)");
        if (!File.Exists(path))
            throw SharpLensException.Checkpoint($"{path}: missing (a Hugging Face model directory needs config.json)");
        string text;
        IO.RegularFile.Require(path, path, ExitCode.Checkpoint); // a FIFO would block the read below
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(File.ReadAllBytes(path)).TrimStart('\uFEFF');
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw SharpLensException.Checkpoint($"{path}: not valid UTF-8 (a config.json is JSON text); re-download the model");
        }
        return Parse(text, path);
    }

    /// <summary>Parses the text of a <c>config.json</c>; <paramref name="path"/> is only used in messages.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for malformed JSON, a missing or invalid
    /// field, or an unsupported architecture; the message names the file and the field.</exception>
    public static ModelConfig Parse(string json, string path = "config.json")
    {
        JsonElement root;
        try { root = JsonDocument.Parse(json).RootElement; }
        catch (JsonException e) { throw SharpLensException.Checkpoint($"{path}: not valid JSON ({UntrustedText.Quote(e.Message)})"); }
        catch (ArgumentException) { throw SharpLensException.Checkpoint($"{path}: not valid JSON (the text is not valid Unicode)"); }
        if (root.ValueKind != JsonValueKind.Object) throw SharpLensException.Checkpoint($"{path}: not a JSON object");
        try { return FromJson(root, path); }
        catch (InvalidOperationException) // a string escape that is not valid Unicode (e.g. a lone "\ud800")
        {
            throw SharpLensException.Checkpoint($"{path}: holds a string that is not valid Unicode; re-download the model's config.json");
        }
    }

    static ModelConfig FromJson(JsonElement root, string path)
    {
        var r = new Reader(root, path);
        string arch = r.Architecture();
        return Families.ModelFamilies.Of(arch).ReadConfig(r, arch);
    }

    /// <summary>The fields of a Qwen2- or Llama-style <c>config.json</c> (<c>hidden_size</c>, <c>rms_norm_eps</c>, …), read
    /// by those families' adapters.</summary>
    internal static ModelConfig ReadLlamaStyle(Reader r, string arch)
    {
        string path = r.Path;
        int d = r.Int("hidden_size"), heads = r.Int("num_attention_heads");
        int kv = r.OptInt("num_key_value_heads") ?? heads;
        if (heads % kv != 0)
            throw SharpLensException.Checkpoint($"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}");
        // Qwen3Config defaults head_dim to 128 whatever hidden_size is; the others derive it.
        int dHead = r.OptInt("head_dim") ?? (arch == "Qwen3ForCausalLM" ? 128 : d % heads == 0 ? d / heads
            : throw SharpLensException.Checkpoint($"{path}: hidden_size {d} is not divisible by num_attention_heads {heads} and no head_dim is given"));
        if (dHead % 2 != 0) throw SharpLensException.Checkpoint($"{path}: head_dim {dHead} must be even for rotary embeddings");
        bool mistral = arch == "MistralForCausalLM";
        // Read whatever the architecture, so that a value of the wrong type is an error even where it changes nothing.
        bool attentionBias = r.OptBool("attention_bias") ?? false;
        var config = new ModelConfig
        {
            Architecture = arch,
            DModel = d,
            DMlp = r.Int("intermediate_size"),
            NLayers = r.Int("num_hidden_layers"),
            NHeads = heads,
            NKvHeads = kv,
            DHead = dHead,
            RmsNormEps = r.OptDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = r.OptDouble("rope_theta") ?? 10000.0,
            RopeScaling = r.RopeScaling(),
            VocabSize = r.Int("vocab_size"),
            TieWordEmbeddings = r.OptBool("tie_word_embeddings") ?? false, // Qwen2Config and LlamaConfig default to false
            // Qwen2: q/k/v biases always; Mistral: none; Llama and Qwen3: attention_bias (q, k, v and o).
            QkvBias = arch == "Qwen2ForCausalLM" || (!mistral && attentionBias),
            MaxPositions = r.OptInt("max_position_embeddings") ?? 4096,
            Design = BlockDesign.Llama with { Activation = BlockDesign.ActivationNamed(r.OptString("hidden_act") ?? "silu", "hidden_act", r.Path) },
            MlpBias = (r.OptBool("mlp_bias") ?? false) && arch == "LlamaForCausalLM",
        };
        // The same for the sliding-window fields, which the families that use them (Qwen2, Qwen3, Mistral, Phi-3,
        // Gemma 2) turn into LayerWindows; Llama ignores them, as transformers does.
        _ = r.QwenLayerWindows();
        return config;
    }

    /// <summary>
    /// Refuses values that are each valid on their own but make the forward pass compute infinities or NaN (say
    /// <c>rope_scaling.factor: 1e-320</c>, which divides a frequency into infinity): better one error at load than NaN
    /// logits after the run. Costs a few hundred floating-point operations; called by <see cref="Checkpoint.Open"/> once the
    /// tensors have confirmed head_dim (the check allocates head_dim/2 frequencies).
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) naming the values and <paramref name="path"/>.</exception>
    internal void EnsureFinite(string path)
    {
        // RmsNorm divides by sqrt(mean(x²) + eps) in fp32: for an all-zero row that is 1/sqrt(eps).
        if (!float.IsFinite(1f / (float)Math.Sqrt(RmsNormEps)))
            throw SharpLensException.Checkpoint(
                $"{path}: \"rms_norm_eps\" {RmsNormEps:R} is too small: 1/sqrt(eps) is infinite in fp32, so a zero row would normalise to infinity");
        double[] inverseFrequencies = Kernels.Rotary.InverseFrequencies(Math.Max(2, RotaryDims), RopeTheta, RopeScaling);
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double f = inverseFrequencies[i];
            if (!double.IsFinite(f) || !double.IsFinite(f * MaxPositions))
            {
                string values = RopeScaling is { } s
                    ? $"rope_theta {RopeTheta:R} with rope_scaling factor {s.Factor:R}, low_freq_factor {s.LowFreqFactor:R}, high_freq_factor {s.HighFreqFactor:R}"
                    : $"rope_theta {RopeTheta:R}";
                throw SharpLensException.Checkpoint(
                    $"{path}: {values} makes rotary frequency {i} of head_dim {DHead} {(double.IsNaN(f) ? "NaN" : "infinite")}" +
                    (double.IsFinite(f) ? $" at position {MaxPositions} (max_position_embeddings)" : "") + "; the model would compute NaN");
            }
        }
    }

    /// <summary>The config's fields as the JSON object results.json records.</summary>
    public System.Text.Json.Nodes.JsonObject Describe() => new()
    {
        ["architecture"] = Architecture, ["n_layers"] = NLayers, ["n_heads"] = NHeads, ["n_kv_heads"] = NKvHeads,
        ["d_model"] = DModel, ["d_head"] = DHead, ["d_mlp"] = DMlp, ["vocab_size"] = VocabSize,
        ["rms_norm_eps"] = RmsNormEps, ["rope_theta"] = RopeTheta, ["rope_scaling"] = RopeScaling == null ? null : System.Text.Json.Nodes.JsonValue.Create(RopeScaling.ToString()),
        ["tie_word_embeddings"] = TieWordEmbeddings, ["qkv_bias"] = QkvBias, ["max_position_embeddings"] = MaxPositions,
        ["sliding_window"] = LayerWindows?.FirstOrDefault(w => w != null),
        ["layer_windows"] = LayerWindows == null ? null : new System.Text.Json.Nodes.JsonArray(LayerWindows.Select(w => (System.Text.Json.Nodes.JsonNode?)w).ToArray()),
        ["norm"] = Design.Norm.ToString(), ["positions"] = Design.Positions.ToString(), ["mlp"] = Design.Mlp.ToString(),
        ["activation"] = Design.Activation.ToString(), ["residual"] = Design.Residual.ToString(), ["rotary_dims"] = RotaryDims,
        ["qk_norm"] = Design.QkNorm,
    };

    internal readonly struct Reader(JsonElement root, string path)
    {
        /// <summary>The config file's path, for messages.</summary>
        public string Path => path;

        /// <summary>A string field, or null when it is absent or null.</summary>
        /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for a field of another type.</exception>
        public string? OptString(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString()
                : throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be a string, got {Raw(v)}");
        }

        /// <summary>Whether the field is present at all (null included).</summary>
        public bool Has(string key) => root.TryGetProperty(key, out _);

        /// <summary>A nested object field (transformers v5's <c>rope_parameters</c>), or null when absent or null.</summary>
        public Reader? Object(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.Object ? new Reader(v, $"{path} {key}")
                : throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be an object, got {Raw(v)}");
        }

        /// <summary>A number in [0, 1] (a fraction such as <c>rotary_pct</c>), or null when absent or null.</summary>
        public double? OptFraction(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !(d > 0 && d <= 1))
                throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be a number in (0, 1], got {Raw(v)}");
            return d;
        }

        public string Architecture()
        {
            if (!root.TryGetProperty("architectures", out var a) || a.ValueKind != JsonValueKind.Array || a.GetArrayLength() == 0
                || a[0].ValueKind != JsonValueKind.String)
                throw SharpLensException.Checkpoint($"{path}: no \"architectures\" list; supported: {string.Join(", ", SupportedArchitectures)}");
            string name = a[0].GetString()!;
            if (!SupportedArchitectures.Contains(name))
                throw SharpLensException.Checkpoint(
                    $"{path}: architecture {UntrustedText.Quote(name, 80)} is not supported; supported: {string.Join(", ", SupportedArchitectures)}");
            return name;
        }

        public int Int(string key) => OptInt(key) ?? throw SharpLensException.Checkpoint($"{path}: missing \"{key}\"");

        public int? OptInt(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i <= 0)
                throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be a positive integer, got {Raw(v)}");
            return i;
        }

        public double? OptDouble(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !(d > 0) || !double.IsFinite(d))
                throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be a positive number, got {Raw(v)}");
            return d;
        }

        /// <summary>A true/false field; anything else present (<c>"true"</c>, <c>1</c>) is an error rather than the default,
        /// which would silently load another model than the file describes.</summary>
        public bool? OptBool(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be true or false, got {Raw(v)}");
            return v.GetBoolean();
        }

        /// <summary><c>sliding_window</c>: absent → 4096 (the default of MistralConfig, Qwen2Config, Qwen3Config,
        /// Gemma2Config), null → none.</summary>
        public int? SlidingWindow() => Has("sliding_window") ? OptInt("sliding_window") : 4096;

        /// <summary>Qwen2/Qwen3's windows: with <c>use_sliding_window</c>, <c>sliding_window</c> on the layers from
        /// <c>max_window_layers</c> (default 28) on, as Hugging Face's default <c>layer_types</c> says; else none.</summary>
        public int?[]? QwenLayerWindows()
        {
            bool use = OptBool("use_sliding_window") ?? false;
            int fromLayer = OptInt("max_window_layers") ?? 28;
            int? window = SlidingWindow();
            return use ? WindowsFromLayer(Int("num_hidden_layers"), window, fromLayer) : null;
        }

        /// <summary>A list of strings, or null when absent or null.</summary>
        public string[]? OptStrings(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                throw SharpLensException.Checkpoint($"{path}: \"{key}\" must be a list of strings, got {Raw(v)}");
            return v.EnumerateArray().Select(e => e.GetString()!).ToArray();
        }

        /// <summary>A JSON value from the file as messages quote it.</summary>
        public static string Raw(JsonElement v) => UntrustedText.Quote(v.GetRawText(), 80);

        public Llama3RopeScaling? RopeScaling()
        {
            if (!root.TryGetProperty("rope_scaling", out var s) || s.ValueKind == JsonValueKind.Null) return null;
            if (s.ValueKind != JsonValueKind.Object) throw SharpLensException.Checkpoint($"{path}: rope_scaling must be an object or null");
            string? type = s.TryGetProperty("rope_type", out var t) || s.TryGetProperty("type", out t)
                ? t.ValueKind == JsonValueKind.String ? UntrustedText.Quote(t.GetString(), 40) : Raw(t)
                : null;
            if (type == "default") return null;
            if (type != "llama3")
                throw SharpLensException.Checkpoint($"{path}: rope_scaling type \"{type}\" is not supported (supported: none, llama3)");
            var sub = new Reader(s, path + " rope_scaling");
            return new Llama3RopeScaling(sub.OptDouble("factor") ?? throw Missing("factor"), sub.OptDouble("low_freq_factor") ?? throw Missing("low_freq_factor"),
                sub.OptDouble("high_freq_factor") ?? throw Missing("high_freq_factor"), sub.Int("original_max_position_embeddings"));
        }

        SharpLensException Missing(string k) => SharpLensException.Checkpoint($"{path}: rope_scaling of type llama3 needs \"{k}\"");
    }
}
