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

    /// <summary>
    /// Mean or resample ablation: each layer's attention output, each MLP output and each head's <c>hook_z</c> slice
    /// replaced at every position by <paramref name="values"/>' activation for that run. When the two runs get the same
    /// values (<paramref name="sameForBoth"/>: a mean over both runs), the corrupted run reuses the clean run's keys and
    /// values before the first differing token, as <see cref="RunBoth"/> does.
    /// </summary>
    public (Result Clean, Result Corrupted) RunReplacing(AblationValues values, string name, bool sameForBoth)
    {
        string pc = $"{name} ablation (clean run)", pk = $"{name} ablation (corrupted run)";
        var cleanItems = ReplacementItems(values, cleanRun: true);
        progress?.Invoke(pc, 0, cleanItems.Count);
        progress?.Invoke(pk, 0, cleanItems.Count);
        var clean = runs.SweepOn(true, ct, done => progress?.Invoke(pc, done, cleanItems.Count));
        var corrupted = runs.SweepOn(false, ct, done => progress?.Invoke(pk, done, cleanItems.Count));
        if (sameForBoth)
        {
            var (vc, vk) = clean.RunPaired(cleanItems, corrupted, runs.FirstDifference, StudyRuns.PairLogitDiff, done => progress?.Invoke(pk, done, cleanItems.Count));
            return (Split(vc), Split(vk));
        }
        return (Split(clean.Run(cleanItems, StudyRuns.PairLogitDiff)),
                Split(corrupted.Run(ReplacementItems(values, cleanRun: false), StudyRuns.PairLogitDiff)));
    }

    List<IReadOnlyList<Intervention>> ReplacementItems(AblationValues values, bool cleanRun)
    {
        var c = runs.Model.Config;
        int L = c.NLayers, H = c.NHeads;
        var all = Enumerable.Range(0, runs.Tokens.Length).ToArray();
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++) items.Add([Intervention.PatchAll(_names.Layers[l].AttnOut, values(_names.Layers[l].AttnOut, cleanRun))]);
        for (int l = 0; l < L; l++) items.Add([Intervention.PatchAll(_names.Layers[l].MlpOut, values(_names.Layers[l].MlpOut, cleanRun))]);
        for (int l = 0; l < L; l++)
        {
            var z = values(_names.Layers[l].Z, cleanRun);
            for (int h = 0; h < H; h++) items.Add([Intervention.PatchHeads(_names.Layers[l].Z, z, [h], all)]);
        }
        return items;
    }

    /// <summary>
    /// The joint ablation grid: heads i and j zero-ablated together (with <see cref="Processing.Tl"/>, keeping their value
    /// biases), on the clean and the corrupted run; the diagonal is the single head. [i][j] raw logit differences.
    /// </summary>
    public (double[][] Clean, double[][] Corrupted) JointHeads(IReadOnlyList<(int Layer, int Head)> heads)
    {
        int k = heads.Count;
        var pairs = new List<(int I, int J)>();
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++) pairs.Add((i, j));
        var items = pairs.Select(p => (IReadOnlyList<Intervention>)(p.I == p.J
            ? [HeadAblation(heads[p.I].Layer, heads[p.I].Head)]
            : [HeadAblation(heads[p.I].Layer, heads[p.I].Head), HeadAblation(heads[p.J].Layer, heads[p.J].Head)])).ToList();
        const string phase = "joint head ablation";
        progress?.Invoke(phase, 0, 2 * items.Count);
        var clean = runs.SweepOn(true, ct);
        var corrupted = runs.SweepOn(false, ct);
        var (vc, vk) = clean.RunPaired(items, corrupted, runs.FirstDifference, StudyRuns.PairLogitDiff);
        progress?.Invoke(phase, 2 * items.Count, 2 * items.Count);
        double[][] Grid(double[] v)
        {
            var m = new double[k][];
            for (int i = 0; i < k; i++) m[i] = new double[k];
            for (int n = 0; n < pairs.Count; n++) m[pairs[n].I][pairs[n].J] = m[pairs[n].J][pairs[n].I] = v[n];
            return m;
        }
        return (Grid(vc), Grid(vk));
    }

    /// <summary>The elementwise mean of the pair's clean and corrupted activations of <paramref name="hook"/>: mean ablation's
    /// values in a single-pair study.</summary>
    public static AblationValues MeanOfRuns(StudyRuns runs) => (hook, _) =>
    {
        var a = runs.Clean[hook].Data; var b = runs.Corrupted[hook].Data;
        var m = new float[a.Length];
        for (int i = 0; i < m.Length; i++) m[i] = (a[i] + b[i]) / 2;
        return m;
    };

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
