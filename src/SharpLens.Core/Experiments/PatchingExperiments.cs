using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// Activation patching from the clean run into the corrupted run (EXPERIMENTS.md): residual stream by
/// layer × position, attention vs MLP output, heads, head pairs, and the unrelated-prompt control.
/// Each returns recoveries.
/// </summary>
public sealed class PatchingExperiments(StudyRuns runs, Action<string, int, int>? progress = null, CancellationToken ct = default)
{
    readonly HookNames _names = runs.Model.HookNames;
    int L => runs.Model.Config.NLayers;
    int H => runs.Model.Config.NHeads;
    int T => runs.Tokens.Length;
    int Last => runs.Tokens.Last;

    double[] Sweep(string phase, IReadOnlyList<IReadOnlyList<Intervention>> items)
    {
        progress?.Invoke(phase, 0, items.Count);
        var sweep = runs.SweepOn(clean: false, ct, done => progress?.Invoke(phase, done, items.Count));
        return sweep.Run(items, row => runs.Recovery(runs.LogitDiff(row)));
    }

    /// <summary>resid_pre_patch_recovery [layer][pos].</summary>
    public double[][] ResidPre()
    {
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++)
            for (int p = 0; p < T; p++)
            {
                string hook = _names.Layers[l].ResidPre;
                items.Add([Intervention.Patch(hook, l, StudyRuns.Source(runs.Clean, hook), [p])]);
            }
        return Json.Rows(Sweep("residual stream patching", items), T).ToArray();
    }

    /// <summary>Patch <c>hook_attn_out</c> or <c>hook_mlp_out</c> of each layer at the final position, or at every position.</summary>
    public double[] Output(bool attention, bool allPositions)
    {
        var items = new List<IReadOnlyList<Intervention>>();
        for (int l = 0; l < L; l++)
        {
            string hook = attention ? _names.Layers[l].AttnOut : _names.Layers[l].MlpOut;
            var src = StudyRuns.Source(runs.Clean, hook);
            items.Add([allPositions ? Intervention.PatchAll(hook, l, src) : Intervention.Patch(hook, l, src, [Last])]);
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
            {
                string hook = _names.Layers[l].Z;
                items.Add([Intervention.PatchHeads(hook, l, StudyRuns.Source(runs.Clean, hook), [h], positions)]);
            }
        return Json.Rows(Sweep($"head patching ({(allPositions ? "all positions" : "final position")})", items), H).ToArray();
    }

    /// <summary>head_pair_z_patch_last_recovery [head][head] at one layer (symmetric; the diagonal is each head alone).</summary>
    public double[][] HeadPairs(int layer)
    {
        string hook = _names.Layers[layer].Z;
        var src = StudyRuns.Source(runs.Clean, hook);
        var pairs = new List<(int I, int J)>();
        for (int i = 0; i < H; i++)
            for (int j = i; j < H; j++) pairs.Add((i, j));
        var values = Sweep($"head pairs at layer {layer}", pairs
            .Select(p => (IReadOnlyList<Intervention>)[Intervention.PatchHeads(hook, layer, src, p.I == p.J ? [p.I] : [p.I, p.J], [Last])])
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
        for (int l = 0; l < L; l++)
        {
            string hook = _names.Layers[l].ResidPre;
            items.Add([Intervention.Patch(hook, l, StudyRuns.Source(runs.Control, hook), [Last])]);
        }
        return Sweep("control patch (unrelated prompt)", items);
    }
}
