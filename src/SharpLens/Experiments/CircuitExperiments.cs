using System.Text.Json.Nodes;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>Recovery of patching each input of each head (EXPERIMENTS.md, "Circuit questions"): <see cref="Q"/> and
/// <see cref="Pattern"/> are [layer][head]; <see cref="K"/> and <see cref="V"/> are [layer][kv_head] (with grouped-query
/// attention one key/value head feeds several query heads).</summary>
public sealed record HeadInputPatchingResult(double[][] Q, double[][] K, double[][] V, double[][] Pattern)
{
    /// <summary>Writes the results.json keys <c>head_{q,k,v,pattern}_patch_all_recovery</c>.</summary>
    public void WriteTo(JsonObject o)
    {
        o["head_q_patch_all_recovery"] = Json.Grid(Q);
        o["head_k_patch_all_recovery"] = Json.Grid(K);
        o["head_v_patch_all_recovery"] = Json.Grid(V);
        o["head_pattern_patch_all_recovery"] = Json.Grid(Pattern);
    }
}

/// <summary>Noising (necessity): the clean run with one component taken from the corrupted run, as a fraction of the
/// clean logit difference (1 = nothing lost). <see cref="AttnOut"/>, <see cref="MlpOut"/> are [layer];
/// <see cref="HeadZ"/> is [layer][head].</summary>
public sealed record NoisingResult(double[] AttnOut, double[] MlpOut, double[][] HeadZ)
{
    /// <summary>
    /// The 2×2 reading of one component: <i>sufficient</i> when denoising it (corrupted run, clean activation) recovers
    /// ≥ 0.5, <i>necessary</i> when noising it (clean run, corrupted activation) keeps ≤ 0.5 of the clean logit
    /// difference. "necessary and sufficient", "necessary, not sufficient", "sufficient, not necessary" or "neither";
    /// without a denoising value, "necessary" or "not necessary".
    /// </summary>
    public static string Verdict(double? denoiseRecovery, double noiseFraction)
    {
        bool necessary = noiseFraction <= 0.5;
        if (denoiseRecovery is not double d) return necessary ? "necessary" : "not necessary";
        return (necessary, d >= 0.5) switch
        {
            (true, true) => "necessary and sufficient", (true, false) => "necessary, not sufficient",
            (false, true) => "sufficient, not necessary", _ => "neither",
        };
    }

    /// <summary>Writes the results.json keys <c>noise_{attn_out,mlp_out,head_z}_all_fraction</c>.</summary>
    public void WriteTo(JsonObject o)
    {
        o["noise_attn_out_all_fraction"] = Json.Row(AttnOut);
        o["noise_mlp_out_all_fraction"] = Json.Row(MlpOut);
        o["noise_head_z_all_fraction"] = Json.Grid(HeadZ);
    }
}

/// <summary>The logit lens: the logit difference read from the residual stream at the final position,
/// [n_layers + 1] per run (each layer's <c>hook_resid_pre</c>, then the final <c>hook_resid_post</c>). With a final
/// logit soft-cap (Gemma 2) the main rows go through the cap, so the last entry is the run's logit difference, and
/// <paramref name="CleanPrecap"/>/<paramref name="CorruptedPrecap"/> hold the same without it; otherwise those are null.</summary>
public sealed record LogitLensResult(double[] Clean, double[] Corrupted, double[]? CleanPrecap = null, double[]? CorruptedPrecap = null)
{
    /// <summary>Writes the results.json keys <c>logit_lens_logit_diff_{clean,corrupted}</c> (and <c>…_precap</c> with a
    /// final soft-cap).</summary>
    public void WriteTo(JsonObject o)
    {
        o["logit_lens_logit_diff_clean"] = Json.Row(Clean);
        o["logit_lens_logit_diff_corrupted"] = Json.Row(Corrupted);
        if (CleanPrecap != null) o["logit_lens_logit_diff_clean_precap"] = Json.Row(CleanPrecap);
        if (CorruptedPrecap != null) o["logit_lens_logit_diff_corrupted_precap"] = Json.Row(CorruptedPrecap);
    }
}

/// <summary>
/// Which input of a head carries the signal (q/k/v/pattern patching), necessity (noising) and the logit lens, on the
/// study's base runs. Every sweep goes through <see cref="PatchSweep"/>: an item starts at its hook's layer from the base
/// run's cached residual stream and recomputes only the positions from the first one where the prompts differ, attending
/// to the base run's keys and values before it (the two runs are identical there, so nothing is lost).
/// </summary>
public sealed class CircuitExperiments(StudyRuns runs, Action<string, int, int>? progress = null, CancellationToken ct = default)
{
    readonly HookNames _names = runs.Model.HookNames;
    int L => runs.Model.Config.NLayers;
    int H => runs.Model.Config.NHeads;
    int G => runs.Model.Config.NKvHeads;

    /// <summary>Runs <paramref name="items"/> on the corrupted run (patching) or the clean one (noising) and returns the
    /// logit difference of each.</summary>
    internal static double[] Sweep(StudyRuns runs, bool onClean, string phase, IReadOnlyList<IReadOnlyList<Intervention>> items,
        Action<string, int, int>? progress, CancellationToken ct)
    {
        progress?.Invoke(phase, 0, items.Count);
        var sweep = runs.SweepOn(onClean, ct, done => progress?.Invoke(phase, done, items.Count));
        return sweep.Run(items, StudyRuns.PairLogitDiff);
    }

    /// <summary>
    /// head_{q,k,v,pattern}_patch_all_recovery: the corrupted run with one head's <c>attn.hook_q</c> (before rotary),
    /// one key/value head's <c>hook_k</c> / <c>hook_v</c>, or one head's whole <c>hook_pattern</c> [q_pos, k_pos] taken
    /// from the clean run at every position. One sweep over all four, so their batches share weight passes.
    /// </summary>
    public HeadInputPatchingResult HeadInputs()
    {
        var pos = runs.ChangedPositions;
        var items = new List<IReadOnlyList<Intervention>>();
        foreach (var (hook, n) in new (Func<LayerHookNames, string>, int)[] { (x => x.Q, H), (x => x.K, G), (x => x.V, G) })
            for (int l = 0; l < L; l++)
                for (int h = 0; h < n; h++)
                {
                    string name = hook(_names.Layers[l]);
                    items.Add([Intervention.PatchHeads(name, StudyRuns.Source(runs.Clean, name), [h], pos)]);
                }
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                string name = _names.Layers[l].Pattern;
                items.Add([Intervention.PatchHeadPattern(name, StudyRuns.Source(runs.Clean, name), h, pos)]);
            }
        var v = Sweep(runs, false, "head input patching (q, k, v, pattern)", items, progress, ct).Select(runs.Recovery).ToArray();
        int a = L * H, b = a + L * G, c = b + L * G;
        return new HeadInputPatchingResult(Json.Rows(v[..a], H).ToArray(), Json.Rows(v[a..b], G).ToArray(),
            Json.Rows(v[b..c], G).ToArray(), Json.Rows(v[c..], H).ToArray());
    }

    /// <summary>
    /// noise_{attn_out,mlp_out,head_z}_all_fraction: the clean run with a layer's <c>hook_attn_out</c> /
    /// <c>hook_mlp_out</c>, or one head's slice of <c>attn.hook_z</c>, replaced at every position by the corrupted run's;
    /// logit difference over the clean one.
    /// </summary>
    public NoisingResult Noising()
    {
        var pos = runs.ChangedPositions;
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++) items.Add([Intervention.Patch(_names.Layers[l].AttnOut, StudyRuns.Source(runs.Corrupted, _names.Layers[l].AttnOut), pos)]);
        for (int l = 0; l < L; l++) items.Add([Intervention.Patch(_names.Layers[l].MlpOut, StudyRuns.Source(runs.Corrupted, _names.Layers[l].MlpOut), pos)]);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                items.Add([Intervention.PatchHeads(_names.Layers[l].Z, StudyRuns.Source(runs.Corrupted, _names.Layers[l].Z), [h], pos)]);
        var v = Sweep(runs, true, "noising (clean run, corrupted activations)", items, progress, ct)
            .Select(x => x / runs.CleanLogitDiff).ToArray();
        return new NoisingResult(v[..L], v[L..(2 * L)], Json.Rows(v[(2 * L)..], H).ToArray());
    }

    /// <summary>
    /// logit_lens_logit_diff_{clean,corrupted}: at the final position, <c>blocks.L.hook_resid_pre</c> for every layer and
    /// then the last block's <c>hook_resid_post</c>, each through the family's final norm (at its own scale, centred first
    /// for a LayerNorm, its weight and bias) and the unembedding rows of the answer and the wrong token. No runs: it reads
    /// the base caches.
    /// </summary>
    public LogitLensResult LogitLens()
    {
        var (clean, cleanPre) = Lens(runs.Clean);
        var (corrupted, corruptedPre) = Lens(runs.Corrupted);
        return runs.Model.Config.FinalSoftcap is null ? new(clean, corrupted) : new(clean, corrupted, cleanPre, corruptedPre);
    }

    /// <summary>Per point: the logit difference through the final soft-cap when the model has one, and without it.</summary>
    (double[] Capped, double[] Precap) Lens(ActivationCache cache)
    {
        var c = runs.Model.Config; var w = runs.Model.Weights;
        int d = c.DModel, last = runs.Tokens.Last;
        var wa = new float[d]; var ww = new float[d];
        w.Unembed.ReadRow(runs.Tokens.Answer, wa);
        w.Unembed.ReadRow(runs.Tokens.Wrong, ww);
        var norm = StackNorms.For(c);
        var points = _names.Layers.Select(x => x.ResidPre).Append(_names.Layers[^1].ResidPost).ToArray();
        var x = new float[d];
        var capped = new double[points.Length];
        var precap = new double[points.Length];
        for (int p = 0; p < points.Length; p++)
        {
            cache[points[p]].Data.AsSpan(last * d, d).CopyTo(x);
            norm.Apply(x, norm.Scale(x));
            double a = 0, b = 0;
            for (int i = 0; i < d; i++)
            {
                double xi = (double)x[i] * w.LnFinal[i] + (w.LnFinalBias.Length > 0 ? w.LnFinalBias[i] : 0);
                a += xi * wa[i];
                b += xi * ww[i];
            }
            precap[p] = a - b;
            // the soft-cap bends each logit on its own, so the capped difference needs both logits
            capped[p] = c.FinalSoftcap is { } cap ? cap * Math.Tanh(a / cap) - cap * Math.Tanh(b / cap) : a - b;
        }
        return (capped, precap);
    }
}
