using System.Text.Json.Nodes;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>One verified item of a sweep: its index ([layer] or [layer, head/pos]), the AtP estimate and the exact recovery.</summary>
public sealed record VerifiedItem(int[] Index, double Atp, double Exact);

/// <summary>
/// <c>--method atp+verify K</c>: the K items of each AtP sweep with the largest |estimate|, patched exactly (the same
/// patch as the exact key's: clean activation into the corrupted run). Keyed by the exact key's name.
/// </summary>
public sealed record AtpVerificationResult(int K, IReadOnlyDictionary<string, VerifiedItem[]> Sweeps)
{
    /// <summary>Writes <c>atp_verify</c>: <c>{"k": K, "sweeps": {exact_key: [{"index", "atp", "exact"}…]}}</c>.</summary>
    public void WriteTo(JsonObject o)
    {
        var sweeps = new JsonObject();
        foreach (var (key, items) in Sweeps)
            sweeps[key] = new JsonArray(items.Select(i => (JsonNode?)new JsonObject
            {
                ["index"] = Json.Row(i.Index), ["atp"] = i.Atp, ["exact"] = i.Exact,
            }).ToArray());
        o["atp_verify"] = new JsonObject { ["k"] = K, ["sweeps"] = sweeps };
    }
}

public static class AtpVerification
{
    /// <summary>Ranks each sweep of <paramref name="atp"/> by |estimate| and patches its top <paramref name="k"/> items
    /// exactly, all in one sweep of the corrupted run.</summary>
    public static AtpVerificationResult Run(StudyRuns runs, AtpResult atp, int k, Action<string, int, int>? progress = null, CancellationToken ct = default)
    {
        if (k < 1) throw SharpLensException.Usage($"atp+verify needs K ≥ 1 items per sweep (got {k})");
        var names = runs.Model.HookNames.Layers;
        var pos = runs.ChangedPositions;
        int first = runs.FirstDifference;
        ReadOnlyMemory<float> Src(string hook) => StudyRuns.Source(runs.Clean, hook);
        IReadOnlyList<Intervention> Item(string key, int l, int j)
        {
            var n = names[l];
            return key switch
            {
                "resid_pre_patch_recovery" => j < first ? [] : [Intervention.Patch(n.ResidPre, Src(n.ResidPre), [j])],
                "attn_out_patch_all_recovery" => [Intervention.Patch(n.AttnOut, Src(n.AttnOut), pos)],
                "mlp_out_patch_all_recovery" => [Intervention.Patch(n.MlpOut, Src(n.MlpOut), pos)],
                "head_z_patch_all_recovery" => [Intervention.PatchHeads(n.Z, Src(n.Z), [j], pos)],
                "head_q_patch_all_recovery" => [Intervention.PatchHeads(n.Q, Src(n.Q), [j], pos)],
                "head_k_patch_all_recovery" => [Intervention.PatchHeads(n.K, Src(n.K), [j], pos)],
                "head_v_patch_all_recovery" => [Intervention.PatchHeads(n.V, Src(n.V), [j], pos)],
                "head_pattern_patch_all_recovery" => [Intervention.PatchHeadPattern(n.Pattern, Src(n.Pattern), j, pos)],
                _ => throw new ArgumentException(key),
            };
        }

        var chosen = new List<(string Key, int[] Index, double Atp)>();
        foreach (var (atpKey, exactKey) in AtpResult.Keys)
        {
            var grid = atp.Grid(atpKey);
            bool perLayer = exactKey is "attn_out_patch_all_recovery" or "mlp_out_patch_all_recovery";
            chosen.AddRange(grid.SelectMany((row, l) => row.Select((v, j) => (exactKey, perLayer ? new[] { l } : [l, j], v)))
                .OrderByDescending(x => Math.Abs(x.v)).Take(k));
        }
        var items = chosen.Select(c => Item(c.Key, c.Index[0], c.Index.Length > 1 ? c.Index[1] : 0)).ToList();
        const string phase = "exact patching of AtP's top items";
        progress?.Invoke(phase, 0, items.Count);
        var exact = runs.SweepOn(clean: false, ct, done => progress?.Invoke(phase, done, items.Count))
            .Run(items, pair => runs.Recovery(StudyRuns.PairLogitDiff(pair)));
        var sweeps = chosen.Select((c, i) => (c.Key, Item: new VerifiedItem(c.Index, c.Atp, exact[i])))
            .GroupBy(x => x.Key).ToDictionary(g => g.Key, g => g.Select(x => x.Item).ToArray());
        return new AtpVerificationResult(k, sweeps);
    }
}

/// <summary>How well AtP ranks a sweep against exact patching: Spearman's rank correlation and the items where the two
/// disagree most.</summary>
public static class AtpComparison
{
    /// <summary>Spearman's ρ: Pearson's correlation of the ranks (ties get their mean rank); NaN with fewer than 2 items
    /// or a constant side.</summary>
    public static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException("Spearman needs two lists of the same length");
        if (a.Count < 2) return double.NaN;
        double[] ra = Ranks(a), rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < ra.Length; i++)
        {
            sab += (ra[i] - ma) * (rb[i] - mb); saa += (ra[i] - ma) * (ra[i] - ma); sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 || sbb == 0 ? double.NaN : sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>1-based ranks, ties sharing their mean rank.</summary>
    public static double[] Ranks(IReadOnlyList<double> x)
    {
        var order = Enumerable.Range(0, x.Count).OrderBy(i => x[i]).ToArray();
        var r = new double[x.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && x[order[j + 1]] == x[order[i]]) j++;
            for (int t = i; t <= j; t++) r[order[t]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return r;
    }

    /// <summary>
    /// The items where AtP and exact patching disagree: |atp − exact| above <paramref name="threshold"/> (recovery units),
    /// or a sign flip where either side is above it; largest difference first.
    /// </summary>
    public static IEnumerable<int> Disagreements(IReadOnlyList<double> atp, IReadOnlyList<double> exact, double threshold = 0.1) =>
        Enumerable.Range(0, atp.Count)
            .Where(i => Math.Abs(atp[i] - exact[i]) > threshold || (Math.Sign(atp[i]) != Math.Sign(exact[i]) && Math.Max(Math.Abs(atp[i]), Math.Abs(exact[i])) > threshold))
            .OrderByDescending(i => Math.Abs(atp[i] - exact[i]));
}
