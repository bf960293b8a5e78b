using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens path</c>: path patching alone — one or more sender heads (patched together) into every later head's
/// q, k, v and every MLP, exact (Wang et al.) and TransformerLens' direct path side by side — written to results.json
/// with the same keys and values the study writes for the same senders.
/// </summary>
internal static class PathCommand
{
    public static Command Create()
    {
        var pair = new PairOptions();
        var sender = new Option<string?>("--sender") { Description = "sender head(s), L.H[,L.H…], patched together (default: the best final-position head patch outside the last layer)" };
        var cmd = new Command("path", "Path patching from sender head(s) into every later q, k, v and MLP, exact and direct")
            { sender };
        pair.AddTo(cmd);
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            var (cleanText, corruptText) = pair.Prompts(p);
            var senders = StudyCommand.ParseHeads(p.GetValue(sender), "--sender");
            string outPath = pair.OutPath(p);
            string dir = CliHost.ResolveModel(p.GetValue(pair.Model), ct);
            var config = ModelConfig.Load(dir);
            if (senders != null) PathPatching.ValidateSenders(config, senders);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            var prompts = PromptSet.Prepare(tok, config, cleanText, corruptText, p.GetValue(pair.Answer)!, p.GetValue(pair.Wrong)!);
            using var m = HookedTransformer.Load(dir, prompts.Tokens.Length, cachedRuns: 2);
            // --out is locked for this run, cleared of a killed run's temporaries and checked before the work (as for study)
            using var outputs = OutputSet.Open(outPath, what: "--out");
            var console = new StudyConsole(AnsiConsole.Console);
            console.Header(m, prompts, p.GetValue(pair.Model) == null);

            JsonObject results;
            try
            {
                results = console.WithProgress(progress => Run(m, prompts, senders, (phase, done, total) => progress.Report(new StudyProgress(phase, done, total)), ct));
                ct.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw new SharpLensException(ExitCode.Interrupted, $"stopped by {CliHost.StoppedBy} during path patching; nothing was written to {outPath}");
            }
            var full = StudyCommand.Assemble(m, tok, prompts, results);
            var warnings = NonFiniteNumbers.ReplaceWithNull(full);
            full["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray());
            foreach (var w in warnings) Console.Error.WriteLine($"warning: results.json: {w}");
            AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ResultsFile), full.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            var written = outputs.Commit(OutputSet.AllEntries);   // an older study's report is not left beside these results
            console.PathPatching(full);
            console.Written(written);
            return 0;
        }));
        return cmd;
    }

    /// <summary>The baselines and the path-patching keys (exact and direct) for <paramref name="senders"/>; null senders:
    /// the study's default rule, which needs the final-position head sweep.</summary>
    static JsonObject Run(HookedTransformer m, PromptSet prompts, IReadOnlyList<(int, int)>? senders, Action<string, int, int> progress, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        progress("baselines", 0, 3);
        var runs = new StudyRuns(m, prompts.Tokens, ct);
        progress("baselines", 3, 3);
        if (runs.CleanLogitDiff == runs.CorruptedLogitDiff)
            throw SharpLensException.Input($"the clean and corrupted runs have the same logit difference ({runs.CleanLogitDiff}): every recovery would be 0/0");
        senders ??= [PathPatching.DefaultSender(new PatchingExperiments(runs, progress, ct).Heads(allPositions: false))];
        var o = new JsonObject { ["processing"] = "hf", ["clean_logit_diff"] = runs.CleanLogitDiff, ["corrupted_logit_diff"] = runs.CorruptedLogitDiff };
        new PathPatching(runs, progress, ct).Run(senders).WriteTo(o);
        o["timings"] = new JsonObject { ["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 4) };
        return o;
    }
}
