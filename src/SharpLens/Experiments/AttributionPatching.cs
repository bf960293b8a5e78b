using System.Text.Json.Nodes;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>AtP* (Kramár et al. 2024) on top of plain attribution patching.</summary>
public sealed record AtpOptions
{
    /// <summary>The QK fix: a query or key patch recomputes its head's attention softmax (the pattern with the patched q
    /// or k, the scores of every other head unchanged) and only what follows the pattern is linearised:
    /// <c>Σ grad_pattern · (pattern_patched − pattern_corrupted)</c>, instead of linearising the softmax as well.</summary>
    public bool QkFix { get; init; }
    /// <summary>GradDrop against cancellation: for every layer ℓ the estimate is recomputed with the gradient through
    /// layer ℓ's residual contribution (its attention and MLP outputs) set to 0, and the key becomes
    /// <c>Σ_ℓ |estimate_ℓ| / (L − 1)</c> — a magnitude (never negative), for ranking; the sign is lost.</summary>
    public bool GradDrop { get; init; }

    /// <summary>Plain AtP (Nanda 2023).</summary>
    public static AtpOptions Plain { get; } = new();
    /// <summary>Both AtP* fixes.</summary>
    public static AtpOptions Star { get; } = new() { QkFix = true, GradDrop = true };
}

/// <summary>
/// Attribution patching estimates (AtP, Nanda 2023; EXPERIMENTS.md "Gradients and attribution patching"): every patch of
/// a sweep linearised around the corrupted run, from one clean forward and one corrupted forward + backward:
/// <c>atp(a) = Σ grad_a(logit_diff)|corrupted · (a_clean − a_corrupted) / (clean_logit_diff − corrupted_logit_diff)</c>,
/// summed over the entries the exact patch would change. Each estimates the exact key of the same name without <c>atp_</c>.
/// [layer][head] for q, z and pattern; [layer][kv_head] for k and v.
/// </summary>
public sealed record AtpResult(
    double CleanLogitDiff, double CorruptedLogitDiff,
    double[][] ResidPreRecovery,     // atp_resid_pre_recovery [layer][pos]
    double[] AttnOutAllRecovery,     // atp_attn_out_all_recovery [layer]
    double[] MlpOutAllRecovery,      // atp_mlp_out_all_recovery [layer]
    double[][] HeadZAllRecovery,     // atp_head_z_all_recovery [layer][head]
    double[][] HeadQAllRecovery,     // atp_head_q_all_recovery [layer][head]
    double[][] HeadKAllRecovery,     // atp_head_k_all_recovery [layer][kv_head]
    double[][] HeadVAllRecovery,     // atp_head_v_all_recovery [layer][kv_head]
    double[][] HeadPatternAllRecovery) // atp_head_pattern_all_recovery [layer][head]
{
    public AtpOptions Options { get; init; } = AtpOptions.Plain;

    /// <summary>Each atp_* key beside the exact key it estimates (EXPERIMENTS.md), in the study's order.</summary>
    public static IReadOnlyList<(string Atp, string Exact)> Keys { get; } =
    [
        ("atp_resid_pre_recovery", "resid_pre_patch_recovery"),
        ("atp_attn_out_all_recovery", "attn_out_patch_all_recovery"),
        ("atp_mlp_out_all_recovery", "mlp_out_patch_all_recovery"),
        ("atp_head_z_all_recovery", "head_z_patch_all_recovery"),
        ("atp_head_q_all_recovery", "head_q_patch_all_recovery"),
        ("atp_head_k_all_recovery", "head_k_patch_all_recovery"),
        ("atp_head_v_all_recovery", "head_v_patch_all_recovery"),
        ("atp_head_pattern_all_recovery", "head_pattern_patch_all_recovery"),
    ];

    /// <summary>The estimates of one key of <see cref="Keys"/> as a grid (a [layer] key is one row per layer of one value).</summary>
    public double[][] Grid(string atpKey) => atpKey switch
    {
        "atp_resid_pre_recovery" => ResidPreRecovery,
        "atp_attn_out_all_recovery" => AttnOutAllRecovery.Select(x => new[] { x }).ToArray(),
        "atp_mlp_out_all_recovery" => MlpOutAllRecovery.Select(x => new[] { x }).ToArray(),
        "atp_head_z_all_recovery" => HeadZAllRecovery,
        "atp_head_q_all_recovery" => HeadQAllRecovery,
        "atp_head_k_all_recovery" => HeadKAllRecovery,
        "atp_head_v_all_recovery" => HeadVAllRecovery,
        "atp_head_pattern_all_recovery" => HeadPatternAllRecovery,
        _ => throw new ArgumentException($"{atpKey} is not an atp_* key", nameof(atpKey)),
    };

    /// <summary>Writes the atp_* keys and <c>atp_options</c> ({qk_fix, grad_drop}).</summary>
    public void WriteTo(JsonObject o)
    {
        o["atp_resid_pre_recovery"] = Json.Grid(ResidPreRecovery);
        o["atp_attn_out_all_recovery"] = Json.Row(AttnOutAllRecovery);
        o["atp_mlp_out_all_recovery"] = Json.Row(MlpOutAllRecovery);
        o["atp_head_z_all_recovery"] = Json.Grid(HeadZAllRecovery);
        o["atp_head_q_all_recovery"] = Json.Grid(HeadQAllRecovery);
        o["atp_head_k_all_recovery"] = Json.Grid(HeadKAllRecovery);
        o["atp_head_v_all_recovery"] = Json.Grid(HeadVAllRecovery);
        o["atp_head_pattern_all_recovery"] = Json.Grid(HeadPatternAllRecovery);
        o["atp_options"] = new JsonObject { ["qk_fix"] = Options.QkFix, ["grad_drop"] = Options.GradDrop };
    }
}

public static partial class AttributionPatching
{
    /// <summary>
    /// AtP of every node of the study's sweeps: the residual stream by position, attention and MLP outputs by layer, and
    /// each head's z, q, pattern (by head) and k, v (by key/value head), all at every position; with
    /// <paramref name="options"/>, AtP*. Costs one batched forward of both prompts and one backward (GradDrop: plus the
    /// blocks below each layer once more, about L/2 backwards).
    /// </summary>
    /// <param name="clean">clean prompt tokens; <paramref name="corrupted"/> has the same length</param>
    /// <param name="answer">the clean answer token; <paramref name="wrong"/> the corrupted one (logit_diff = answer − wrong)</param>
    public static AtpResult Run(HookedTransformer model, int[] clean, int[] corrupted, int answer, int wrong, AtpOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= AtpOptions.Plain;
        if (clean.Length != corrupted.Length) throw SharpLensException.Input($"clean and corrupted prompts have {clean.Length} and {corrupted.Length} tokens; attribution patching needs equal lengths");
        if (clean.Length == 0) throw SharpLensException.Input("attribution patching needs a non-empty prompt");
        return Estimates(AtpRun.Of(model, clean, corrupted, answer, wrong, options, ct), options);
    }

    /// <summary>The hooks a study's clean and corrupted runs must keep for <see cref="Run(StudyRuns, AtpOptions?, CancellationToken)"/>
    /// (<c>new StudyRuns(model, tokens, AttributionPatching.Needs(model))</c>).</summary>
    public static Func<string, bool> Needs(HookedTransformer model) => AtpRun.Needed(model).Contains;

    /// <summary>AtP from a study's base runs (made with <see cref="Needs"/>): one backward, no forward.</summary>
    public static AtpResult Run(StudyRuns runs, AtpOptions? options = null, CancellationToken ct = default)
    {
        options ??= AtpOptions.Plain;
        var t = runs.Tokens;
        return Estimates(new AtpRun(runs.Model, runs.Clean, runs.Corrupted, runs.CleanLogitDiff, runs.CorruptedLogitDiff, t.Corrupted, t.Answer, t.Wrong, options, ct), options);
    }

    static AtpResult Estimates(AtpRun run, AtpOptions options)
    {
        var plain = run.Estimate(run.Grads, dropped: -1);
        return (options.GradDrop ? run.GradDrop(plain) : plain) with { Options = options };
    }
}
