using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Attribution patching estimates (AtP, Nanda 2023; EXPERIMENTS.md "Gradients and attribution patching"): every patch of
/// a sweep linearised around the corrupted run, from one clean forward and one corrupted forward + backward:
/// <c>atp(a) = Σ grad_a(logit_diff)|corrupted · (a_clean − a_corrupted) / (clean_logit_diff − corrupted_logit_diff)</c>,
/// summed over the entries the exact patch would change. Each estimates the exact key of the same name without <c>atp_</c>.
/// </summary>
public sealed record AtpResult(
    double CleanLogitDiff, double CorruptedLogitDiff,
    double[][] ResidPreRecovery,     // atp_resid_pre_recovery [layer][pos]
    double[] AttnOutAllRecovery,     // atp_attn_out_all_recovery [layer]
    double[] MlpOutAllRecovery,      // atp_mlp_out_all_recovery [layer]
    double[][] HeadZAllRecovery);    // atp_head_z_all_recovery [layer][head]

public static class AttributionPatching
{
    /// <summary>AtP of the residual stream by position, attention and MLP outputs by layer and heads' z by head.</summary>
    /// <param name="clean">clean prompt tokens; <paramref name="corrupted"/> has the same length</param>
    /// <param name="answer">the clean answer token; <paramref name="wrong"/> the corrupted one (logit_diff = answer − wrong)</param>
    public static AtpResult Run(HookedTransformer model, int[] clean, int[] corrupted, int answer, int wrong)
    {
        if (clean.Length != corrupted.Length) throw SharpLensException.Input($"clean and corrupted prompts have {clean.Length} and {corrupted.Length} tokens; attribution patching needs equal lengths");
        var c = model.Config; int L = c.NLayers, H = c.NHeads, e = c.DHead, d = c.DModel, T = clean.Length;
        var names = model.HookNames.Layers;
        var wanted = names.SelectMany(n => new[] { n.ResidPre, n.AttnOut, n.MlpOut, n.Z }).ToHashSet(StringComparer.Ordinal);
        var metric = Metrics.LogitDiff(answer, wrong);
        var (cleanLogits, cleanCache) = model.RunWithCache([clean], wanted.Contains);
        double cleanLd = metric(cleanLogits, new float[cleanLogits.Data.Length]);
        var g = model.Backward(corrupted, metric, wanted.Contains, cacheFilter: wanted.Contains);
        double gap = cleanLd - g.Metric;

        // Σ grad · (clean − corrupted) over [from, from + count) of each hook's [1, …] data, as a recovery.
        double Atp(string hook, int from, int count, int stride = 0, int every = 0)
        {
            var grad = g.HookGrads[hook].Data; var a = cleanCache[hook].Data; var b = g.Activations[hook].Data;
            double s = 0;
            if (every == 0) for (int i = from; i < from + count; i++) s += (double)grad[i] * (a[i] - b[i]);
            else for (int r = 0; r < every; r++) for (int i = r * stride + from; i < r * stride + from + count; i++) s += (double)grad[i] * (a[i] - b[i]);
            return s / gap;
        }

        var resid = new double[L][]; var attn = new double[L]; var mlp = new double[L]; var heads = new double[L][];
        for (int l = 0; l < L; l++)
        {
            var n = names[l];
            resid[l] = Enumerable.Range(0, T).Select(p => Atp(n.ResidPre, p * d, d)).ToArray();
            attn[l] = Atp(n.AttnOut, 0, T * d);
            mlp[l] = Atp(n.MlpOut, 0, T * d);
            heads[l] = Enumerable.Range(0, H).Select(h => Atp(n.Z, h * e, e, stride: H * e, every: T)).ToArray();
        }
        return new AtpResult(cleanLd, g.Metric, resid, attn, mlp, heads);
    }
}
