using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Reports;
using SharpLens.Sharding;
using SharpLens.Tokenization;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens study</c>: the whole seed investigation of a clean/corrupted pair (EXPERIMENTS.md) in one command,
/// written to results.json, report.html and PNG figures. With no options it studies the embedded demo model on the
/// seed prompts.
/// </summary>
internal static class StudyCommand
{
    public static Command Create()
    {
        var pair = new PairOptions();
        var control = new Option<string>("--control") { Description = "unrelated prompt of the same token length for the control patch (default: \"The quick brown fox…\" repeated)" };
        var controlFile = new Option<string?>("--control-file") { Description = "read the control prompt from a UTF-8 file" };
        var pairLayer = new Option<int?>("--pair-layer") { Description = "layer of the head-pair sweep (default: best attention-output patch)" };
        var heads = new Option<string?>("--heads") { Description = "heads to show attention for, as L.H,L.H… or L1H0,… (default: top 4 by patching)" };
        var candidates = new Option<string?>("--candidates") { Description = "tokens of the declared set, |-separated, e.g. \" Peach| Orange| Grape| Mango\" (default: answer and wrong; with the seed prompts: the four fruits)" };
        var processing = new Option<string>("--processing") { Description = "hf (plain model) or tl (TransformerLens weight processing for ablation and DLA)", DefaultValueFactory = _ => "hf" };
        processing.OneOf("hf", "tl");
        var noReport = new Option<bool>("--no-report") { Description = "write results.json only" };
        var sender = new Option<string?>("--sender") { Description = "path patching's sender head(s), L.H[,L.H…] patched together (default: the best final-position head patch outside the last layer)" };
        var only = new Option<string?>("--only") { Description = $"run only these experiments (comma-separated; baselines always run): {string.Join(", ", StudyExperiments.All)}" };
        var skip = new Option<string?>("--skip") { Description = "skip these experiments (comma-separated names, as for --only)" };
        var method = new Option<string[]>("--method")
        {
            Description = "exact (patching; AtP estimates beside), atp (attribution patching only: a few forwards) or atp+verify K (AtP, then exact patching of its top K items per sweep)",
            Arity = new ArgumentArity(1, 2), AllowMultipleArgumentsPerToken = true,
        };
        var qkFix = new Option<bool>("--qk-fix") { Description = "AtP*: recompute the attention softmax for query and key patches instead of linearising it" };
        var gradDrop = new Option<bool>("--grad-drop") { Description = "AtP*: GradDrop against cancellation (atp_* keys become magnitudes)" };
        var shard = new Option<string?>("--shard") { Description = "compute only shard I of N (I/N, 0 ≤ I < N; or slurm: the task of a Slurm job array) and write it to --out/shard.json for sharplens merge" };
        var cmd = new Command("study", "Run every experiment of the study on a clean/corrupted prompt pair, or on every pair of a dataset (--dataset)")
            { control, controlFile, pairLayer, heads, candidates, processing, sender, only, skip, method, qkFix, gradDrop, noReport, shard };
        pair.AddTo(cmd);
        var dataset = new StudyDataset();
        dataset.AddTo(cmd);
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            ShardSpec? slice = p.GetValue(shard) is { } spec ? ShardSpec.Parse(spec) : null;
            // What a single-pair and a dataset study read alike; only the default ablations differ.
            StudyOptions Options(bool forDataset)
            {
                var (studyMethod, verifyTop) = ParseMethod(p.GetValue(method));
                return new StudyOptions
                {
                    Method = studyMethod, VerifyTop = verifyTop,
                    Atp = new AtpOptions { QkFix = p.GetValue(qkFix), GradDrop = p.GetValue(gradDrop) },
                    PairLayer = p.GetValue(pairLayer),
                    Heads = ParseHeads(p.GetValue(heads)),
                    Processing = p.Value(processing) == "tl" ? Processing.Tl : Processing.Hf,
                    Senders = ParseHeads(p.GetValue(sender), "--sender"),
                    Experiments = StudyExperiments.Select(p.GetValue(only), p.GetValue(skip)),
                    Ablations = dataset.Ablations(p, dataset: forDataset),
                };
            }
            if (p.GetValue(dataset.Dataset) != null)
            {
                foreach (var o in new Option[] { control, controlFile, candidates })
                    if (p.GetResult(o) is { Implicit: false })
                        throw SharpLensException.Usage($"{o.Name} and --dataset exclude each other: each pair gets the default control prompt and its own line's candidates");
                return dataset.Run(p, pair, Options(forDataset: true), p.GetValue(noReport), ct, slice);
            }
            // everything cheap is checked before anything expensive: options, files, config, tokenizer, prompts, memory
            var (cleanText, corruptText) = pair.Prompts(p);
            string? controlText = CliHost.Text(p, control, controlFile, required: false);
            var options = Options(forDataset: false);
            var selected = options.Experiments;
            if (slice is { } sl) options = options with { Experiments = StudyShard.Experiments(selected, sl) };
            var cand = ParseCandidates(p.GetValue(candidates), cleanText, corruptText);
            string outPath = pair.OutPath(p);
            string dir = CliHost.ResolveModel(p.GetValue(pair.Model), ct);
            var config = ModelConfig.Load(dir);
            Study.ValidateOptions(config, options);
            var tok = HfTokenizer.Load(dir);
            tok.EnsureFits(config, dir);
            // The seed's default candidates (the four fruits) must not fail a study that never asked for them:
            // a fruit this tokenizer splits is left out (answer and wrong are always candidates).
            if (p.GetValue(candidates) == null && cand != null) cand = cand.Where(t => tok.TryGetAnswerToken(cleanText, t) is not null).ToList();
            var prompts = PromptSet.Prepare(tok, config, cleanText, corruptText, p.GetValue(pair.Answer)!, p.GetValue(pair.Wrong)!, controlText, cand);
            using var m = HookedTransformer.Load(dir, prompts.Tokens.Length, cachedRuns: 2);
            // --out is locked for this run, cleared of a killed run's temporaries and checked (results.json a directory,
            // figures a file, no write permission) before the study: a long run is never lost to its output
            using var outputs = OutputSet.Open(outPath, what: "--out");
            var console = new StudyConsole(AnsiConsole.Console);
            console.Header(m, prompts, p.GetValue(pair.Model) == null);

            var phase = new PhaseTracker();
            JsonObject results;
            try
            {
                ct.ThrowIfCancellationRequested();  // Ctrl-C while the model loaded
                results = console.WithProgress(progress => Study.Run(m, prompts.Tokens, options, tok.IsDefined, phase.Wrap(progress), ct));
                ct.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw phase.Interrupted(outPath);
            }
            var full = Assemble(m, tok, prompts, results);
            // JSON has no NaN or infinity: such numbers are written as null and listed, never the reason a study is lost
            var warnings = NonFiniteNumbers.ReplaceWithNull(full);
            full["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray());
            foreach (var w in warnings) Console.Error.WriteLine($"warning: {(slice == null ? OutputSet.ResultsFile : OutputSet.ShardFile)}: {w}");
            if (slice is { } part)
            {
                var inputs = StudyShard.PairInputs(m.Directory, prompts, options with { Experiments = selected }, selected);
                var work = new JsonArray(StudyExperiments.All.Where(options.Experiments!.Contains).Select(e => (JsonNode?)e).ToArray());
                AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ShardFile),
                    StudyShard.Wrap(full, part, StudyShard.PairKind, inputs, work).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                console.Written(outputs.Commit(OutputSet.AllEntries));
                AnsiConsole.MarkupLine($"shard {part} of the study ({Markup.Escape(string.Join(", ", work.Select(w => (string)w!)))}); when every shard is done: "
                    + "[blue]sharplens merge[/] [grey]SHARD-FOLDERS…[/] [blue]--out[/] [grey]DIR[/]");
                return 0;
            }
            // The set is swapped in twice, consistent each time: results.json first, with any older report and figures
            // removed (a report of another run never sits beside it), then the report once it is rendered. A run killed
            // while rendering keeps its results.
            AtomicFile.WriteAllText(Path.Combine(outputs.Staging, OutputSet.ResultsFile), full.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            var written = outputs.Commit(OutputSet.AllEntries);
            if (!p.GetValue(noReport))
            {
                try
                {
                    var report = CliHost.Cancellable(() => ReportWriter.Render(full, ct), ct);
                    ct.ThrowIfCancellationRequested();
                    written.AddRange(report.Commit(outputs));
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    throw new SharpLensException(ExitCode.Interrupted,
                        $"stopped by {CliHost.StoppedBy} while rendering the report: {written[0]} is complete; report.html and the figures were skipped " +
                        $"(sharplens report {written[0]} renders them)");
                }
            }
            console.Summary(full);
            console.Written(written);
            return 0;
        }));
        return cmd;
    }

    /// <summary>results.json: the experiment keys plus model, config, prompt and token metadata.</summary>
    internal static JsonObject Assemble(HookedTransformer m, HfTokenizer tok, PromptSet prompts, JsonObject results)
    {
        var o = new JsonObject
        {
            ["sharplens_version"] = typeof(Study).Assembly.GetName().Version?.ToString(),
            ["model"] = m.Config.Describe(),
            ["config"] = JsonNode.Parse(File.ReadAllText(Path.Combine(m.Directory, "config.json"))),
        };
        o["model"]!["path"] = Path.GetFullPath(m.Directory);
        prompts.Describe(o);
        foreach (var (k, v) in results.ToList())
        {
            results.Remove(k);
            o[k] = v;
        }
        foreach (var run in new[] { "clean", "corrupted" })
        {
            if (o[$"head_top_tokens_{run}"] is null) continue;   // dla skipped
            o[$"head_top_token_strings_{run}"] = new JsonArray(o[$"head_top_tokens_{run}"]!.AsArray().Select(layer => (JsonNode?)new JsonArray(
                layer!.AsArray().Select(head => (JsonNode?)new JsonArray(head!.AsArray().Select(id => (JsonNode?)tok.TokenText(id!.GetValue<int>())).ToArray())).ToArray())).ToArray());
        }
        if (o["ov_tokens"] is not null)
            o["ov_token_strings"] = new JsonArray(o["ov_tokens"]!.AsArray().Select(id => (JsonNode?)tok.TokenText(id!.GetValue<int>())).ToArray());
        return o;
    }

    /// <summary>--method exact | atp | atp+verify K (in any case).</summary>
    internal static (StudyMethod Method, int VerifyTop) ParseMethod(string[]? value)
    {
        if (value is null || value.Length == 0) return (StudyMethod.Exact, 10);
        string name = value[0].ToLowerInvariant();
        string? k = value.Length > 1 ? value[1] : null;
        const string valid = "exact, atp or atp+verify K (e.g. --method atp+verify 10)";
        switch (name)
        {
            case "exact" or "atp" when k is null:
                return (name == "atp" ? StudyMethod.Atp : StudyMethod.Exact, 10);
            case "atp+verify":
                if (k is null) throw SharpLensException.Usage("--method atp+verify needs K, the number of items per sweep to patch exactly (e.g. --method atp+verify 10)");
                if (!int.TryParse(k, out int top) || top < 1)
                    throw SharpLensException.Usage($"--method atp+verify: K must be a whole number ≥ 1, got \"{GenerateCommand.Printable(k)}\"");
                return (StudyMethod.AtpVerify, top);
            case "exact" or "atp":
                throw SharpLensException.Usage($"--method {name} takes no K (\"{GenerateCommand.Printable(k!)}\"); only atp+verify does");
            default:
                throw SharpLensException.Usage($"--method must be {valid}, got \"{GenerateCommand.Printable(value[0])}\"");
        }
    }

    /// <summary>--candidates: |-separated; with the seed prompts and no option, the seed's four fruits.</summary>
    internal static IReadOnlyList<string>? ParseCandidates(string? value, string clean, string corrupted)
    {
        if (value == null)
            return clean == PromptSet.SeedClean && corrupted == PromptSet.SeedCorrupted ? PromptSet.SeedCandidates.Split('|') : null;
        var parts = value.Split('|');
        if (parts.Any(string.IsNullOrEmpty)) throw SharpLensException.Usage($"--candidates \"{value}\" has an empty entry");
        return parts;
    }

    /// <summary>--heads (or --sender) L.H,L.H… or the L{layer}H{head} form the output prints (L12H4), in any case.</summary>
    internal static IReadOnlyList<(int, int)>? ParseHeads(string? value, string option = "--heads")
    {
        if (value == null) return null;
        var heads = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
        {
            var m = System.Text.RegularExpressions.Regex.Match(s, @"^(?:(\d+)\.(\d+)|[Ll](\d+)[Hh](\d+))$");
            if (!m.Success || !int.TryParse(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[3].Value, out int l)
                || !int.TryParse(m.Groups[2].Success ? m.Groups[2].Value : m.Groups[4].Value, out int h))
                throw SharpLensException.Usage($"{option}: \"{GenerateCommand.Printable(s)}\" is not LAYER.HEAD or LlayerHhead (e.g. 12.4 or L12H4)");
            return (l, h);
        }).ToList();
        if (heads.Count == 0) throw SharpLensException.Usage($"{option} needs at least one LAYER.HEAD (e.g. 12.4)");
        return heads;
    }

    /// <summary>Remembers the study phase in progress, so that Ctrl-C or SIGTERM can say what was interrupted.</summary>
    sealed class PhaseTracker
    {
        volatile string? _phase;
        int _done, _total, _phasesStarted;

        /// <summary>A progress sink that records each report synchronously, then forwards it.</summary>
        public IProgress<StudyProgress> Wrap(IProgress<StudyProgress> inner) => new Recorder(this, inner);

        /// <summary>The exit-130 error: which phase stopped, what was skipped, and that no output was written.</summary>
        public SharpLensException Interrupted(string outDir)
        {
            int completed = Math.Max(_phasesStarted - 1, 0);
            string where = _phase == null ? "before the first experiment"
                : $"during the {_phase} phase (run {_done} of {_total}), after {completed} completed phase{(completed == 1 ? "" : "s")}";
            return new SharpLensException(ExitCode.Interrupted,
                $"stopped by {CliHost.StoppedBy} {where}; skipped the rest of the study and the outputs: nothing was written to {outDir}");
        }

        sealed class Recorder(PhaseTracker owner, IProgress<StudyProgress> inner) : IProgress<StudyProgress>
        {
            public void Report(StudyProgress value)
            {
                if (value.Phase != owner._phase) owner._phasesStarted++;
                owner._done = value.Done; owner._total = value.Total; owner._phase = value.Phase;
                inner.Report(value);
            }
        }
    }
}
