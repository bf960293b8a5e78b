namespace SharpLens.Model;

/// <summary>
/// TransformerLens hook names (dotted paths) for one layer, built once per model so the forward pass
/// never formats strings. Shapes are per prompt; see EXPERIMENTS.md.
/// </summary>
public sealed class LayerHookNames(int layer)
{
    public int Layer { get; } = layer;
    public readonly string ResidPre = $"blocks.{layer}.hook_resid_pre";      // [pos, d_model]
    public readonly string Ln1Scale = $"blocks.{layer}.ln1.hook_scale";      // [pos, 1]
    public readonly string Q = $"blocks.{layer}.attn.hook_q";                // [pos, n_heads, d_head]
    public readonly string K = $"blocks.{layer}.attn.hook_k";                // [pos, n_kv_heads, d_head]
    public readonly string V = $"blocks.{layer}.attn.hook_v";                // [pos, n_kv_heads, d_head]
    public readonly string RotQ = $"blocks.{layer}.attn.hook_rot_q";         // [pos, n_heads, d_head]
    public readonly string RotK = $"blocks.{layer}.attn.hook_rot_k";         // [pos, n_kv_heads, d_head]
    public readonly string Scores = $"blocks.{layer}.attn.hook_attn_scores"; // [n_heads, q_pos, k_pos]
    public readonly string Pattern = $"blocks.{layer}.attn.hook_pattern";    // [n_heads, q_pos, k_pos]
    public readonly string Z = $"blocks.{layer}.attn.hook_z";                // [pos, n_heads, d_head]
    public readonly string Result = $"blocks.{layer}.attn.hook_result";      // [pos, n_heads, d_model]
    public readonly string AttnOut = $"blocks.{layer}.hook_attn_out";        // [pos, d_model]
    public readonly string ResidMid = $"blocks.{layer}.hook_resid_mid";      // [pos, d_model]
    public readonly string Ln2Scale = $"blocks.{layer}.ln2.hook_scale";      // [pos, 1]
    public readonly string MlpPre = $"blocks.{layer}.mlp.hook_pre";          // [pos, d_mlp] (gate)
    public readonly string MlpPreLinear = $"blocks.{layer}.mlp.hook_pre_linear"; // [pos, d_mlp] (up)
    public readonly string MlpPost = $"blocks.{layer}.mlp.hook_post";        // [pos, d_mlp]
    public readonly string MlpOut = $"blocks.{layer}.hook_mlp_out";          // [pos, d_model]
    public readonly string ResidPost = $"blocks.{layer}.hook_resid_post";    // [pos, d_model]

    public IEnumerable<string> All =>
        [ResidPre, Ln1Scale, Q, K, V, RotQ, RotK, Scores, Pattern, Z, Result, AttnOut, ResidMid, Ln2Scale,
         MlpPre, MlpPreLinear, MlpPost, MlpOut, ResidPost];
}

/// <summary>Every hook point of a model.</summary>
public sealed class HookNames
{
    public const string Embed = "hook_embed";                  // [pos, d_model]
    public const string LnFinalScale = "ln_final.hook_scale";  // [pos, 1]

    public LayerHookNames[] Layers { get; }

    public HookNames(int nLayers) => Layers = Enumerable.Range(0, nLayers).Select(l => new LayerHookNames(l)).ToArray();

    public IEnumerable<string> All => [Embed, .. Layers.SelectMany(l => l.All), LnFinalScale];

    public bool IsValid(string name) => All.Contains(name);
}
