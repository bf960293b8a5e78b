using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SharpLens.Reports;

/// <summary>
/// The report page of <c>sharplens circuit</c> (a results.json whose <c>command</c> is <c>circuit</c>): the faithfulness
/// figures, the circuit drawn as a graph (inline SVG: input at the top, each layer's heads then its MLP below, logits at
/// the bottom; an edge's width is its |EAP score|, blue where it helps the clean answer and red where it hurts; query
/// edges solid, key dashed, value dotted), and the edges as a table. One offline page: no script, no external resource.
/// </summary>
public static partial class CircuitReport
{
    /// <summary>Whether a results object is a circuit's (<c>"command": "circuit"</c>).</summary>
    public static bool IsCircuit(JsonObject results) => results["command"] is JsonValue v && v.TryGetValue(out string? s) && s == "circuit";

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
    static string F(double v, string fmt = "0.###") => double.IsFinite(v) ? v.ToString(fmt, CultureInfo.InvariantCulture) : "n/a";
    // Through the number's text: an in-memory value may hold an int, which TryGetValue<double> refuses.
    static double D(JsonNode? n) => n is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
        && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : double.NaN;
    static string? S(JsonNode? n) => n is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>The complete page.</summary>
    public static string Render(JsonObject r)
    {
        var edges = (r["circuit"]?["edges"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(e => (From: S(e["from"]) ?? "?", To: S(e["to"]) ?? "?", Port: S(e["port"]) ?? "", Score: D(e["score"]))).ToList();
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        sb.Append("<title>SharpLens circuit — ").Append(H(S(r["model"]?["path"]) ?? S(r["model"]) ?? "model")).Append("</title>");
        sb.Append("<style>").Append(Css).Append("</style></head>\n<body><main>");
        sb.Append("<h1>SharpLens circuit: edge attribution patching</h1>");
        sb.Append("<section id=\"summary\"><h2>Summary</h2><table class=\"kv\">");
        void Row(string k, string v) => sb.Append("<tr><th>").Append(H(k)).Append("</th><td>").Append(H(v)).Append("</td></tr>");
        Row("model", S(r["model"]?["path"]) ?? S(r["model"]) ?? "");
        Row("dataset", $"{S(r["dataset"]?["path"]) ?? ""} — {F(D(r["dataset"]?["n_pairs"]), "0")} pairs, {F(D(r["n_used"]), "0")} used");
        string method = S(r["method"]) == "eap-ig" ? $"EAP-IG ({F(D(r["ig_steps"]), "0")} steps)" : "EAP";
        Row("method", method);
        Row("edges", $"top {F(D(r["edges_requested"]), "0")} of {F(D(r["graph"]?["n_edges"]), "0")} by |score|; {edges.Count} after pruning those that cannot reach the logits");
        var ci = r["faithfulness_ci95"] as JsonArray;
        Row("faithfulness", $"{F(D(r["faithfulness"]))} (95 % CI {F(D(ci?[0]))} – {F(D(ci?[1]))}); of the mean logit diffs: {F(D(r["faithfulness_of_means"]))}");
        Row("mean logit diff", $"clean {F(D(r["clean_logit_diff"]))}, corrupted {F(D(r["corrupted_logit_diff"]))}, circuit alone {F(D(r["circuit_logit_diff"]))}");
        sb.Append("</table><p class=\"note\">Faithfulness = (circuit − corrupted) / (clean − corrupted), averaged over the pairs: the clean prompt ")
          .Append("runs with every edge outside the circuit carrying the corrupted run's value (exact edge patching); 1 = the circuit alone keeps ")
          .Append("the clean behaviour, 0 = none of it.</p></section>");
        double heads = D(r["graph"]?["n_heads"]);
        sb.Append("<section id=\"graph\"><h2>The circuit</h2>").Append(Graph(edges, double.IsFinite(heads) && heads >= 1 && heads <= 4096 ? (int)heads : 1));
        sb.Append("<p class=\"note\">Layers run top to bottom. Edge width: |EAP score| (logit-diff units); blue: patching the edge ")
          .Append("towards clean raises the clean answer's logit difference, red: lowers it. Into a head: solid = query, dashed = key, ")
          .Append("dotted = value input.</p></section>");
        sb.Append("<section id=\"edges\"><h2>Edges</h2><table class=\"grid\"><tr><th>#</th><th>from</th><th>to</th><th>input</th><th>score</th></tr>");
        for (int i = 0; i < edges.Count; i++)
        {
            var e = edges[i];
            sb.Append("<tr><td>").Append(i + 1).Append("</td><td>").Append(H(e.From)).Append("</td><td>").Append(H(e.To))
              .Append("</td><td>").Append(H(e.Port)).Append("</td><td class=\"num\">").Append(F(e.Score, "0.0000")).Append("</td></tr>");
        }
        sb.Append("</table></section>");
        if (r["excluded"] is JsonArray ex && ex.Count > 0)
        {
            sb.Append("<section id=\"excluded\"><h2>Pairs left out</h2><ul>");
            foreach (var x in ex.OfType<JsonObject>()) sb.Append("<li>line ").Append(F(D(x["line"]), "0")).Append(": ").Append(H(S(x["reason"]))).Append("</li>");
            sb.Append("</ul></section>");
        }
        sb.Append("</main></body></html>\n");
        return sb.ToString();
    }

    [GeneratedRegex(@"^a(\d+)\.(h|kv)(\d+)$")] private static partial Regex HeadName();
    [GeneratedRegex(@"^m(\d+)$")] private static partial Regex MlpName();

    /// <summary>A node's row (input 0; layer L's heads 2L + 1, its MLP 2L + 2; logits last) and its slot in that row.</summary>
    static (int Row, double Slot, bool Known) Place(string node, int lastRow)
    {
        if (node == "input") return (0, -1, true);
        if (node == "logits") return (lastRow, -1, true);
        if (HeadName().Match(node) is { Success: true } h)
            return (2 * int.Parse(h.Groups[1].Value, CultureInfo.InvariantCulture) + 1, int.Parse(h.Groups[3].Value, CultureInfo.InvariantCulture) + (h.Groups[2].Value == "kv" ? 0.5 : 0), true);
        if (MlpName().Match(node) is { Success: true } m) return (2 * int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 2, -1, true);
        return (lastRow, -1, false);
    }

    /// <summary>The SVG: rows that hold a circuit node, heads placed by index so a head keeps its column across layers.</summary>
    static string Graph(IReadOnlyList<(string From, string To, string Port, double Score)> edges, int heads)
    {
        if (edges.Count == 0) return "<p class=\"note\">The circuit is empty: no selected edge lies on a path from the input to the logits.</p>";
        var nodes = edges.SelectMany(e => new[] { e.From, e.To }).Distinct().ToList();
        int maxLayerRow = nodes.Select(n => Place(n, int.MaxValue).Row).Where(r => r != int.MaxValue).DefaultIfEmpty(0).Max();
        int lastRow = maxLayerRow + 1;
        var rows = nodes.Select(n => Place(n, lastRow).Row).Append(0).Append(lastRow).Distinct().Order().ToList();
        const double rowH = 92, nodeW = 64, nodeH = 26, margin = 40;
        double width = Math.Max(560, heads * (nodeW + 18) + 2 * margin), height = rows.Count * rowH + margin;
        var pos = new Dictionary<string, (double X, double Y)>();
        foreach (var n in nodes.Append("input").Append("logits").Distinct())
        {
            var (row, slot, _) = Place(n, lastRow);
            double x = slot < 0 ? width / 2 : margin + (slot + 0.5) * (width - 2 * margin) / heads;
            pos[n] = (x, margin / 2 + rows.IndexOf(row) * rowH + nodeH / 2);
        }
        double max = Math.Max(1e-12, edges.Max(e => double.IsFinite(e.Score) ? Math.Abs(e.Score) : 0));
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"circuit\" width=\"{width:0}\" height=\"{height:0}\" viewBox=\"0 0 {width:0} {height:0}\" role=\"img\" aria-label=\"circuit graph\">");
        foreach (var e in edges.OrderBy(e => Math.Abs(e.Score)))
        {
            var (x1, y1) = pos[e.From]; var (x2, y2) = pos[e.To];
            y1 += nodeH / 2; y2 -= nodeH / 2;
            double w = 0.8 + 7.2 * (double.IsFinite(e.Score) ? Math.Abs(e.Score) : 0) / max, dy = Math.Max(24, (y2 - y1) / 2);
            string colour = e.Score >= 0 ? "#2166ac" : "#b2182b";
            string dash = e.Port switch { "k" => " stroke-dasharray=\"7 4\"", "v" => " stroke-dasharray=\"2 3\"", _ => "" };
            string port = e.Port.Length > 0 ? $"<{e.Port}>" : "";
            sb.Append(CultureInfo.InvariantCulture, $"<path class=\"edge\" d=\"M{x1:0.#},{y1:0.#} C{x1:0.#},{y1 + dy:0.#} {x2:0.#},{y2 - dy:0.#} {x2:0.#},{y2:0.#}\" fill=\"none\" stroke=\"{colour}\" stroke-opacity=\"0.75\" stroke-width=\"{w:0.##}\"{dash}>");
            sb.Append("<title>").Append(H($"{e.From} → {e.To}{port}: {F(e.Score, "0.0000")}")).Append("</title></path>");
        }
        foreach (var (n, (x, y)) in pos)
        {
            string cls = n is "input" or "logits" ? "io" : MlpName().IsMatch(n) ? "mlp" : "head";
            sb.Append(CultureInfo.InvariantCulture, $"<g class=\"node {cls}\"><rect x=\"{x - nodeW / 2:0.#}\" y=\"{y - nodeH / 2:0.#}\" width=\"{nodeW}\" height=\"{nodeH}\" rx=\"6\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{y + 4:0.#}\" text-anchor=\"middle\">").Append(H(n)).Append("</text></g>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    const string Css = "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fff}main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem}" +
        "h1{font-size:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}table{border-collapse:collapse}" +
        "table.kv th{text-align:left;padding:.2rem 1rem .2rem 0;color:#555;font-weight:600}table.kv td{padding:.2rem 0}" +
        "table.grid th,table.grid td{border:1px solid #ddd;padding:.15rem .5rem}td.num{text-align:right;font-variant-numeric:tabular-nums}" +
        ".note{color:#555;font-size:.9rem}svg.circuit{display:block;max-width:100%;height:auto;margin:.5rem 0}" +
        ".node rect{fill:#fff;stroke:#444;stroke-width:1.2}.node.mlp rect{fill:#f3efe0}.node.io rect{fill:#e8e8e8}" +
        ".node text{font-size:12px;font-family:ui-monospace,monospace;fill:#222}";
}
