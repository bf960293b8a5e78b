using System.Globalization;
using System.Text.Json.Nodes;

namespace SharpLens.Reports;

/// <summary>One sentence of a study's findings and the report section (<c>#anchor</c>) whose figure shows it.</summary>
/// <param name="Text">Plain text, generated from the numbers (tokens with whitespace made visible).</param>
/// <param name="Anchor">The id of the report section that holds the figure (e.g. <c>resid</c>, <c>heads</c>).</param>
public sealed record Finding(string Text, string Anchor);

/// <summary>
/// What a study found, in sentences generated from its results.json: the baselines, the strongest layer and position of
/// residual patching, the top heads (<c>L1H0</c>) with what patching, noising and zero ablation say of each, which input
/// of each top head carries its signal, what reads the path-patching sender, where in depth the answer appears (logit
/// lens), the strongest head pair, and the control's verdict. For a dataset study (<c>per_pair</c>, <c>mean</c>,
/// <c>ci95</c>) the sentences describe the mean over the pairs and add how general each finding is. Shown at the top of
/// report.html and of the console output. Keys that are missing only cost their sentence.
/// </summary>
public static partial class StudyFindings
{
    /// <summary>A control recovering less than this fraction of the real patch's largest recovery is called specific.</summary>
    public const double ControlSpecificRatio = 0.2;

    /// <summary>The findings of <paramref name="results"/> (a single-pair or a dataset study), most important first.</summary>
    public static IReadOnlyList<Finding> Of(JsonObject results)
    {
        ArgumentNullException.ThrowIfNull(results);
        bool dataset = DatasetResults.IsDataset(results);
        var v = ResultsView.For(results);
        var list = new List<Finding>();
        void Try(Func<Finding?> f)
        {
            try { if (f() is { } x) list.Add(x); }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NullReferenceException or FormatException) { }
        }
        if (dataset) Try(() => DatasetScope(results, v));
        else Try(() => Baselines(v));
        Try(() => Residual(v));
        Try(() => Sublayers(v));
        Try(() => Heads(v));
        if (dataset) Try(() => Generality(results, v));
        Try(() => HeadInputs(v));
        Try(() => PathPatching(v));
        Try(() => LogitLens(v));
        Try(() => Pair(v));
        Try(() => Control(v));
        return list;
    }

    /// <summary>Two decimals, a true minus sign, and no "−0.00".</summary>
    static string F2(double x) => Math.Round(x, 2) == 0 ? "0.00" : x.ToString("0.00;−0.00", CultureInfo.InvariantCulture);
    static string S2(double x) => x.ToString("+0.00;−0.00;0.00", CultureInfo.InvariantCulture);
    static string Q(string token) => "“" + ResultsView.Visible(token) + "”";

    static Finding? Baselines(ResultsView v)
    {
        if (v.Num("clean_logit_diff") is not double c || v.Num("corrupted_logit_diff") is not double r) return null;
        string s = $"Baselines: logit({Answer(v, "clean")}) − logit({Answer(v, "corrupted")}) is {S2(c)} on the clean prompt and {S2(r)} on the corrupted one (gap {F2(c - r)}).";
        if (c <= 0 || r >= 0)
            s += $" They do not separate in sign: the {(c <= 0 ? "clean prompt does not prefer its answer" : "corrupted prompt still prefers the clean answer")}, so recoveries measure movement within a gap the model barely makes.";
        return new(s, "baselines");
    }

    static string Answer(ResultsView v, string run) =>
        v.Str("answers", run) is string x ? Q(x) : run == "clean" ? "the clean answer" : "the corrupted answer";

    static string Pos(ResultsView v, int p)
    {
        var c = v.TokenStrings("clean"); var r = v.TokenStrings("corrupted");
        string tc = c is not null && p < c.Length ? ResultsView.Visible(c[p]) : "?", tr = r is not null && p < r.Length ? ResultsView.Visible(r[p]) : "?";
        return $"position {p} (“{(tc == tr ? tc : tc + "” → “" + tr)}”)";
    }

    /// <summary>The strongest (layer, position) of residual patching, or null without the key.</summary>
    static (int l, int p, double x)? BestResidual(ResultsView v) =>
        v.Mat("resid_pre_patch_recovery") is { Length: > 0 } z
            ? z.SelectMany((row, l) => row.Select((x, p) => (l, p, x))).Where(t => double.IsFinite(t.x)).MaxBy(t => t.x) : null;

    static Finding? Residual(ResultsView v)
    {
        if (BestResidual(v) is not { } best || v.Mat("resid_pre_patch_recovery") is not { } z) return null;
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

    /// <summary>The top heads: <c>top_heads</c>, else the four largest |final-position head patching recovery|.</summary>
    internal static List<(int l, int h)> TopHeads(ResultsView v)
    {
        var last = v.Mat("head_z_patch_last_recovery");
        var top = (v.Node("top_heads") as JsonArray)?.Select(ResultsView.Ints).Where(x => x is { Length: 2 }).Select(x => (l: x![0], h: x[1])).ToList();
        if (top is not { Count: > 0 } && last is not null)
            top = last.SelectMany((row, l) => row.Select((x, h) => (l, h, x))).Where(t => double.IsFinite(t.x))
                .OrderByDescending(t => Math.Abs(t.x)).Take(4).Select(t => (t.l, t.h)).ToList();
        return top ?? [];
    }

    static double? At(double[][]? m, int l, int h) => m is not null && l < m.Length && h < m[l].Length && double.IsFinite(m[l][h]) ? m[l][h] : null;

    /// <summary>One clause per top head: patching (final position and every position), then noising (necessity) with the
    /// 2×2 verdict, and zero ablation; without noising keys, zero ablation alone says whether the head is needed.</summary>
    static Finding? Heads(ResultsView v)
    {
        var last = v.Mat("head_z_patch_last_recovery");
        if (last is null) return null;
        var all = v.Mat("head_z_patch_all_recovery");
        var noise = v.Mat("noise_head_z_all_fraction");
        var kept = v.AblationFraction("head", "clean");
        var parts = new List<string>();
        var minor = new List<string>();
        foreach (var (l, h) in TopHeads(v).Where(t => At(last, t.l, t.h) is not null))
        {
            if (Negligible(v, l, h)) { minor.Add($"L{l}H{h}"); continue; }
            string s = $"L{l}H{h}: patching recovers {F2(last[l][h])}";
            if (At(all, l, h) is double a) s += $" (all positions {F2(a)})";
            if (At(noise, l, h) is double n)
            {
                s += $"; noised, the clean run keeps {F2(n)} of its logit diff";
                if (At(kept, l, h) is double z) s += $", zeroed {F2(z)}";
                s += " — " + Experiments.NoisingResult.Verdict(At(all, l, h), n);
            }
            else if (At(kept, l, h) is double z)
                s += z < 0.8 ? $", and zeroing it on the clean run keeps {F2(z)} of the logit diff — needed" : $"; zeroing it keeps {F2(z)} — not needed alone";
            parts.Add(s);
        }
        if (minor.Count > 0)
            parts.Add($"{string.Join(" and ", minor)} {(minor.Count == 1 ? "does" : "do")} little (|recovery| below {F2(NegligibleBelow)}{(noise is null ? "" : ", noising keeps the clean logit diff")})");
        return parts.Count == 0 ? null : new("Top heads: " + string.Join("; ", parts) + ".", "heads");
    }

    /// <summary>Below this |recovery| (and this far from 1 when noised) a top head is reported as doing little.</summary>
    public const double NegligibleBelow = 0.05;

    static bool Negligible(ResultsView v, int l, int h)
    {
        static bool Small(double? x) => x is not double d || Math.Abs(d) < NegligibleBelow;
        return Small(At(v.Mat("head_z_patch_last_recovery"), l, h)) && Small(At(v.Mat("head_z_patch_all_recovery"), l, h))
            && Small(At(v.Mat("noise_head_z_all_fraction"), l, h) is double n ? 1 - n : null);
    }

    /// <summary>Which input of each top head carries its signal: the largest of q, k, v and pattern patching.</summary>
    static Finding? HeadInputs(ResultsView v)
    {
        var q = v.Mat("head_q_patch_all_recovery"); var k = v.Mat("head_k_patch_all_recovery");
        var vv = v.Mat("head_v_patch_all_recovery"); var pat = v.Mat("head_pattern_patch_all_recovery");
        if (q is null || k is null || vv is null || pat is null || q[0].Length == 0 || k[0].Length == 0) return null;
        int group = Math.Max(1, q[0].Length / k[0].Length);
        var parts = new List<string>();
        foreach (var (l, h) in TopHeads(v).Where(t => !Negligible(v, t.l, t.h)))
        {
            var inputs = new (string Name, double? X)[] { ("q", At(q, l, h)), ("k", At(k, l, h / group)), ("v", At(vv, l, h / group)), ("pattern", At(pat, l, h)) }
                .Where(t => t.X is not null).Select(t => (t.Name, X: t.X!.Value)).ToList();
            if (inputs.Count == 0) continue;
            var best = inputs.MaxBy(t => Math.Abs(t.X));
            string others = string.Join(", ", inputs.Where(t => t.Name != best.Name).Select(t => $"{t.Name} {F2(t.X)}"));
            parts.Add(Math.Abs(best.X) < 0.1
                ? $"L{l}H{h} through no single input (largest: {best.Name} {F2(best.X)})"
                : $"L{l}H{h} through {(best.Name == "v" ? "what it moves" : "where it looks")}: {best.Name} recovers {F2(best.X)} ({others})");
        }
        return parts.Count == 0 ? null : new("Head inputs (each patched alone at every position): " + string.Join("; ", parts) + ".", "head-inputs");
    }

    /// <summary>What reads the sender: its strongest receivers (q/k/v of later heads, MLPs) and its effect through the
    /// residual stream alone; top heads among the receivers are named as such.</summary>
    static Finding? PathPatching(ResultsView v)
    {
        var q = v.Mat("path_patch_to_q_recovery"); var k = v.Mat("path_patch_to_k_recovery"); var vv = v.Mat("path_patch_to_v_recovery");
        var mlp = v.Vec("path_patch_to_mlp_recovery");
        if (q is null || k is null || vv is null || mlp is null || k[0].Length == 0) return null;
        string sender = v.Node("path_patch_senders") is JsonArray s && s.Count > 0
            ? string.Join(" + ", s.Select(x => ResultsView.Ints(x) is { Length: 2 } p ? $"L{p[0]}H{p[1]}" : "?"))
            : v.Ints("path_patch_sender") is { Length: 2 } one ? $"L{one[0]}H{one[1]}" : "the sender";
        int group = Math.Max(1, q[0].Length / k[0].Length);
        var top = TopHeads(v).ToHashSet();
        var receivers = new List<(string Name, double X)>();
        for (int l = 0; l < q.Length; l++)
        {
            for (int h = 0; h < q[l].Length; h++) receivers.Add(($"L{l}H{h} q{(top.Contains((l, h)) ? " (a top head)" : "")}", q[l][h]));
            foreach (var (name, g) in new[] { ("k", k), ("v", vv) })
                for (int j = 0; l < g.Length && j < g[l].Length; j++)
                {
                    bool isTop = Enumerable.Range(j * group, group).Any(h => top.Contains((l, h)));
                    receivers.Add((group == 1 ? $"L{l}H{j} {name}{(isTop ? " (a top head)" : "")}" : $"L{l}G{j} {name}", g[l][j]));
                }
            if (l < mlp.Length) receivers.Add(($"MLP L{l}", mlp[l]));
        }
        var strongest = receivers.Where(t => double.IsFinite(t.X)).OrderByDescending(t => Math.Abs(t.X)).Take(3).ToList();
        if (strongest.Count == 0) return null;
        string text = $"Path patching from {sender}: it is read most by {string.Join(", ", strongest.Select(t => $"{t.Name} ({F2(t.X)})"))}";
        if (v.Num("path_patch_to_resid_final_recovery") is double r) text += $"; through the MLPs and the residual stream alone it recovers {F2(r)}";
        return new(text + ".", "path");
    }

    static Finding? LogitLens(ResultsView v)
    {
        var c = v.Vec("logit_lens_logit_diff_clean"); var k = v.Vec("logit_lens_logit_diff_corrupted");
        if (c is not { Length: > 1 } || k is not { Length: > 1 }) return null;
        int n = Math.Min(c.Length, k.Length);
        string Where(int i) => i < n - 1 ? $"the residual stream before layer {i}" : "the final layer's output";
        int split = Enumerable.Range(0, n).FirstOrDefault(i => c[i] > 0 && k[i] < 0, -1);
        string s = split < 0
            ? $"Logit lens: the two runs never prefer opposite answers at any depth (final: clean {S2(c[n - 1])}, corrupted {S2(k[n - 1])})."
            : $"Logit lens: the answer appears in {Where(split)}, where the clean run first prefers {Answer(v, "clean")} ({S2(c[split])}) and the corrupted run {Answer(v, "corrupted")} ({S2(k[split])}).";
        return new(s, "logit-lens");
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
