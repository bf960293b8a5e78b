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
        var model = new Option<string?>("--model") { Description = "model directory or Hub id (default: the embedded set-completion demo)" };
        var clean = new Option<string>("--clean") { Description = "clean prompt", DefaultValueFactory = _ => PromptSet.SeedClean };
        var cleanFile = new Option<string?>("--clean-file") { Description = "read the clean prompt from a UTF-8 file (one final line break is dropped)" };
        var corrupted = new Option<string>("--corrupted") { Description = "corrupted prompt (same token length)", DefaultValueFactory = _ => PromptSet.SeedCorrupted };
        var corruptedFile = new Option<string?>("--corrupted-file") { Description = "read the corrupted prompt from a UTF-8 file" };
        var answer = new Option<string>("--answer") { Description = "the clean prompt's answer (one token)", DefaultValueFactory = _ => PromptSet.SeedAnswer };
        var wrong = new Option<string>("--wrong") { Description = "the corrupted prompt's answer (one token)", DefaultValueFactory = _ => PromptSet.SeedWrong };
        var sender = new Option<string?>("--sender") { Description = "sender head(s), L.H[,L.H…], patched together (default: the best final-position head patch outside the last layer)" };
        var outDir = new Option<string>("--out") { Description = "output directory", DefaultValueFactory = _ => "./sharplens-out" };
        var cmd = new Command("path", "Path patching from sender head(s) into every later q, k, v and MLP, exact and direct")
            { model, clean, cleanFile, corrupted, corruptedFile, answer, wrong, sender, outDir };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            string cleanText = CliHost.Text(p, clean, cleanFile, required: true)!;
            string corruptText = CliHost.Text(p, corrupted, corruptedFile, required: true)!;
            var senders = StudyCommand.ParseHeads(p.GetValue(sender), "--sender");
            string outPath = Path.GetFullPath(p.GetValue(outDir)!);
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            var config = ModelConfig.Load(dir);
            if (senders != null) PathPatching.ValidateSenders(config, senders);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            var prompts = PromptSet.Prepare(tok, config, cleanText, corruptText, p.GetValue(answer)!, p.GetValue(wrong)!);
            using var m = HookedTransformer.Load(dir, prompts.Tokens.Length, cachedRuns: 2);
            AtomicFile.EnsureWritableDirectory(outPath);
            var console = new StudyConsole(AnsiConsole.Console);
            console.Header(m, prompts, p.GetValue(model) == null);

            JsonObject results;
            try
            {
                results = console.WithProgress(progress => Run(m, prompts, senders, (phase, done, total) => progress.Report(new StudyProgress(phase, done, total)), ct));
                ct.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw new SharpLensException(ExitCode.Interrupted, $"stopped by Ctrl-C during path patching; nothing was written to {outPath}");
            }
            var full = StudyCommand.Assemble(m, tok, prompts, results);
            string file = Path.Combine(outPath, "results.json");
            AtomicFile.WriteAllText(file, full.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            console.PathPatching(full);
            console.Written([file]);
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
