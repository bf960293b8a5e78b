using System.Globalization;
using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>One sentence of a study's findings and the report section (<c>#anchor</c>) whose figure shows it.</summary>
/// <param name="Text">Plain text, generated from the numbers (tokens with whitespace made visible).</param>
/// <param name="Anchor">The id of the report section that holds the figure (e.g. <c>resid</c>, <c>heads</c>).</param>
public sealed record Finding(string Text, string Anchor);

/// <summary>
/// What a study found, in sentences generated from its results.json: the baselines, the strongest layer and position of
/// residual patching, the top heads (<c>L1H0</c>) with what patching and ablation say of each, the strongest head pair,
/// and the control's verdict. Shown at the top of report.html and of the console output. Keys that are missing only cost
/// their sentence.
/// </summary>
public static class StudyFindings
{
    /// <summary>A control recovering less than this fraction of the real patch's largest recovery is called specific.</summary>
    public const double ControlSpecificRatio = 0.2;

    /// <summary>The findings of <paramref name="results"/>, most important first.</summary>
    public static IReadOnlyList<Finding> Of(JsonObject results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var v = new ResultsView(results);
        var list = new List<Finding>();
        void Try(Func<Finding?> f)
        {
            try { if (f() is { } x) list.Add(x); }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NullReferenceException or FormatException) { }
        }
        Try(() => Baselines(v));
        Try(() => Residual(v));
        Try(() => Sublayers(v));
        foreach (var f in Heads(v)) list.Add(f);
        Try(() => Pair(v));
        Try(() => Control(v));
        return list;
    }

    static string F2(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
    static string S2(double x) => x.ToString("+0.00;−0.00;0.00", CultureInfo.InvariantCulture);
    static string Q(string token) => "“" + ResultsView.Visible(token) + "”";

    static Finding? Baselines(ResultsView v)
    {
        if (v.Num("clean_logit_diff") is not double c || v.Num("corrupted_logit_diff") is not double r) return null;
        string a = v.Str("answers", "clean") is string x ? Q(x) : "the clean answer", w = v.Str("answers", "corrupted") is string y ? Q(y) : "the corrupted answer";
        return new($"Baselines: logit({a}) − logit({w}) is {S2(c)} on the clean prompt and {S2(r)} on the corrupted one (gap {F2(c - r)}).", "baselines");
    }

    static string Pos(ResultsView v, int p)
    {
        var c = v.TokenStrings("clean"); var r = v.TokenStrings("corrupted");
        string tc = c is not null && p < c.Length ? ResultsView.Visible(c[p]) : "?", tr = r is not null && p < r.Length ? ResultsView.Visible(r[p]) : "?";
        return $"position {p} (“{(tc == tr ? tc : tc + "” → “" + tr)}”)";
    }

    static Finding? Residual(ResultsView v)
    {
        if (v.Mat("resid_pre_patch_recovery") is not { Length: > 0 } z) return null;
        var best = z.SelectMany((row, l) => row.Select((x, p) => (l, p, x))).Where(t => double.IsFinite(t.x)).MaxBy(t => t.x);
        string s = $"Residual stream: patching blocks.{best.l}.hook_resid_pre at {Pos(v, best.p)} recovers {F2(best.x)} — the strongest layer and position.";
        int last = z[0].Length - 1;
        int? moved = Enumerable.Range(0, z.Length).Cast<int?>().FirstOrDefault(l => z[l!.Value][last] >= 0.5);
        if (moved is int ml) s += $" The information reaches the final position by layer {ml} (recovery {F2(z[ml][last])} there).";
        return new(s, "resid");
    }

    static Finding? Sublayers(ResultsView v)
    {
        if (v.Vec("attn_out_patch_last_recovery") is not { Length: > 0 } a || v.Vec("mlp_out_patch_last_recovery") is not { Length: > 0 } m) return null;
        int la = ArgMax(a), lm = ArgMax(m);
        string lead = a[la] >= m[lm] ? "attention" : "MLP";
        return new($"Sublayers at the final position: attention of layer {la} recovers {F2(a[la])}, the MLP of layer {lm} {F2(m[lm])}; {lead} carries more.", "attn-mlp");
    }

    static int ArgMax(double[] x) => Enumerable.Range(0, x.Length).Where(i => double.IsFinite(x[i])).DefaultIfEmpty(0).MaxBy(i => double.IsFinite(x[i]) ? x[i] : double.MinValue);

    /// <summary>One sentence per top head: patching (final position and all positions), zero ablation on the clean run.</summary>
    static IEnumerable<Finding> Heads(ResultsView v)
    {
        var last = v.Mat("head_z_patch_last_recovery");
        if (last is null) yield break;
        var top = (v.Node("top_heads") as JsonArray)?.Select(ResultsView.Ints).Where(x => x is { Length: 2 }).Select(x => (l: x![0], h: x[1])).ToList()
                  ?? last.SelectMany((row, l) => row.Select((x, h) => (l, h, x))).OrderByDescending(t => Math.Abs(t.x)).Take(4).Select(t => (t.l, t.h)).ToList();
        var all = v.Mat("head_z_patch_all_recovery");
        var kept = v.AblationFraction("head", "clean");
        var parts = new List<string>();
        foreach (var (l, h) in top.Where(t => t.l < last.Length && t.h < last[t.l].Length))
        {
            string s = $"L{l}H{h}: patching recovers {F2(last[l][h])}";
            if (all is not null && l < all.Length && h < all[l].Length) s += $" (all positions {F2(all[l][h])})";
            if (kept is not null && l < kept.Length && h < kept[l].Length)
                s += kept[l][h] < 0.8 ? $", and zeroing it on the clean run keeps {F2(kept[l][h])} of the logit diff — needed" : $"; zeroing it keeps {F2(kept[l][h])} — not needed alone";
            parts.Add(s);
        }
        if (parts.Count > 0) yield return new("Top heads: " + string.Join("; ", parts) + ".", "heads");
    }

    static Finding? Pair(ResultsView v)
    {
        if (v.Superadditivity(out _) is not { Length: > 1 } s || v.Num("head_pair_layer") is not double pl) return null;
        var best = s.SelectMany((row, i) => row.Select((x, j) => (i, j, x))).Where(t => t.i < t.j && double.IsFinite(t.x)).MaxBy(t => Math.Abs(t.x));
        int l = (int)pl;
        string kind = best.x > 0 ? "more together than apart (superadditive)" : "less together than apart (redundant)";
        return new($"Head pairs in layer {l}: L{l}H{best.i} and L{l}H{best.j} do {kind}, pair − singles = {S2(best.x)}.", "head-pair");
    }

    static Finding? Control(ResultsView v)
    {
        if (v.Vec("control_resid_pre_patch_last_recovery") is not { Length: > 0 } c || v.Mat("resid_pre_patch_recovery") is not { Length: > 0 } z) return null;
        double ctrl = c.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double real = z.Select(r => r[^1]).Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        string verdict = ctrl < ControlSpecificRatio * real
            ? "the effect is specific to the clean prompt"
            : "a patch from an unrelated prompt does much the same, so part of the recovery is destroying the corrupted answer rather than restoring the clean one";
        return new($"Control: patching the final position from an unrelated prompt recovers at most {F2(ctrl)}, against {F2(real)} for the real patch — {verdict}.", "control");
    }
}
