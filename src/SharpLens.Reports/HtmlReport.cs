using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using static SharpLens.Reports.ResultsView;

namespace SharpLens.Reports;

/// <summary>Builds the self-contained report.html: page shell, styles, the inline script, metadata,
/// tokenization and baselines; the figure sections live in <see cref="HtmlSections"/>.</summary>
internal static class HtmlReport
{
    public static string Render(JsonObject results, CancellationToken ct)
    {
        var v = ResultsView.For(results);
        var body = new StringBuilder();
        var s = new HtmlSections(v);
        // What was found first, then the figures; the run's metadata and the token table, which a reader consults, last.
        var circuits = new CircuitSections(v);
        var sections = new (string id, string title, Func<string> render)[]
        {
            ("summary", "Summary", () => Summary(results, v)), ("baselines", "Baselines", () => Baselines(v)),
            ("resid", "Residual stream patching", s.Residual), ("attn-mlp", "Attention vs MLP output patching", s.AttnVsMlp),
            ("heads", "Attention head patching", s.HeadGrids), ("head-pair", "Head pairs", s.HeadPairs), ("control", "Control patch vs real patch", s.Control),
            ("ablation", "Zero ablation", s.Ablation), ("attention", "Attention patterns", s.Attention),
            ("dla", "Direct logit attribution", s.Dla), ("ov", "OV circuit copying", s.OvRanks),
            ("path", "Path patching: what reads the sender", circuits.PathPatching), ("head-inputs", "Which input of a head carries the signal", circuits.HeadInputs),
            ("necessity", "Necessity and sufficiency", circuits.Necessity), ("logit-lens", "Logit lens", circuits.LogitLens),
            (AtpSection.Id, AtpSection.Title, new AtpSection(v).Render),
            ("tokens", "Tokenization", () => Tokenization(v)), ("meta", "Run", () => Header(v)), ("timings", "Timings", () => Timings(v)),
        };
        foreach (var (id, title, render) in sections)
        {
            ct.ThrowIfCancellationRequested();
            // A malformed key (wrong shape, inconsistent lengths) costs its own section, not the whole report.
            try { body.Append(render()); }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NullReferenceException or FormatException or OverflowException)
            {
                body.Append(Section(id, title, "", $"<p class=\"note\">Skipped: this section's data is malformed ({H(e.GetType().Name)}: {H(e.Message)}).</p>"));
            }
        }

        var json = results.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.Default }).Replace("<", "\\u003c");
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        // a dataset study's page shows the figures of its means, then the dataset's own sections (ReportWriter)
        bool dataset = DatasetResults.IsDataset(results);
        sb.Append(dataset ? "<title>SharpLens dataset study — " : "<title>SharpLens report — ").Append(H(v.Str("model", "path") ?? "study")).Append("</title>");
        sb.Append("<style>").Append(Css).Append(AttentionViewer.Css).Append("</style></head>\n<body>");
        sb.Append(dataset ? "<header class=\"top\"><h1>SharpLens dataset study (means over the pairs)</h1>" : "<header class=\"top\"><h1>SharpLens activation-patching report</h1>");
        sb.Append("<p id=\"status\" class=\"status\">").Append(H(Subtitle(v))).Append("</p>");
        sb.Append(Toc).Append("</header><main>");
        sb.Append(body);
        sb.Append("</main><div id=\"tip\" class=\"tip\"></div>");
        sb.Append("<script type=\"application/json\" id=\"sharplens-results\">").Append(json).Append("</script>");
        sb.Append("<script>").Append(AttentionViewer.Js).Append(Js).Append("</script></body></html>\n");
        return sb.ToString();
    }

    const string Toc = "<nav class=\"toc\"><a href=\"#summary\">Summary</a><a href=\"#baselines\">Baselines</a>" +
        "<a href=\"#resid\">Residual</a><a href=\"#attn-mlp\">Attn vs MLP</a><a href=\"#heads\">Heads</a><a href=\"#head-pair\">Head pairs</a>" +
        "<a href=\"#control\">Control</a><a href=\"#ablation\">Ablation</a><a href=\"#attention\">Attention</a><a href=\"#dla\">DLA</a>" +
        "<a href=\"#ov\">OV copying</a><a href=\"#path\">Path patching</a><a href=\"#head-inputs\">Head inputs</a><a href=\"#necessity\">Necessity</a>" +
        "<a href=\"#logit-lens\">Logit lens</a><a href=\"#atp\">AtP vs exact</a><a href=\"#tokens\">Tokens</a><a href=\"#meta\">Run</a><a href=\"#timings\">Timings</a></nav>";

    /// <summary>The line under the title: model, architecture and size.</summary>
    static string Subtitle(ResultsView v)
    {
        var parts = new List<string>();
        if (v.Str("model", "path") is string p) parts.Add(p);
        if (v.Str("model", "architecture") is string a) parts.Add(a);
        if (v.Node("model") is JsonObject m && Num(m["n_layers"]) is double l && Num(m["n_heads"]) is double h) parts.Add($"{l:0} layers × {h:0} heads");
        if (v.Str("processing") is string pr) parts.Add("processing " + pr);
        return parts.Count == 0 ? "activation patching study" : string.Join(" · ", parts);
    }

    /// <summary>The findings in sentences, each linked to the section whose figure shows it, and the two prompts.</summary>
    static string Summary(JsonObject results, ResultsView v)
    {
        var findings = StudyFindings.Of(results);
        var sb = new StringBuilder();
        string? c = v.Str("prompts", "clean"), r = v.Str("prompts", "corrupted");
        if (c is not null && r is not null)
            sb.Append($"<p class=\"prompts\"><span class=\"pl\">clean</span> <span class=\"t\">{H(c)}</span><br><span class=\"pl\">corrupted</span> <span class=\"t\">{H(r)}</span></p>");
        if (findings.Count == 0) sb.Append(Missing("clean_logit_diff", "resid_pre_patch_recovery"));
        else
            sb.Append("<ul class=\"findings\">").Append(string.Concat(findings.Select(f =>
                $"<li data-anchor=\"{H(f.Anchor)}\">{H(f.Text)} <a href=\"#{H(f.Anchor)}\">figure&nbsp;→</a></li>"))).Append("</ul>");
        return Section("summary", "Summary", "", sb.ToString());
    }

    /// <summary>A section with an id, a heading, an intro paragraph and content.</summary>
    public static string Section(string id, string title, string intro, string content) =>
        $"<section id=\"{id}\"><h2>{H(title)}</h2>{(intro.Length > 0 ? $"<p class=\"intro\">{intro}</p>" : "")}{content}</section>\n";

    /// <summary>The note shown in place of a section whose data is missing.</summary>
    public static string Missing(params string[] keys) =>
        $"<p class=\"note\">Skipped: the results have no {string.Join(" / ", keys.Select(k => $"<code>{H(k)}</code>"))}.</p>";

    static string Header(ResultsView v)
    {
        var rows = new List<(string, string)>();
        void Add(string k, string? val) { if (!string.IsNullOrEmpty(val)) rows.Add((k, H(val))); }
        Add("SharpLens version", v.Str("sharplens_version"));
        Add("Processing", v.Str("processing") is string p ? p + (p == "tl" ? " (TransformerLens semantics for DLA and head ablation)" : " (Hugging Face semantics)") : null);
        if (v.Node("model") is JsonObject m)
        {
            Add("Model", Str(m["path"]));
            Add("Architecture", Str(m["architecture"]));
            var dims = new[] { "n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_mlp", "vocab_size" }
                .Where(k => Num(m[k]) is not null).Select(k => $"{k} = {Num(m[k])!.Value.ToString(CultureInfo.InvariantCulture)}");
            Add("Dimensions", string.Join(", ", dims));
        }
        foreach (var run in new[] { "clean", "corrupted", "control" })
            Add($"Prompt ({run})", v.Str("prompts", run) ?? (run == "control" ? v.Str("prompts", "unrelated") : null));
        Add("Control source", v.Str("control_source"));
        Add("Answers", v.Str("answers", "clean") is string a ? $"clean “{Visible(a)}” vs corrupted “{Visible(v.Str("answers", "corrupted") ?? "?")}”" : null);
        string table = rows.Count == 0 ? Missing("model", "prompts")
            : "<table class=\"kv\">" + string.Concat(rows.Select(r => $"<tr><th>{H(r.Item1)}</th><td>{r.Item2}</td></tr>")) + "</table>";
        return Section("meta", "Run", "Every experiment runs the <b>corrupted</b> prompt and overwrites one activation with its value from a source run " +
            "(the <b>clean</b> run, or the <b>control</b> run for the control row); <i>recovery</i> = (patched − corrupted) / (clean − corrupted) " +
            "of the logit difference logit(clean answer) − logit(corrupted answer) at the final position: 0 = corrupted behaviour, 1 = clean behaviour.", table);
    }

    /// <summary>Positions where clean and corrupted differ, from the results or by comparing tokens.</summary>
    public static HashSet<int> Differing(ResultsView v)
    {
        var d = v.Ints("differing_positions");
        if (d is not null) return d.ToHashSet();
        var a = Ints((v.Node("tokens") as JsonObject)?["clean"]);
        var b = Ints((v.Node("tokens") as JsonObject)?["corrupted"]);
        var set = new HashSet<int>();
        if (a is null || b is null) return set;
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++) if (i >= a.Length || i >= b.Length || a[i] != b[i]) set.Add(i);
        return set;
    }

    static string Tokenization(ResultsView v)
    {
        var clean = v.TokenStrings("clean");
        var corr = v.TokenStrings("corrupted");
        if (clean is null || corr is null) return Section("tokens", "Tokenization", "", Missing("token_strings", "tokens"));
        var ctrl = v.TokenStrings("control");
        var ids = v.Node("tokens") as JsonObject;
        int[]? ic = Ints(ids?["clean"]), ir = Ints(ids?["corrupted"]), ik = Ints(ids?["control"]);
        var diff = Differing(v);
        var sb = new StringBuilder("<table class=\"tok\"><thead><tr><th>pos</th><th>clean token</th><th>corrupted token</th>");
        if (ctrl is not null) sb.Append("<th>control token</th>");
        sb.Append("</tr></thead><tbody>");
        static string Cell(string[] s, int[]? id, int i) => i < s.Length
            ? $"<td><span class=\"t\">{HtmlToken(s[i])}</span>{(id is not null && i < id.Length ? $" <span class=\"id\">{id[i]}</span>" : "")}</td>" : "<td></td>";
        for (int i = 0; i < Math.Max(clean.Length, corr.Length); i++)
        {
            sb.Append(diff.Contains(i) ? "<tr class=\"diff\">" : "<tr>").Append($"<td>{i}</td>");
            sb.Append(Cell(clean, ic, i)).Append(Cell(corr, ir, i));
            if (ctrl is not null) sb.Append(Cell(ctrl, ik, i));
            sb.Append("</tr>");
        }
        sb.Append("</tbody></table>");
        string dl = diff.Count == 0 ? "none recorded" : string.Join(", ", diff.OrderBy(i => i));
        return Section("tokens", "Tokenization", $"One row per position (grey numbers are token ids); highlighted rows are the positions where the clean and corrupted prompts differ: {dl}. Spaces are shown as ·, newlines as ⏎.", sb.ToString());
    }

    static string Baselines(ResultsView v)
    {
        double? c = v.Num("clean_logit_diff"), r = v.Num("corrupted_logit_diff");
        if (c is null || r is null) return Section("baselines", "Baselines", "", Missing("clean_logit_diff", "corrupted_logit_diff"));
        string ac = Visible(v.Str("answers", "clean") ?? "clean answer"), ar = Visible(v.Str("answers", "corrupted") ?? "corrupted answer");
        string Card(string label, double x, string cls) => $"<div class=\"card {cls}\" data-v=\"{F(x, 6)}\"><div class=\"big\">{F(x, 3)}</div><div>{H(label)}</div></div>";
        var body = "<div class=\"cards\">" + Card("clean run: logit diff", c.Value, "pos") + Card("corrupted run: logit diff", r.Value, "neg") +
            Card("gap (clean − corrupted) = denominator of recovery", c.Value - r.Value, "") + "</div>";
        return Section("baselines", "Baselines", $"Unpatched logit differences logit(“{H(ac)}”) − logit(“{H(ar)}”) at the final position of each run.", body);
    }

    static string Timings(ResultsView v)
    {
        if (v.Node("timings") is not JsonObject t || t.Count == 0) return Section("timings", "Timings", "", Missing("timings"));
        var rows = t.Where(kv => Num(kv.Value) is not null).Select(kv => $"<tr><th>{H(kv.Key)}</th><td>{F(Num(kv.Value)!.Value, 3)} s</td></tr>");
        return Section("timings", "Timings", "Wall-clock seconds per stage of the study.", "<table class=\"kv\">" + string.Concat(rows) + "</table>");
    }

    internal const string Css = """
body{margin:0;font:15px/1.5 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header.top{background:#1f2a44;color:#fff;padding:18px 32px 10px}header.top h1{margin:0 0 4px;font-size:24px;font-weight:600}
.status{margin:0 0 8px;font-size:13px;color:#c9d4ea}.status.bad{color:#fecaca}
ul.findings{margin:4px 0 0;padding-left:20px}ul.findings li{margin:3px 0;max-width:1040px}ul.findings a{font-size:13px;white-space:nowrap}
.prompts{margin:0 0 6px;font-size:13px;line-height:1.7}.prompts .pl{display:inline-block;width:80px;color:#4b5563}.toc a{color:#fff;margin-right:14px;font-size:13px;text-decoration:none;opacity:.85}.toc a:hover{opacity:1;text-decoration:underline}
main{max-width:1280px;margin:0 auto;padding:8px 28px 40px}
section{background:#fff;border:1px solid #e3e6eb;border-radius:10px;padding:14px 22px 18px;margin:18px 0;box-shadow:0 1px 2px rgba(0,0,0,.04)}
h2{font-size:20px;margin:4px 0 6px;color:#1f2a44}h3{font-size:15px;margin:10px 0 4px}
.intro{color:#4b5563;margin:0 0 10px;max-width:980px}.note{color:#8a6d00;background:#fff8e1;border-left:4px solid #f5c518;padding:6px 10px}
figure.fig{margin:12px 0 18px;overflow-x:auto}.scroll{overflow-x:auto;max-width:100%}figcaption{font-size:13px;color:#4b5563;max-width:980px;margin-top:4px}
.figrow{display:flex;flex-wrap:wrap;gap:8px 36px;align-items:flex-start}.figrow>figure.fig{width:min-content;min-width:340px}.figrow>figure.fig figcaption{max-width:none}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
table.kv th{color:#4b5563;font-weight:600;white-space:nowrap}table.tok{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace}
table.tok tr.diff td{background:#fff1c2;font-weight:700}.id{color:#9aa1ab;font-size:11px}
.t,.atok{white-space:pre;font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace}
.cards{display:flex;gap:16px;flex-wrap:wrap}.card{border:1px solid #e3e6eb;border-radius:8px;padding:10px 18px;min-width:180px;font-size:13px;color:#4b5563}
.card .big{font-size:26px;font-weight:600;color:#1f2328}.card.pos .big{color:#b2182b}.card.neg .big{color:#2166ac}
svg.chart text{font-family:"DejaVu Sans",sans-serif;fill:#1f2328}
svg text.cell{font-size:10px;text-anchor:middle}svg text.cell.inv{fill:#fff}svg text.rl{font-size:11px;text-anchor:end}
svg text.cl{font-size:11px;text-anchor:end;font-family:"DejaVu Sans Mono",monospace}svg text.hlt{font-weight:700;fill:#b45309}
svg text.ax{font-size:12px;text-anchor:middle;fill:#4b5563}svg text.lg{font-size:12px}svg text.lt{font-size:11px;text-anchor:middle}
svg rect.hl{fill:none;stroke:#f59e0b;stroke-width:2}svg line.grid{stroke:#eceef1}svg line.zero{stroke:#6b7280;stroke-width:1.2}
svg rect[data-v]:hover{stroke:#111;stroke-width:1.5}
.legend{display:flex;align-items:center;gap:6px;font-size:12px;color:#4b5563}
.attn{line-height:2.1;margin:4px 0 10px}.atok{padding:2px 1px;border-radius:3px;margin-right:1px;border:1px solid #eceef1}
.atok.q{outline:2px solid #1f2a44}.runlabel{display:inline-block;width:90px;font-size:12px;color:#4b5563}
.tip{position:absolute;display:none;background:#1f2328;color:#fff;font-size:12px;padding:4px 8px;border-radius:4px;pointer-events:none;white-space:pre;z-index:10}
""";

    const string Js = """
(function(){
  var body=document.body;
  window.addEventListener('error',function(e){body.setAttribute('data-script-error',String(e.message||e));});
  var tip=document.getElementById('tip');
  document.addEventListener('mousemove',function(e){
    var el=e.target&&e.target.closest?e.target.closest('[data-tip]'):null;
    if(!el){tip.style.display='none';return;}
    tip.textContent=el.getAttribute('data-tip');tip.style.display='block';
    tip.style.left=(e.pageX+14)+'px';tip.style.top=(e.pageY+14)+'px';
  });
  document.querySelectorAll('svg rect[data-v]').forEach(function(r){
    var t=r.querySelector('title');if(t){r.setAttribute('data-tip',t.textContent);t.remove();}
  });
  var data=JSON.parse(document.getElementById('sharplens-results').textContent);
  var figs=document.querySelectorAll('figure.fig'),drawn=0;
  figs.forEach(function(f){
    var marks=f.querySelectorAll('[data-v]'),ok=0;
    marks.forEach(function(m){var b=m.getBoundingClientRect();if(b.width>0&&b.height>0)ok++;});
    var good=marks.length>0&&ok===marks.length;
    f.setAttribute('data-drawn',good?'1':'0');if(good)drawn++;
  });
  body.setAttribute('data-figures-total',String(figs.length));
  body.setAttribute('data-figures-drawn',String(drawn));
  body.setAttribute('data-results-keys',String(Object.keys(data).length));
  if(drawn<figs.length){var st=document.getElementById('status');st.textContent+=' · '+(figs.length-drawn)+' of '+figs.length+' figures could not be drawn';st.className+=' bad';}
})();
""";
}
