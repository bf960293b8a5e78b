using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Experiments;
using Spectre.Console;

namespace SharpLens.Cli;

/// <summary>The console sections of the circuit questions: which input of a head matters, necessity vs sufficiency,
/// what reads the sender (path patching), and the logit lens. Each is left out when its keys are.</summary>
internal sealed partial class StudyConsole
{
    static double[]? Row(JsonObject r, string key) => r[key] is JsonArray a ? a.Select(x => x!.GetValue<double>()).ToArray() : null;
    static double[][]? Grid(JsonObject r, string key) => r[key] is JsonArray a ? a.Select(row => row!.AsArray().Select(x => x!.GetValue<double>()).ToArray()).ToArray() : null;

    /// <summary>The heads the tables single out: <c>top_heads</c>, else the largest |all-position head patching|.</summary>
    static List<(int L, int H)> FocusHeads(JsonObject r, int count)
    {
        if (r["top_heads"] is JsonArray t && t.Count > 0) return t.Select(x => (x![0]!.GetValue<int>(), x[1]!.GetValue<int>())).ToList();
        var z = Grid(r, "head_z_patch_all_recovery") ?? Grid(r, "head_q_patch_all_recovery");
        if (z is null) return [];
        return z.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).OrderByDescending(x => Math.Abs(x.v)).Take(count).Select(x => (x.l, x.h)).ToList();
    }

    void CircuitSummary(JsonObject r)
    {
        HeadInputs(r);
        NecessitySufficiency(r);
        if (r["path_patch_to_q_recovery"] is not null) PathPatching(r);
        LogitLens(r);
    }

    void HeadInputs(JsonObject r)
    {
        var q = Grid(r, "head_q_patch_all_recovery"); var k = Grid(r, "head_k_patch_all_recovery");
        var v = Grid(r, "head_v_patch_all_recovery"); var pat = Grid(r, "head_pattern_patch_all_recovery");
        if (q is null || k is null || v is null || pat is null) return;
        var z = Grid(r, "head_z_patch_all_recovery");
        int group = Math.Max(1, q[0].Length / Math.Max(1, k[0].Length));
        var t = new Table().Title("Which input of a head carries the signal (clean → corrupted at every position, recovery)")
            .AddColumns("head", "z (output)", "q (where from)", "k (kv head)", "v (what moves)", "pattern");
        foreach (var (l, h) in FocusHeads(r, 6))
            t.AddRow($"L{l}H{h}", z is null ? "–" : Colour(z[l][h]), Colour(q[l][h]), $"{Colour(k[l][h / group])} [grey]G{h / group}[/]",
                $"{Colour(v[l][h / group])} [grey]G{h / group}[/]", Colour(pat[l][h]));
        t.Caption("q, k and pattern change where the head looks; v changes what it moves" + (group > 1 ? $"; k and v are per key/value head (G = H / {group})" : ""));
        console.Write(t);
    }

    /// <summary>The 2×2: denoising (corrupted run, clean activation: sufficiency) beside noising (clean run, corrupted
    /// activation: necessity), with zero ablation for contrast.</summary>
    void NecessitySufficiency(JsonObject r)
    {
        var na = Row(r, "noise_attn_out_all_fraction"); var nm = Row(r, "noise_mlp_out_all_fraction"); var nh = Grid(r, "noise_head_z_all_fraction");
        if (na is null || nm is null || nh is null) return;
        var da = Row(r, "attn_out_patch_all_recovery"); var dm = Row(r, "mlp_out_patch_all_recovery"); var dh = Grid(r, "head_z_patch_all_recovery");
        var za = Row(r, "zero_ablate_attn_clean_fraction"); var zm = Row(r, "zero_ablate_mlp_clean_fraction"); var zh = Grid(r, "zero_ablate_head_clean_fraction");
        var t = new Table().Title("Necessity and sufficiency (every position)")
            .AddColumns("component", "denoise (recovery)", "noise (kept)", "zero-ablated (kept)", "reads as");
        void Add(string name, double? denoise, double noise, double? zero) => t.AddRow(name, denoise is double d ? Colour(d) : "–", Colour(noise),
            zero is double z ? $"{z:0.00}" : "–", Verdict(denoise, noise));
        for (int l = 0; l < na.Length; l++) Add($"attn L{l}", da?[l], na[l], za?[l]);
        for (int l = 0; l < nm.Length; l++) Add($"MLP L{l}", dm?[l], nm[l], zm?[l]);
        foreach (var (l, h) in FocusHeads(r, 4)) Add($"L{l}H{h}", dh?[l][h], nh[l][h], zh?[l][h]);
        t.Caption("denoise: the corrupted run with the component from the clean run (sufficient: ≥ 0.5); noise: the clean run with it from the corrupted run " +
            "(necessary: keeps ≤ 0.5 of the clean logit diff); zero-ablated: the clean run with it set to 0, for contrast");
        console.Write(t);
    }

    static string Verdict(double? denoise, double noise) => NoisingResult.Verdict(denoise, noise) switch
    {
        "necessary and sufficient" => "[green]necessary and sufficient[/]",
        "neither" => "[grey]neither[/]",
        var v => $"[yellow]{v}[/]",
    };

    /// <summary>What reads the sender: a shaded (layer × receiver) grid for q | k | v and the MLP, then the strongest
    /// receivers with the direct path beside the exact one. Shared by <c>study</c> and <c>path</c>.</summary>
    public void PathPatching(JsonObject r)
    {
        var q = Grid(r, "path_patch_to_q_recovery"); var k = Grid(r, "path_patch_to_k_recovery"); var v = Grid(r, "path_patch_to_v_recovery");
        var mlp = Row(r, "path_patch_to_mlp_recovery");
        if (q is null || k is null || v is null || mlp is null) return;
        var dq = Grid(r, "path_patch_direct_to_q_recovery"); var dk = Grid(r, "path_patch_direct_to_k_recovery"); var dv = Grid(r, "path_patch_direct_to_v_recovery");
        string senders = r["path_patch_senders"] is JsonArray s
            ? string.Join(" + ", s.Select(x => $"L{x![0]}H{x[1]}")) : r["path_patch_sender"] is JsonArray one ? $"L{one[0]}H{one[1]}" : "?";
        double resid = r["path_patch_to_resid_final_recovery"]?.GetValue<double>() ?? double.NaN;
        console.MarkupLine($"\n[bold]Path patching[/] from {senders}: what reads it (receiver's input from the run where only the sender is clean; recovery)");
        console.MarkupLine($"  through the MLPs and the residual stream alone (no other head): [bold]{resid:0.000}[/]");
        var head = new StringBuilder("      ");
        foreach (var (name, g) in new[] { ("q", q), ("k", k), ("v", v) }) head.Append(name.PadRight(2 * g[0].Length + 2));
        console.MarkupLine($"[grey]{head}MLP[/]");
        for (int l = 0; l < q.Length; l++)
        {
            var line = new StringBuilder($"L{l,-3}  ");
            foreach (var g in new[] { q, k, v })
            {
                foreach (double x in g[l]) line.Append($"[{Background(x)}]{Shade(x)}{Shade(x)}[/]");
                line.Append("  ");
            }
            line.Append($"[{Background(mlp[l])}]{Shade(mlp[l])}{Shade(mlp[l])}[/] {mlp[l]:0.00}");
            console.MarkupLine(line.ToString());
        }
        var all = new List<(string Name, double Exact, double? Direct)>();
        foreach (var (name, g, d) in new[] { ("q", q, dq), ("k", k, dk), ("v", v, dv) })
            for (int l = 0; l < g.Length; l++)
                for (int h = 0; h < g[l].Length; h++) all.Add(($"L{l}{(name == "q" ? "H" : "G")}{h} {name}", g[l][h], d?[l][h]));
        for (int l = 0; l < mlp.Length; l++) all.Add(($"MLP L{l}", mlp[l], null));
        var t = new Table().Title("Strongest receivers").AddColumns("receiver", "exact path", "direct path", "direct − exact");
        foreach (var x in all.OrderByDescending(x => Math.Abs(x.Exact)).Take(10))
            t.AddRow(x.Name, Colour(x.Exact), x.Direct is double d ? Colour(d) : "–", x.Direct is double e ? $"{e - x.Exact:+0.000;-0.000}" : "–");
        t.Caption("exact: every other head frozen, MLPs recomputed (Wang et al.); direct: the sender's output added straight to the receiver's input (TransformerLens); H = query head, G = key/value head");
        console.Write(t);
    }

    void LogitLens(JsonObject r)
    {
        var c = Row(r, "logit_lens_logit_diff_clean"); var k = Row(r, "logit_lens_logit_diff_corrupted");
        if (c is null || k is null) return;
        double max = Math.Max(1e-9, c.Concat(k).Max(Math.Abs));
        var t = new Table().Title("Logit lens: logit diff read from the residual stream at the final position").AddColumns("read at", "clean", "corrupted", "");
        for (int i = 0; i < c.Length; i++)
        {
            string where = i < c.Length - 1 ? $"resid_pre L{i}" : "final resid_post";
            t.AddRow(where, $"{c[i]:+0.00;-0.00}", $"{k[i]:+0.00;-0.00}", $"[green]{Bar(c[i], max)}[/]\n[red]{Bar(k[i], max)}[/]");
        }
        console.Write(t);
    }

    static string Bar(double v, double max)
    {
        int n = (int)Math.Round(Math.Abs(v) / max * 20);
        return (v < 0 ? "-" : "+") + new string('█', n);
    }
}
