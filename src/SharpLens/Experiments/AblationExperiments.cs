using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Zero ablation on the clean run or on the corrupted run: each layer's attention output, each MLP output and each
/// head's <c>hook_z</c> at every position, as raw logit differences. Under <see cref="Processing.Tl"/> a head's
/// ablation keeps its value bias (TransformerLens folds b_V into the output bias, so zeroing hook_z leaves b_V·W_O).
/// </summary>
public sealed class AblationExperiments(StudyRuns runs, Processing processing, Action<string, int, int>? progress = null, CancellationToken ct = default)
{
    readonly HookNames _names = runs.Model.HookNames;

    public sealed record Result(double[] Attn, double[] Mlp, double[][] Heads);

    public Result Run(bool clean)
    {
        var items = Items();
        string phase = $"zero ablation ({(clean ? "clean" : "corrupted")} run)";
        progress?.Invoke(phase, 0, items.Count);
        var v = runs.SweepOn(clean, ct, done => progress?.Invoke(phase, done, items.Count)).Run(items, StudyRuns.PairLogitDiff);
        return Split(v);
    }

    /// <summary>
    /// Both runs at once: each item runs on the clean prompt, then on the corrupted one for the positions from the first
    /// differing token only (before it, the two ablated runs are identical), reusing the clean run's keys and values.
    /// </summary>
    public (Result Clean, Result Corrupted) RunBoth()
    {
        var items = Items();
        const string pc = "zero ablation (clean run)", pk = "zero ablation (corrupted run)";
        progress?.Invoke(pc, 0, items.Count);
        progress?.Invoke(pk, 0, items.Count);
        int shared = 0;
        while (shared < runs.Tokens.Length && runs.Tokens.Clean[shared] == runs.Tokens.Corrupted[shared]) shared++;
        var clean = runs.SweepOn(true, ct, done => progress?.Invoke(pc, done, items.Count));
        var corrupted = runs.SweepOn(false, ct);
        var (vc, vk) = clean.RunPaired(items, corrupted, shared, StudyRuns.PairLogitDiff, done => progress?.Invoke(pk, done, items.Count));
        return (Split(vc), Split(vk));
    }

    List<IReadOnlyList<Intervention>> Items()
    {
        var c = runs.Model.Config;
        int L = c.NLayers, H = c.NHeads;
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++) items.Add([Intervention.ZeroAll(_names.Layers[l].AttnOut)]);
        for (int l = 0; l < L; l++) items.Add([Intervention.ZeroAll(_names.Layers[l].MlpOut)]);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) items.Add([HeadAblation(l, h)]);
        return items;
    }

    Result Split(double[] v)
    {
        int L = runs.Model.Config.NLayers, H = runs.Model.Config.NHeads;
        return new Result(v[..L], v[L..(2 * L)], Json.Rows(v[(2 * L)..], H).ToArray());
    }

    Intervention HeadAblation(int layer, int head)
    {
        var c = runs.Model.Config;
        string hook = _names.Layers[layer].Z;
        var bv = DirectLogitAttribution.FoldedValueBias(runs.Model.Weights.Layers[layer], c.NKvHeads, c.DHead);
        if (processing == Processing.Hf || bv.Length == 0) return Intervention.FillHead(hook, head, new float[c.DHead]);
        int kv = head / c.GroupSize;
        return Intervention.FillHead(hook, head, bv.AsMemory(kv * c.DHead, c.DHead));
    }

    /// <summary>Each logit diff over the run's own unpatched logit diff.</summary>
    public static double[] Fraction(double[] v, double baseline) => v.Select(x => x / baseline).ToArray();
}
