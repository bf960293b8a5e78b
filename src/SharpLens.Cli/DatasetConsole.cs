using System.Globalization;
using System.Text.Json.Nodes;
using SharpLens.IO;
using Spectre.Console;

namespace SharpLens.Cli;

/// <summary>The console summary of a dataset study: pairs used and excluded, then means with their 95% intervals.</summary>
internal sealed class DatasetConsole(IAnsiConsole console)
{
    /// <summary>Excluded pairs listed by line before the rest are counted.</summary>
    const int ListedExclusions = 10;

    public void Summary(JsonObject r)
    {
        int n = (int)r["n_pairs"]!, used = (int)r["n_used"]!;
        console.MarkupLine($"[bold]{used} of {n} pairs used[/] (baseline rule {Markup.Escape((string?)r["baseline_rule"] ?? "sign")}); "
            + $"bootstrap {r["bootstrap"]?["resamples"]} resamples, seed {r["bootstrap"]?["seed"]}");
        var excluded = r["excluded"]?.AsArray() ?? [];
        foreach (var e in excluded.Take(ListedExclusions))
            console.MarkupLine($"  [yellow]excluded[/] line {e!["line"]}: {Markup.Escape(UntrustedText.Escape((string?)e["reason"] ?? ""))}");
        if (excluded.Count > ListedExclusions) console.MarkupLine($"  … and {excluded.Count - ListedExclusions} more excluded (results.json lists them all)");

        var t = new Table().Title("Means over the used pairs (95% bootstrap interval)").AddColumn("key").AddColumn(new TableColumn("mean").RightAligned())
            .AddColumn(new TableColumn("std").RightAligned()).AddColumn(new TableColumn("95% CI").RightAligned());
        foreach (var key in new[] { "clean_logit_diff", "corrupted_logit_diff" })
            if (Leaf(r, "mean", key) is { } mean) t.AddRow(key, F(mean), Leaf(r, "std", key) is { } s ? F(s) : "–", Ci(r["ci95"]?[key]));
        console.Write(t);

        LayerTable(r, "Patching recovery by layer (mean and 95% CI)", ["attn_out_patch_last_recovery", "mlp_out_patch_last_recovery", "attn_out_patch_all_recovery", "mlp_out_patch_all_recovery"]);
        LayerTable(r, "Ablated clean logit diff by layer: zero vs mean vs resample (mean and 95% CI)",
            ["zero_ablate_attn_clean_logit_diff", "mean_ablate_attn_clean_logit_diff", "resample_ablate_attn_clean_logit_diff",
             "zero_ablate_mlp_clean_logit_diff", "mean_ablate_mlp_clean_logit_diff", "resample_ablate_mlp_clean_logit_diff"]);
        TopHeads(r);
        if (r["not_aggregated"] is JsonObject skipped && skipped.Count > 0)
            console.MarkupLine($"[grey]not aggregated: {Markup.Escape(string.Join(", ", skipped.Select(kv => kv.Key)))} (results.json says why)[/]");
    }

    void LayerTable(JsonObject r, string title, string[] keys)
    {
        var present = keys.Where(k => r["mean"]?[k] is JsonArray).ToList();
        if (present.Count == 0) return;
        var t = new Table().Title(title).AddColumn("layer");
        foreach (var k in present) t.AddColumn(new TableColumn(Short(k)).RightAligned());
        int layers = r["mean"]![present[0]]!.AsArray().Count;
        for (int l = 0; l < layers; l++)
            t.AddRow([l.ToString(CultureInfo.InvariantCulture), .. present.Select(k => $"{F((double)r["mean"]![k]![l]!)} {Ci(r["ci95"]?[k]?[l])}")]);
        console.Write(t);
    }

    void TopHeads(JsonObject r)
    {
        if (r["mean"]?["head_z_patch_last_recovery"] is not JsonArray grid) return;
        var heads = grid.SelectMany((row, l) => row!.AsArray().Select((v, h) => (l, h, v: (double)v!)))
            .OrderByDescending(x => Math.Abs(x.v)).Take(5).ToList();
        var t = new Table().Title("Heads by mean final-position patching recovery").AddColumn("head").AddColumn(new TableColumn("mean").RightAligned())
            .AddColumn(new TableColumn("95% CI").RightAligned()).AddColumn(new TableColumn("std").RightAligned());
        foreach (var (l, h, v) in heads)
            t.AddRow($"L{l}H{h}", F(v), Ci(r["ci95"]?["head_z_patch_last_recovery"]?[l]?[h]),
                r["std"]?["head_z_patch_last_recovery"]?[l]?[h] is JsonValue s ? F((double)s) : "–");
        console.Write(t);
    }

    static string Short(string key) => key.Replace("_patch", "").Replace("_recovery", "").Replace("_clean_logit_diff", "").Replace("_ablate", "");

    static double? Leaf(JsonObject r, string section, string key) => r[section]?[key] is JsonValue v ? (double)v : null;

    static string F(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    static string Ci(JsonNode? ci) => ci is JsonArray a && a.Count == 2 && a[0] is JsonValue lo && a[1] is JsonValue hi
        ? $"[grey][[{F((double)lo)}, {F((double)hi)}]][/]" : "";
}
