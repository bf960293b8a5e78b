using SharpLens.Loading;

namespace SharpLens.Model;

/// <summary>
/// TransformerLens hook names (dotted paths) for one layer, built once per model so the forward pass
/// never formats strings. Shapes are per prompt; see EXPERIMENTS.md. Which of them a model has depends on its
/// <see cref="BlockDesign"/>: <c>hook_rot_q</c>/<c>hook_rot_k</c> only with rotary positions, <c>hook_pre_linear</c>
/// only with a gated MLP, <c>attn.q_norm.*</c>/<c>attn.k_norm.*</c> only with q/k norms.
/// </summary>
public sealed class LayerHookNames(int layer, BlockDesign? design = null)
{
    readonly BlockDesign _design = design ?? BlockDesign.Llama;

    public int Layer { get; } = layer;
    public readonly string ResidPre = $"blocks.{layer}.hook_resid_pre";      // [pos, d_model]
    public readonly string Ln1Scale = $"blocks.{layer}.ln1.hook_scale";      // [pos, 1]
    public readonly string Ln1Normalized = $"blocks.{layer}.ln1.hook_normalized"; // [pos, d_model]: the norm's output
    public readonly string Q = $"blocks.{layer}.attn.hook_q";                // [pos, n_heads, d_head]
    public readonly string K = $"blocks.{layer}.attn.hook_k";                // [pos, n_kv_heads, d_head]
    public readonly string V = $"blocks.{layer}.attn.hook_v";                // [pos, n_kv_heads, d_head]
    public readonly string QNormScale = $"blocks.{layer}.attn.q_norm.hook_scale";           // [pos, n_heads, 1] (q/k norm only)
    public readonly string QNormNormalized = $"blocks.{layer}.attn.q_norm.hook_normalized"; // [pos, n_heads, d_head]
    public readonly string KNormScale = $"blocks.{layer}.attn.k_norm.hook_scale";           // [pos, n_kv_heads, 1]
    public readonly string KNormNormalized = $"blocks.{layer}.attn.k_norm.hook_normalized"; // [pos, n_kv_heads, d_head]
    public readonly string RotQ = $"blocks.{layer}.attn.hook_rot_q";         // [pos, n_heads, d_head]
    public readonly string RotK = $"blocks.{layer}.attn.hook_rot_k";         // [pos, n_kv_heads, d_head]
    public readonly string Scores = $"blocks.{layer}.attn.hook_attn_scores"; // [n_heads, q_pos, k_pos]
    public readonly string Pattern = $"blocks.{layer}.attn.hook_pattern";    // [n_heads, q_pos, k_pos]
    public readonly string Z = $"blocks.{layer}.attn.hook_z";                // [pos, n_heads, d_head]
    public readonly string Result = $"blocks.{layer}.attn.hook_result";      // [pos, n_heads, d_model]
    public readonly string AttnOut = $"blocks.{layer}.hook_attn_out";        // [pos, d_model]
    public readonly string ResidMid = $"blocks.{layer}.hook_resid_mid";      // [pos, d_model]
    public readonly string Ln2Scale = $"blocks.{layer}.ln2.hook_scale";      // [pos, 1]
    public readonly string Ln2Normalized = $"blocks.{layer}.ln2.hook_normalized"; // [pos, d_model]
    public readonly string MlpPre = $"blocks.{layer}.mlp.hook_pre";          // [pos, d_mlp] (gate, or the input projection)
    public readonly string MlpPreLinear = $"blocks.{layer}.mlp.hook_pre_linear"; // [pos, d_mlp] (up; gated MLPs only)
    public readonly string MlpPost = $"blocks.{layer}.mlp.hook_post";        // [pos, d_mlp]
    public readonly string MlpOut = $"blocks.{layer}.hook_mlp_out";          // [pos, d_model]
    public readonly string ResidPost = $"blocks.{layer}.hook_resid_post";    // [pos, d_model]
    public readonly string Ln1PostScale = $"blocks.{layer}.ln1_post.hook_scale";  // [pos, 1] (post-norm designs: Gemma 2)
    public readonly string Ln1PostNormalized = $"blocks.{layer}.ln1_post.hook_normalized"; // [pos, d_model]
    public readonly string Ln2PostScale = $"blocks.{layer}.ln2_post.hook_scale";  // [pos, 1]
    public readonly string Ln2PostNormalized = $"blocks.{layer}.ln2_post.hook_normalized"; // [pos, d_model]

    /// <summary>The keys attention reads (what a KV prefix holds): <see cref="RotK"/> with rotary positions, else <see cref="K"/>.</summary>
    public string AttnKeys => _design.Positions == PositionKind.Rotary ? RotK : K;

    public IEnumerable<string> All
    {
        get
        {
            bool rotary = _design.Positions == PositionKind.Rotary, gated = _design.Mlp == MlpKind.Gated, post = _design.PostNorms;
            return
            [
                ResidPre, Ln1Scale, Ln1Normalized, Q, K, V,
                .. _design.QkNorm ? (string[])[QNormScale, QNormNormalized, KNormScale, KNormNormalized] : [], .. rotary ? (string[])[RotQ, RotK] : [], Scores, Pattern, Z, Result,
                .. post ? (string[])[Ln1PostScale, Ln1PostNormalized] : [],
                AttnOut, .. _design.Residual == ResidualKind.Parallel ? [] : (string[])[ResidMid], Ln2Scale, Ln2Normalized, MlpPre, .. gated ? (string[])[MlpPreLinear] : [], MlpPost,
                .. post ? (string[])[Ln2PostScale, Ln2PostNormalized] : [], MlpOut, ResidPost,
            ];
        }
    }
}

/// <summary>Every hook point of a model.</summary>
public sealed class HookNames
{
    public const string Embed = "hook_embed";                  // [pos, d_model]
    public const string PosEmbed = "hook_pos_embed";           // [pos, d_model] (learned positions only)
    public const string LnFinalScale = "ln_final.hook_scale";  // [pos, 1]
    public const string LnFinalNormalized = "ln_final.hook_normalized";  // [pos, d_model]

    readonly BlockDesign _design;

    public LayerHookNames[] Layers { get; }

    public HookNames(int nLayers, BlockDesign? design = null)
    {
        _design = design ?? BlockDesign.Llama;
        Layers = Enumerable.Range(0, nLayers).Select(l => new LayerHookNames(l, _design)).ToArray();
    }

    public IEnumerable<string> All =>
        [Embed, .. _design.Positions == PositionKind.LearnedAbsolute ? (string[])[PosEmbed] : [],
         .. Layers.SelectMany(l => l.All), LnFinalScale, LnFinalNormalized];

    public bool IsValid(string name) => All.Contains(name);
}
