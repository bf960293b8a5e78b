using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>The findings of a dataset study (EXPERIMENTS.md, "Datasets"): which pairs were used, and how general each
/// finding of the mean is — the share of pairs in which it holds, and the mean with its 95% bootstrap interval.</summary>
public static partial class StudyFindings
{
    /// <summary>A head "recovers" in a pair when its final-position patching recovery exceeds this.</summary>
    public const double GeneralityThreshold = 0.2;

    /// <summary>Noising a head is "necessary" in a pair when the clean run keeps at most this fraction of its logit diff
    /// (the rule of <see cref="Experiments.NoisingResult.Verdict"/>).</summary>
    public const double NecessaryAtMost = 0.5;

    static int? Int(JsonObject r, string key) => ResultsView.Num(r[key]) is double d ? (int)d : null;

    /// <summary>The [low, high] interval at (l, h) of <c>ci95[key]</c> (a [layer][head][2] array), or at l of a [layer][2] one.</summary>
    static (double lo, double hi)? Ci(JsonObject r, string key, int l, int? h = null)
    {
        JsonNode? n = (r["ci95"] as JsonObject)?[key];
        n = n is JsonArray a && l < a.Count ? a[l] : null;
        if (h is int hh) n = n is JsonArray b && hh < b.Count ? b[hh] : null;
        return ResultsView.Vec(n) is { Length: 2 } c && double.IsFinite(c[0]) && double.IsFinite(c[1]) ? (c[0], c[1]) : null;
    }

    static string CiText((double lo, double hi)? ci) => ci is var (lo, hi) ? $" (95% CI {S2(lo)} to {S2(hi)})" : "";

    /// <summary>Each used pair's value at (l, h) of a [layer][head] key of <c>per_pair</c>.</summary>
    static double[]? PerPair(JsonObject r, string key, int l, int h) =>
        (r["per_pair"] as JsonObject)?[key] is JsonArray pairs
            ? pairs.Select(p => ResultsView.Mat(p) is { } m && l < m.Length && h < m[l].Length ? m[l][h] : double.NaN).ToArray() : null;

    static double? Mean(JsonObject r, string key) => ResultsView.Num((r["mean"] as JsonObject)?[key]);

    static Finding? DatasetScope(JsonObject r, ResultsView v)
    {
        int? n = Int(r, "n_pairs"), used = Int(r, "n_used");
        if (n is null || used is null) return null;
        string s = $"Dataset: {used} of {n} pairs pass their baselines";
        if (r["excluded"] is JsonArray ex && ex.Count > 0)
        {
            var reasons = ex.Select(e => ResultsView.Str((e as JsonObject)?["reason"]) ?? "?").GroupBy(x => x).OrderByDescending(g => g.Count())
                .Select(g => $"{g.Count()} {string.Join(' ', g.Key.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries))}");
            s += $" ({ex.Count} excluded: {string.Join("; ", reasons.Take(3))}{(ex.Count > 3 ? "; …" : "")})";
        }
        if (Mean(r, "clean_logit_diff") is double c && Mean(r, "corrupted_logit_diff") is double k)
            s += $". Mean logit({Answer(v, "clean")}) − logit({Answer(v, "corrupted")}): {S2(c)} on the clean prompts{CiText(CiOf(r, "clean_logit_diff"))} " +
                 $"and {S2(k)} on the corrupted ones{CiText(CiOf(r, "corrupted_logit_diff"))}";
        return new(s + $"; every figure shows the mean over the {used} pairs.", "baselines");
    }

    static (double lo, double hi)? CiOf(JsonObject r, string key) =>
        ResultsView.Vec((r["ci95"] as JsonObject)?[key]) is { Length: 2 } c && double.IsFinite(c[0]) && double.IsFinite(c[1]) ? (c[0], c[1]) : null;

    /// <summary>How general the top heads and the strongest residual cell are: in how many pairs a head recovers more than
    /// <see cref="GeneralityThreshold"/> (and noising it is necessary), its mean and 95% interval.</summary>
    static Finding? Generality(JsonObject r, ResultsView v)
    {
        var parts = new List<string>();
        foreach (var (l, h) in TopHeads(v))
        {
            if (PerPair(r, "head_z_patch_last_recovery", l, h) is not { Length: > 0 } x || x.All(double.IsNaN)) continue;
            int above = x.Count(d => d > GeneralityThreshold);
            string s = $"L{l}H{h} recovers more than {F2(GeneralityThreshold)} in {above} of {x.Length} pairs ({100.0 * above / x.Length:0}%)";
            if (At(v.Mat("head_z_patch_last_recovery"), l, h) is double m) s += $", mean {F2(m)}{CiText(Ci(r, "head_z_patch_last_recovery", l, h))}";
            if (PerPair(r, "noise_head_z_all_fraction", l, h) is { Length: > 0 } nz && !nz.All(double.IsNaN))
                s += $", and is necessary (noised, the clean run keeps at most {F2(NecessaryAtMost)}) in {nz.Count(d => d <= NecessaryAtMost)} of {nz.Length}";
            parts.Add(s);
        }
        if (BestResidual(v) is { } best && Ci(r, "resid_pre_patch_recovery", best.l, best.p) is { } rc)
            parts.Add($"patching blocks.{best.l}.hook_resid_pre at {Pos(v, best.p)} recovers {F2(best.x)} on average{CiText(rc)}");
        return parts.Count == 0 ? null : new("How general across the pairs: " + string.Join("; ", parts) + ".", "heads");
    }
}
