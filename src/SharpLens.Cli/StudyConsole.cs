using System.Text.Json.Nodes;
using SharpLens.Cli.Commands;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Model;
using SharpLens.Reports;
using Spectre.Console;

namespace SharpLens.Cli;

/// <summary>The study's console output: token checks, a progress bar with ETA over the sweeps, and the summary tables.</summary>
internal sealed partial class StudyConsole(IAnsiConsole console)
{
    public void Header(HookedTransformer m, PromptSet prompts, bool embedded)
    {
        var c = m.Config;
        console.MarkupLine($"[bold]Model[/] {Markup.Escape(UntrustedText.Escape(m.Directory))}{(embedded ? " [grey](embedded set-completion demo)[/]" : "")}");
        console.MarkupLine($"  {c.Architecture}: {c.NLayers} layers, {c.NHeads} heads ({c.NKvHeads} kv), d_model {c.DModel}, d_head {c.DHead}, vocab {c.VocabSize}");
        var diff = prompts.DifferingPositions.ToHashSet();
        var t = new Table().Title("Tokens").AddColumn("pos").AddColumn("clean").AddColumn("corrupted");
        for (int p = 0; p < prompts.Tokens.Length; p++)
        {
            string Cell(int run) => Markup.Escape(TokenizeCommand.Visible(prompts.TokenStrings[run][p]));
            t.AddRow(diff.Contains(p) ? $"[yellow]{p}[/]" : p.ToString(), Cell(0), diff.Contains(p) ? $"[yellow]{Cell(1)}[/]" : Cell(1));
        }
        console.Write(t);
        console.MarkupLine($"Differing positions: [yellow]{string.Join(", ", prompts.DifferingPositions)}[/]; answer {Markup.Escape(TokenizeCommand.Visible(prompts.Answer))} " +
                           $"({prompts.Tokens.Answer}), wrong {Markup.Escape(TokenizeCommand.Visible(prompts.Wrong))} ({prompts.Tokens.Wrong})");
        console.MarkupLine($"Control prompt ({(prompts.ControlIsDefault ? "default" : "from --control")}): {Markup.Escape(UntrustedText.Escape(prompts.Control))}");
    }

    /// <summary>Runs <paramref name="work"/> under a progress bar (one task per phase, with ETA) when the console is interactive.</summary>
    public T WithProgress<T>(Func<IProgress<StudyProgress>, T> work)
    {
        if (!console.Profile.Capabilities.Interactive)
            return work(new Progress<StudyProgress>(_ => { }));
        T result = default!;
        console.Progress().AutoClear(true)   // finished bars go: the summary is what stays on screen
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work(new SyncProgress(p =>
                {
                    if (!tasks.TryGetValue(p.Phase, out var task))
                    {
                        foreach (var other in tasks.Values) other.StopTask();
                        tasks[p.Phase] = task = ctx.AddTask(Markup.Escape(p.Phase), maxValue: Math.Max(p.Total, 1));
                    }
                    task.Value = p.Done;
                }));
                foreach (var task in tasks.Values) task.StopTask();
            });
        return result;
    }

    sealed class SyncProgress(Action<StudyProgress> report) : IProgress<StudyProgress>
    {
        public void Report(StudyProgress value) => report(value);
    }

    /// <summary>The study's summary tables; an experiment left out by --only / --skip leaves out its table.</summary>
    public void Summary(JsonObject r)
    {
        double Num(JsonNode? n) => n?.GetValue<double>() ?? double.NaN; // null: a number that was not finite
        double[] Row(string key) => r[key]!.AsArray().Select(Num).ToArray();
        double[][] Grid(string key) => r[key]!.AsArray().Select(row => row!.AsArray().Select(Num).ToArray()).ToArray();
        bool Has(params string[] keys) => keys.All(k => r[k] is not null);

        console.MarkupLine("\n[bold]Findings[/]");
        foreach (var f in StudyFindings.Of(r))
            console.MarkupLine($"• {Markup.Escape(UntrustedText.Escape(f.Text))} [grey](report.html#{f.Anchor})[/]");

        console.MarkupLine($"\n[bold]Baselines[/] (logit diff answer − wrong): clean [green]{Num(r["clean_logit_diff"]):+0.00;-0.00}[/], " +
                           $"corrupted [red]{Num(r["corrupted_logit_diff"]):+0.00;-0.00}[/]  (processing: {r["processing"]})");

        var tokens = r["token_strings"]!["clean"]!.AsArray().Select(s => s!.GetValue<string>()).ToArray();
        var differing = (r["differing_positions"] as JsonArray)?.Select(x => x!.GetValue<int>()).ToHashSet() ?? new HashSet<int>();
        if (Has("resid_pre_patch_recovery")) ResidualHeatmap(Grid("resid_pre_patch_recovery"), tokens, differing);

        if (Has("attn_out_patch_last_recovery", "mlp_out_patch_last_recovery", "attn_out_patch_all_recovery", "mlp_out_patch_all_recovery"))
        {
            var attn = Row("attn_out_patch_last_recovery");
            var mlp = Row("mlp_out_patch_last_recovery");
            var attnAll = Row("attn_out_patch_all_recovery");
            var mlpAll = Row("mlp_out_patch_all_recovery");
            double[]? control = Has("control_resid_pre_patch_last_recovery") ? Row("control_resid_pre_patch_last_recovery") : null;
            double[]? real = Has("resid_pre_patch_recovery") ? Grid("resid_pre_patch_recovery").Select(row => row[^1]).ToArray() : null;
            var comp = new Table().Title("Attention vs MLP output patching (recovery), and the control patch").AddColumns("layer", "attn (final pos)", "MLP (final pos)",
                "attn (all pos)", "MLP (all pos)", "resid (final pos)", "control resid");
            for (int l = 0; l < attn.Length; l++)
                comp.AddRow(l.ToString(), Colour(attn[l]), Colour(mlp[l]), Colour(attnAll[l]), Colour(mlpAll[l]),
                    real is null ? "–" : Colour(real[l]), control is null ? "–" : Colour(control[l]));
            comp.Caption("control resid: the final position's residual taken from an unrelated prompt — what destroying the answer alone \"recovers\"");
            console.Write(comp);
        }

        if (Has("head_z_patch_last_recovery", "head_z_patch_all_recovery"))
        {
            var heads = Grid("head_z_patch_last_recovery");
            var top = new Table().Title("Top heads (hook_z patched at the final position)").AddColumns("head", "recovery", "all positions");
            var all = Grid("head_z_patch_all_recovery");
            foreach (var (l, h) in Study.TopHeads(heads, 8)) top.AddRow($"L{l}H{h}", Colour(heads[l][h]), Colour(all[l][h]));
            console.Write(top);
        }
        HeadPairs(r);

        if (Has("zero_ablate_attn_clean_logit_diff", "zero_ablate_mlp_clean_logit_diff"))
        {
            var ab = new Table().Title("Zero ablation: logit diff (fraction of the run's own baseline)").AddColumns("component", "clean run", "corrupted run");
            var ac = Row("zero_ablate_attn_clean_logit_diff"); var ak = Row("zero_ablate_attn_corrupted_logit_diff");
            var acf = Row("zero_ablate_attn_clean_fraction"); var akf = Row("zero_ablate_attn_corrupted_fraction");
            var mc = Row("zero_ablate_mlp_clean_logit_diff"); var mk = Row("zero_ablate_mlp_corrupted_logit_diff");
            var mcf = Row("zero_ablate_mlp_clean_fraction"); var mkf = Row("zero_ablate_mlp_corrupted_fraction");
            for (int l = 0; l < ac.Length; l++)
            {
                ab.AddRow($"attn L{l}", $"{ac[l]:+0.00;-0.00} ({acf[l]:P0})", $"{ak[l]:+0.00;-0.00} ({akf[l]:P0})");
                ab.AddRow($"MLP L{l}", $"{mc[l]:+0.00;-0.00} ({mcf[l]:P0})", $"{mk[l]:+0.00;-0.00} ({mkf[l]:P0})");
            }
            console.Write(ab);
        }

        if (Has("dla_candidates_clean"))
        {
            var dla = r["dla_candidates_clean"]!;
            var candStrings = r["candidates"]!["strings"]!.AsArray().Select(s => s!.GetValue<string>()).ToArray();
            var dt = new Table().Title("Direct logit attribution, clean run, final position (largest components)").AddColumn("component");
            foreach (var s in candStrings) dt.AddColumn(Markup.Escape(TokenizeCommand.Visible(s)));
            var rows = new List<(string Name, double[] V)> { ("embed", dla["embed"]!.AsArray().Select(Num).ToArray()) };
            var dh = dla["heads"]!.AsArray();
            for (int l = 0; l < dh.Count; l++)
                for (int h = 0; h < dh[l]!.AsArray().Count; h++) rows.Add(($"L{l}H{h}", dh[l]![h]!.AsArray().Select(Num).ToArray()));
            var dm = dla["mlp"]!.AsArray();
            for (int l = 0; l < dm.Count; l++) rows.Add(($"MLP {l}", dm[l]!.AsArray().Select(Num).ToArray()));
            foreach (var (name, v) in rows.OrderByDescending(x => x.V.Max(Math.Abs)).Take(10)) dt.AddRow([name, .. v.Select(x => $"{x:+0.00;-0.00}")]);
            dt.AddRow(["[bold]logit[/]", .. dla["logits"]!.AsArray().Select(x => $"[bold]{Num(x):+0.00;-0.00}[/]")]);
            console.Write(dt);
        }
        CircuitSummary(r);
    }

    /// <summary>Layer × position recoveries as coloured blocks, with the strongest cells listed. Two characters a cell when
    /// that fits the console, else one; still too wide, positions no layer moves (|recovery| &lt; 0.05, not differing, not
    /// final) are folded away and the kept positions are listed.</summary>
    void ResidualHeatmap(double[][] resid, string[] tokens, ISet<int> differing)
    {
        console.MarkupLine("\n[bold]Residual stream patching[/] (blocks.L.hook_resid_pre, one position, clean → corrupted): recovery by layer × position");
        int n = resid.Max(r => r.Length), width = Math.Max(40, console.Profile.Width);
        const int margin = 6;
        int cell = margin + 2 * n <= width ? 2 : 1;
        var cols = Enumerable.Range(0, n).ToList();
        if (margin + cell * n > width)
            cols = cols.Where(p => differing.Contains(p) || p == n - 1 || resid.Any(r => p < r.Length && Math.Abs(r[p]) >= 0.05)).ToList();
        var head = new System.Text.StringBuilder(new string(' ', margin));
        foreach (int p in cols) head.Append((p % 10).ToString().PadRight(cell));
        console.MarkupLine($"[grey]{head}[/]" + (cols.Count < n ? "" : (margin + cell * n + 20 <= width ? "  [grey](position mod 10)[/]" : "")));
        for (int l = 0; l < resid.Length; l++)
        {
            var line = new System.Text.StringBuilder($"L{l,-3}  ");
            foreach (int p in cols)
            {
                double v = p < resid[l].Length ? resid[l][p] : double.NaN;
                line.Append($"[{Background(v)}]{new string(Shade(v), cell)}[/]");
            }
            console.MarkupLine(line.ToString());
        }
        if (cols.Count < n)
            console.MarkupLine($"[grey]{n - cols.Count} of {n} positions folded (no layer recovers 0.05); shown: {string.Join(" ", cols)}[/]");
        console.MarkupLine($"[grey]scale:[/] [red3]{Shade(-0.6)}[/] ≤−0.6 [red3]{Shade(-0.1)}[/] ≤−0.1 [grey23]{Shade(0)}[/] ≈0 [darkgreen]{Shade(0.3)}[/] ≥0.1 " +
                           $"[green3]{Shade(0.6)}[/] ≥0.6 [lime]{Shade(1)}[/] ≥0.9");
        var best = resid.SelectMany((row, l) => row.Select((v, p) => (l, p, v))).OrderByDescending(x => x.v).Take(3);
        console.MarkupLine("strongest: " + string.Join(", ", best.Select(x => $"L{x.l} pos {x.p} {Markup.Escape(UntrustedText.Escape(TokenizeCommand.Visible(tokens[x.p])))} [green]{x.v:0.00}[/]")));
    }

    /// <summary>The head pairs of <c>head_pair_layer</c> that most depart from additivity, with their recoveries.</summary>
    void HeadPairs(JsonObject r)
    {
        if (r["head_pair_z_patch_last_recovery"] is not JsonArray pa || r["head_pair_layer"] is null) return;
        int layer = r["head_pair_layer"]!.GetValue<int>();
        double N(JsonNode? x) => x?.GetValue<double>() ?? double.NaN;
        var pair = pa.Select(row => row!.AsArray().Select(N).ToArray()).ToArray();
        var t = new Table().Title($"Head pairs in layer {layer} (hook_z patched together at the final position)").AddColumns("pair", "recovery", "pair − singles");
        var pairs = Enumerable.Range(0, pair.Length).SelectMany(i => Enumerable.Range(i + 1, Math.Max(0, pair.Length - i - 1)).Select(j => (i, j)))
            .Select(x => (x.i, x.j, rec: pair[x.i][x.j], sup: pair[x.i][x.j] - pair[x.i][x.i] - pair[x.j][x.j]))
            .OrderByDescending(x => double.IsFinite(x.sup) ? Math.Abs(x.sup) : -1).Take(5);
        foreach (var (i, j, rec, sup) in pairs)
            t.AddRow($"L{layer}H{i} + L{layer}H{j}", Colour(rec), $"{sup:+0.00;-0.00}" + (sup > 0.05 ? " superadditive" : sup < -0.05 ? " redundant" : ""));
        console.Write(t);
    }

    /// <summary>A character that also reads without colour: blocks, denser for larger recovery; '-' and '=' below zero.</summary>
    internal static char Shade(double v) => v switch { >= 0.9 => '█', >= 0.6 => '▓', >= 0.1 => '▒', > -0.1 => '·', > -0.6 => '-', _ => '=' };

    static string Background(double v) => v switch
    {
        >= 0.9 => "lime", >= 0.6 => "green3", >= 0.3 => "darkgreen", >= 0.1 => "darkgreen", > -0.1 => "grey23", _ => "red3",
    };

    /// <summary>One line: the output folder and what is in it (the PNGs counted, not listed).</summary>
    public void Written(IEnumerable<string> paths)
    {
        var list = paths.ToList();
        if (list.Count == 0) return;
        string dir = Path.GetDirectoryName(list[0])!;
        var top = list.Where(p => Path.GetDirectoryName(p) == dir).Select(Path.GetFileName).ToList();
        int figures = list.Count(p => Path.GetDirectoryName(p) != dir);
        if (figures > 0) top.Add($"figures/ ({figures} PNG)");
        // below the working directory the folder is named relative to it: the line stays short enough for 80 columns
        string rel = Path.GetRelativePath(Environment.CurrentDirectory, dir);
        string shown = rel == ".." || rel.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(rel) ? dir : rel;
        console.MarkupLine($"wrote {Markup.Escape(UntrustedText.Escape(shown))}{Path.DirectorySeparatorChar}: {Markup.Escape(string.Join(", ", top))}");
    }

    /// <summary>A recovery as a coloured cell: green towards 1, red below 0.</summary>
    internal static string Colour(double v)
    {
        string colour = v switch { >= 0.75 => "green bold", >= 0.4 => "green", >= 0.1 => "yellow", > -0.1 => "grey", _ => "red" };
        return $"[{colour}]{v:0.00}[/]";
    }
}
