using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Activation patching from the clean run into the corrupted run (EXPERIMENTS.md): residual stream by
/// layer × position, attention vs MLP output, heads, head pairs, and the unrelated-prompt control.
/// Each returns recoveries. A patch only writes the positions where the source activation differs from the corrupted
/// run's own (before the first differing token the two runs are identical, so copying there changes nothing): the sweep
/// then recomputes only the positions from the first real change on, and an item that changes nothing costs no layers.
/// </summary>
public sealed class PatchingExperiments(StudyRuns runs, Action<string, int, int>? progress = null, CancellationToken ct = default)
{
    readonly HookNames _names = runs.Model.HookNames;
    int L => runs.Model.Config.NLayers;
    int H => runs.Model.Config.NHeads;
    int T => runs.Tokens.Length;
    int Last => runs.Tokens.Last;
    readonly Dictionary<(ActivationCache, string), int> _firstDifference = new();

    /// <summary>The first position at which <paramref name="source"/>'s activation of <paramref name="hook"/> differs
    /// (bitwise) from the corrupted run's; T when they are identical.</summary>
    int FirstDifference(ActivationCache source, string hook)
    {
        if (_firstDifference.TryGetValue((source, hook), out int f)) return f;
        var a = source[hook].Data; var b = runs.Corrupted[hook].Data;
        int row = a.Length / T;
        f = 0;
        while (f < T && a.AsSpan(f * row, row).SequenceEqual(b.AsSpan(f * row, row))) f++;
        return _firstDifference[(source, hook)] = f;
    }

    /// <summary>The positions of <paramref name="positions"/> at which patching from <paramref name="source"/> changes something.</summary>
    int[] Changing(ActivationCache source, string hook, IEnumerable<int> positions)
    {
        int first = FirstDifference(source, hook);
        return positions.Where(p => p >= first).ToArray();
    }

    /// <summary>One item patching <paramref name="hook"/> from <paramref name="source"/> at the positions that change (none: a no-op item).</summary>
    IReadOnlyList<Intervention> PatchItem(ActivationCache source, string hook, IEnumerable<int> positions)
    {
        var pos = Changing(source, hook, positions);
        return pos.Length == 0 ? [] : [Intervention.Patch(hook, StudyRuns.Source(source, hook), pos)];
    }

    /// <summary>One item patching <paramref name="heads"/> of a [pos, heads, d_head] hook at the positions that change.</summary>
    IReadOnlyList<Intervention> PatchHeadsItem(string hook, int[] heads, IEnumerable<int> positions)
    {
        var pos = Changing(runs.Clean, hook, positions);
        return pos.Length == 0 ? [] : [Intervention.PatchHeads(hook, StudyRuns.Source(runs.Clean, hook), heads, pos)];
    }

    double[] Sweep(string phase, IReadOnlyList<IReadOnlyList<Intervention>> items)
    {
        progress?.Invoke(phase, 0, items.Count);
        var sweep = runs.SweepOn(clean: false, ct, done => progress?.Invoke(phase, done, items.Count));
        return sweep.Run(items, pair => runs.Recovery(StudyRuns.PairLogitDiff(pair)));
    }

    /// <summary>resid_pre_patch_recovery [layer][pos].</summary>
    public double[][] ResidPre()
    {
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++)
            for (int p = 0; p < T; p++)
                items.Add(PatchItem(runs.Clean, _names.Layers[l].ResidPre, [p]));
        return Json.Rows(Sweep("residual stream patching", items), T).ToArray();
    }

    /// <summary>Patch <c>hook_attn_out</c> or <c>hook_mlp_out</c> of each layer at the final position, or at every position.</summary>
    public double[] Output(bool attention, bool allPositions)
    {
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++)
        {
            string hook = attention ? _names.Layers[l].AttnOut : _names.Layers[l].MlpOut;
            items.Add(PatchItem(runs.Clean, hook, allPositions ? Enumerable.Range(0, T) : [Last]));
        }
        return Sweep($"{(attention ? "attention" : "MLP")} output patching ({(allPositions ? "all positions" : "final position")})", items);
    }

    /// <summary>head_z_patch_{last,all}_recovery [layer][head].</summary>
    public double[][] Heads(bool allPositions)
    {
        var positions = allPositions ? Enumerable.Range(0, T).ToArray() : [Last];
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
                items.Add(PatchHeadsItem(_names.Layers[l].Z, [h], positions));
        return Json.Rows(Sweep($"head patching ({(allPositions ? "all positions" : "final position")})", items), H).ToArray();
    }

    /// <summary>head_pair_z_patch_last_recovery [head][head] at one layer (symmetric; the diagonal is each head alone).</summary>
    public double[][] HeadPairs(int layer)
    {
        string hook = _names.Layers[layer].Z;
        var pairs = new List<(int I, int J)>();
        for (int i = 0; i < H; i++)
            for (int j = i; j < H; j++) pairs.Add((i, j));
        var values = Sweep($"head pairs at layer {layer}", pairs
            .Select(p => PatchHeadsItem(hook, p.I == p.J ? [p.I] : [p.I, p.J], [Last]))
            .ToList());
        var m = new double[H][];
        for (int i = 0; i < H; i++) m[i] = new double[H];
        for (int k = 0; k < pairs.Count; k++) m[pairs[k].I][pairs[k].J] = m[pairs[k].J][pairs[k].I] = values[k];
        return m;
    }

    /// <summary>Joint recovery minus the two singles (i ≠ j), 0 on the diagonal.</summary>
    public static double[][] Superadditivity(double[][] pairs) =>
        pairs.Select((row, i) => row.Select((v, j) => i == j ? 0 : v - pairs[i][i] - pairs[j][j]).ToArray()).ToArray();

    /// <summary>control_resid_pre_patch_last_recovery [layer]: the final position's residual from the unrelated prompt.</summary>
    public double[] Control()
    {
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++) items.Add(PatchItem(runs.Control, _names.Layers[l].ResidPre, [Last]));
        return Sweep("control patch (unrelated prompt)", items);
    }
}
