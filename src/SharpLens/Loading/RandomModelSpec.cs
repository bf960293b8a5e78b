using System.Text.Json.Nodes;

namespace SharpLens.Loading;

/// <summary>
/// The architecture of a random checkpoint: every field <c>config.json</c> needs, with the exact values of a real
/// model in the presets (<see cref="RandomCheckpoint.Presets"/>). <see cref="WithLayers"/> and <see cref="Small"/>
/// derive cheaper variants for tests that keep the architecture's features (GQA ratio, biases, tying, rope scaling,
/// the full Qwen vocabulary so the real tokenizer's ids stay valid).
/// </summary>
public sealed partial record RandomModelSpec
{
    /// <summary>Preset name (with "-small" appended by <see cref="Small"/>).</summary>
    public required string Name { get; init; }
    /// <summary>Qwen2ForCausalLM, LlamaForCausalLM, MistralForCausalLM, Qwen3ForCausalLM, GPTNeoXForCausalLM,
    /// GPT2LMHeadModel, Gemma2ForCausalLM or Phi3ForCausalLM.</summary>
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
    /// <summary>The embedded tokenizer written beside the weights (<see cref="RandomTokenizers"/>): one whose ids all fit
    /// <see cref="VocabSize"/>.</summary>
    public string Tokenizer { get; init; } = RandomTokenizers.Qwen15;
    /// <summary><c>sliding_window</c> of Mistral, Gemma 2 (its local layers) and Phi-3 (null: none).</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>GPT-NeoX's <c>rotary_pct</c>.</summary>
    public double RotaryFraction { get; init; } = 1;
    /// <summary>Number of safetensors shards (1 writes a single model.safetensors without an index).</summary>
    public int Shards { get; init; } = 2;
    /// <summary>Standard deviation of the (approximately normal) matrix and bias entries; norms are 1.</summary>
    public double InitStd { get; init; } = 0.02;
    /// <summary>The stored dtype of every tensor (bf16 for the presets; f16 or f32 for a twin of a checkpoint stored so,
    /// <see cref="Qwen2Twin"/>). The same seed gives the same values, rounded to it.</summary>
    public DType DType { get; init; } = DType.BF16;
    /// <summary>config.json's <c>torch_dtype</c> for <see cref="DType"/>.</summary>
    public string TorchDType => DType switch { DType.F32 => "float32", DType.F16 => "float16", _ => "bfloat16" };

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

    /// <summary>
    /// A Qwen2 checkpoint with the shapes of <paramref name="c"/> — d_model, layers, heads, kv heads, head_dim, d_mlp,
    /// vocabulary, tying — stored in <paramref name="dtype"/>: the same-shape baseline of <c>bench --against-qwen2</c>.
    /// What Qwen2 cannot express (learned positions, parallel residual, partial rotary, LayerNorm, a plain GELU MLP,
    /// soft-caps, post-norms, q/k norms, sliding windows) the twin leaves out: it is the other family's own cost. The
    /// twin has Qwen2's q/k/v biases and a gated MLP (three d × d_mlp matrices where a plain MLP has two); FLOP counts
    /// (<see cref="Benchmarks.ModelBenchmark.ForwardFlops"/>) take each model's own matrices, so GFLOP/s compare.
    /// </summary>
    public static RandomModelSpec Qwen2Twin(ModelConfig c, DType dtype) => new()
    {
        Name = "qwen2-twin", Architecture = "Qwen2ForCausalLM", DModel = c.DModel, DMlp = c.DMlp, NLayers = c.NLayers,
        NHeads = c.NHeads, NKvHeads = c.NKvHeads, HeadDim = c.NHeads * c.DHead == c.DModel ? null : c.DHead,
        VocabSize = c.VocabSize, Tied = c.TieWordEmbeddings, RopeTheta = c.RopeTheta > 0 ? c.RopeTheta : 10000,
        RmsNormEps = c.RmsNormEps, MaxPositions = Math.Max(c.MaxPositions, 2048), Shards = 1, DType = dtype,
    };

    /// <summary>The <see cref="ModelConfig"/> SharpLens reads from <see cref="ConfigJson"/>.</summary>
    public ModelConfig ToConfig() => ModelConfig.Parse(ConfigJson().ToJsonString());
}
