using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Datasets;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens circuit --dataset pairs.jsonl --edges K [--ig-steps N] [--model M] [--out DIR]</c>: edge attribution
/// patching over a dataset, the top-K edges as a circuit, its faithfulness by exact edge patching; results.json and a
/// report page drawing the circuit.
/// </summary>
internal static class CircuitCommand
{
    /// <summary>The most integrated-gradient steps (each is a forward and a backward pass per pair).</summary>
    public const int MaxIgSteps = 1000;

    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "the prompt pairs (JSONL, one {clean, corrupted, answer, wrong} a line; `sharplens dataset` writes them)", Required = true };
        var edges = new Option<int>("--edges") { Description = "K: how many edges, by |EAP score|, make the circuit", Required = true };
        var ig = new Option<int>("--ig-steps") { Description = $"integrated-gradient steps (EAP-IG, 1-{MaxIgSteps}); 1 = plain EAP", DefaultValueFactory = _ => 1 };
        var model = CommonOptions.Model();
        var outDir = new Option<string>("--out") { Description = "output directory", DefaultValueFactory = _ => "./sharplens-circuit" };
        var noReport = new Option<bool>("--no-report") { Description = "write results.json only" };
        var cmd = new Command("circuit", "Edge attribution patching over a dataset: the top-K edges as a circuit, its faithfulness, a graph")
            { dataset, edges, ig, model, outDir, noReport };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            int k = p.GetValue(edges), steps = p.GetValue(ig);
            if (k < 1) throw SharpLensException.Usage($"--edges must be at least 1, not {k}");
            if (steps < 1 || steps > MaxIgSteps) throw SharpLensException.Usage($"--ig-steps must be between 1 and {MaxIgSteps}, not {steps}");
            string outPath = Path.GetFullPath(p.GetValue(outDir)!);
            var data = PromptDataset.Load(p.GetValue(dataset)!);
            if (data.Pairs.Count == 0) throw SharpLensException.Input($"{data.Source}: the dataset has no pairs");
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var config = ModelConfig.Load(dir);
            CircuitDiscovery.ValidateEdges(EdgeGraph.Of(config), k);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            var prepared = data.Prepare(tok, config);
            var pairs = prepared.Select(x => new TokenPair(x.Prompts.Tokens.Clean, x.Prompts.Tokens.Corrupted, x.Prompts.Tokens.Answer, x.Prompts.Tokens.Wrong, x.Pair.Line)).ToList();
            using var m = HookedTransformer.Load(dir, pairs.Max(x => x.Clean.Length), cachedRuns: 2);
            using var outputs = OutputSet.Open(outPath);
            var console = new StudyConsole(AnsiConsole.Console);
            var c = m.Config;
            AnsiConsole.MarkupLine($"[bold]Model[/] {Markup.Escape(UntrustedText.Escape(m.Directory))}{(p.GetValue(model) == null ? " [grey](embedded set-completion demo)[/]" : "")}");
            AnsiConsole.MarkupLine($"  {c.Architecture}: {c.NLayers} layers, {c.NHeads} heads ({c.NKvHeads} kv); {pairs.Count} pairs from {Markup.Escape(UntrustedText.Escape(data.Source))}");

            var total = Stopwatch.StartNew();
            CircuitResult result;
            try
            {
                result = console.WithProgress(progress => CircuitDiscovery.Run(m, pairs, k, steps,
                    (phase, done, n) => progress.Report(new StudyProgress(phase, done, n)), ct));
                ct.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw new SharpLensException(ExitCode.Interrupted, $"stopped by {CliHost.StoppedBy} during edge attribution patching; nothing was written to {outPath}");
            }
            var full = new JsonObject
            {
                ["command"] = "circuit",
                ["sharplens_version"] = typeof(EdgeGraph).Assembly.GetName().Version?.ToString(),
                ["model"] = c.Describe(),
                ["dataset"] = new JsonObject { ["path"] = Path.GetFullPath(p.GetValue(dataset)!), ["n_pairs"] = data.Pairs.Count },
            };
            full["model"]!["path"] = Path.GetFullPath(m.Directory);
            result.WriteTo(full);
            full["timings"] = new JsonObject { ["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 4) };
            var warnings = NonFiniteNumbers.ReplaceWithNull(full);
            full["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray());
            foreach (var w in warnings) Console.Error.WriteLine($"warning: results.json: {w}");
            AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ResultsFile), full.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            var written = outputs.Commit(OutputSet.AllEntries);
            if (!p.GetValue(noReport)) written.AddRange(ReportWriter.Render(full, ct).Commit(outputs));
            Summary(result);
            console.Written(written);
            return 0;
        }));
        return cmd;
    }

    /// <summary>The faithfulness line and the circuit's edges (at most 20) on the console, within 80 columns.</summary>
    static void Summary(CircuitResult r)
    {
        AnsiConsole.MarkupLine($"Circuit: {r.Circuit.Count} edges (top {r.Requested} of {r.Graph.Edges.Count:N0} by |{(r.IgSteps > 1 ? "EAP-IG" : "EAP")} score|, pruned), " +
                               $"{r.Nodes.Count} nodes; {r.Pairs.Count} pairs used, {r.Excluded.Count} left out");
        AnsiConsole.MarkupLine($"Faithfulness [bold]{r.MeanFaithfulness:0.000}[/] (of the mean logit diffs: {r.FaithfulnessOfMeans:0.000})");
        var t = new Table().AddColumn("#").AddColumn("edge").AddColumn(new TableColumn("score").RightAligned());
        foreach (var (e, i) in r.Circuit.Take(20).Select((e, i) => (e, i)))
            t.AddRow((i + 1).ToString(), Markup.Escape(r.Graph.Describe(e)), $"{r.Scores[e]:0.000}");
        if (r.Circuit.Count > 0) AnsiConsole.Write(t);
        if (r.Circuit.Count > 20) AnsiConsole.MarkupLine($"[grey]… {r.Circuit.Count - 20} more in results.json[/]");
    }
}
