namespace SharpLens.Loading;

/// <summary>How a block normalises its inputs (and the final residual).</summary>
public enum NormKind
{
    /// <summary><c>x / sqrt(mean(x²) + eps) ⊙ w</c> (Qwen2, Llama).</summary>
    RmsNorm,
    /// <summary><c>(x − mean) / sqrt(var + eps) ⊙ w + b</c> (GPT-2).</summary>
    LayerNorm,
}

/// <summary>How positions enter the model.</summary>
public enum PositionKind
{
    /// <summary>Rotary embedding of q and k inside attention (<c>hook_rot_q</c>, <c>hook_rot_k</c>).</summary>
    Rotary,
    /// <summary>A learned embedding of each absolute position added to the token embedding (<c>hook_pos_embed</c>).</summary>
    LearnedAbsolute,
}

/// <summary>How a block adds attention and MLP to the residual stream.</summary>
public enum ResidualKind
{
    /// <summary><c>x ← x + attn(ln1(x)); x ← x + mlp(ln2(x))</c>, with <c>hook_resid_mid</c> between.</summary>
    Sequential,
    /// <summary><c>x ← x + attn(ln1(x)) + mlp(ln2(x))</c>: both norms read the block input (GPT-NeoX's
    /// <c>use_parallel_residual</c>); no <c>hook_resid_mid</c>, as TransformerLens' <c>parallel_attn_mlp</c>.</summary>
    Parallel,
}

/// <summary>The MLP's shape.</summary>
public enum MlpKind
{
    /// <summary><c>down(act(gate(x)) ⊙ up(x))</c>: <c>hook_pre</c> is the gate, <c>hook_pre_linear</c> the up projection.</summary>
    Gated,
    /// <summary><c>out(act(in(x) + b_in)) + b_out</c>: <c>hook_pre</c> is the input projection.</summary>
    Plain,
}

/// <summary>The MLP's activation function.</summary>
public enum ActivationKind
{
    /// <summary><c>x·sigmoid(x)</c> (Hugging Face <c>silu</c>, <c>swish</c>).</summary>
    Silu,
    /// <summary><c>0.5·x·(1 + erf(x/√2))</c> (<c>gelu</c>).</summary>
    GeluExact,
    /// <summary><c>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))</c> (<c>gelu_new</c>, <c>gelu_pytorch_tanh</c>, <c>gelu_fast</c>).</summary>
    GeluTanh,
}

/// <summary>
/// The choices one decoder block is made of. The forward pass has one block code path; a family adapter
/// (<c>Loading/Families</c>) fills this in from <c>config.json</c>. Biases are not listed here: a bias is present when its
/// family adapter loaded one (an empty vector otherwise), and every projection adds it when present.
/// </summary>
public sealed record BlockDesign(NormKind Norm, PositionKind Positions, MlpKind Mlp, ActivationKind Activation)
{
    /// <summary>Per-head RMSNorm of queries and keys after their projections (<c>hook_q</c>/<c>hook_k</c>) and before rotary,
    /// with hooks <c>attn.q_norm.*</c>/<c>attn.k_norm.*</c> (Qwen3, TransformerLens' <c>use_qk_norm</c>).</summary>
    public bool QkNorm { get; init; }

    /// <summary>How attention and MLP join the residual stream.</summary>
    public ResidualKind Residual { get; init; } = ResidualKind.Sequential;

    /// <summary>The fraction of each head's dimensions rotary embedding turns (GPT-NeoX's <c>rotary_pct</c>, Phi's
    /// <c>partial_rotary_factor</c>): the first <c>int(d_head · fraction)</c>; the rest pass through.</summary>
    public double RotaryFraction { get; init; } = 1;
    /// <summary>Gemma 2's sandwich norms: <c>ln1_post</c> normalises the attention output and <c>ln2_post</c> the MLP
    /// output before each is added to the residual (hooks <c>ln1_post.hook_scale</c>/<c>hook_normalized</c>, …).</summary>
    public bool PostNorms { get; init; }

    /// <summary>Added to every stored norm weight at load (Gemma: RMSNorm multiplies by <c>1 + w</c>), so the forward
    /// pass, the weight views and DLA all see the effective weight.</summary>
    public float NormWeightOffset { get; init; }

    /// <summary>Whether token embeddings are multiplied by sqrt(d_model) before <c>hook_embed</c> (Gemma).</summary>
    public bool ScaleEmbedding { get; init; }

    /// <summary>Qwen2 and Llama: RMSNorm, rotary positions, a SiLU-gated MLP.</summary>
    public static readonly BlockDesign Llama = new(NormKind.RmsNorm, PositionKind.Rotary, MlpKind.Gated, ActivationKind.Silu);

    /// <summary>Hugging Face activation names (<c>hidden_act</c>, GPT-2's <c>activation_function</c>) → the kernel.</summary>
    public static readonly IReadOnlyDictionary<string, ActivationKind> Activations = new Dictionary<string, ActivationKind>
    {
        ["silu"] = ActivationKind.Silu, ["swish"] = ActivationKind.Silu,
        ["gelu"] = ActivationKind.GeluExact,
        ["gelu_new"] = ActivationKind.GeluTanh, ["gelu_pytorch_tanh"] = ActivationKind.GeluTanh, ["gelu_fast"] = ActivationKind.GeluTanh,
    };

    /// <summary>The activation a Hugging Face name stands for.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) for a name with no kernel here.</exception>
    public static ActivationKind ActivationNamed(string name, string field, string path) =>
        Activations.TryGetValue(name, out var a) ? a
            : throw SharpLensException.Checkpoint($"{path}: {field} {IO.UntrustedText.Quote(name, 40)} is not supported (supported: {string.Join(", ", Activations.Keys)})");
}
