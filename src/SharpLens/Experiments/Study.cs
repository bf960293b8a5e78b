using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Model;

namespace SharpLens.Experiments;

/// <summary>
/// The whole study of EXPERIMENTS.md on one clean/corrupted pair: baselines, residual / attention / MLP / head /
/// head-pair patching, the control patch, zero ablation on both runs, attention patterns, DLA, OV copying ranks, and the
/// circuit questions (q/k/v/pattern patching, noising, path patching, the logit lens); <see cref="StudyOptions.Experiments"/>
/// chooses among them by name (<see cref="StudyExperiments"/>).
/// Returns the experiment keys of results.json (the caller adds prompt and model metadata).
/// </summary>
public static class Study
{
    /// <summary>The message of a single-pair study asked for resample ablation.</summary>
    public const string ResampleNeedsDataset = "resample ablation needs a dataset (another pair to draw from): use --dataset, or --ablation zero,mean";

    public static JsonObject Run(HookedTransformer model, StudyTokens tokens, StudyOptions options, Func<int, bool> isDefinedToken,
        IProgress<StudyProgress>? progress = null, CancellationToken ct = default) =>
        Run(model, tokens, null, options, isDefinedToken, progress, ct);

    /// <summary>The study from base runs already made (a dataset study checks each pair's baselines on them first).</summary>
    public static JsonObject Run(StudyRuns runs, StudyOptions options, Func<int, bool> isDefinedToken,
        IProgress<StudyProgress>? progress = null, CancellationToken ct = default) =>
        Run(runs.Model, runs.Tokens, runs, options, isDefinedToken, progress, ct);

    static JsonObject Run(HookedTransformer model, StudyTokens tokens, StudyRuns? given, StudyOptions options, Func<int, bool> isDefinedToken,
        IProgress<StudyProgress>? progress, CancellationToken ct)
    {
        var c = model.Config;
        ValidateOptions(c, options);
        if (options.Ablations.Contains(AblationKind.Resample) && options.ResampleValues == null && (options.Experiments?.Contains(StudyExperiments.Ablation) ?? true))
            throw SharpLensException.Usage(ResampleNeedsDataset);
        var timings = new JsonObject();
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        void Lap(string key) { timings[key] = Math.Round(clock.Elapsed.TotalSeconds, 4); clock.Restart(); }
        void Report(string phase, int done, int count) => progress?.Report(new StudyProgress(phase, done, count));

        var o = new JsonObject { ["processing"] = options.Processing == Processing.Tl ? "tl" : "hf" };
        // --method atp / atp+verify: the exact sweeps give way to AtP (study the same pair in a few forward-equivalents)
        var run = ExperimentsRun(options, model.Config);
        bool Runs(string name) => run.Contains(name);
        Report("baselines", 0, 3);
        var runs = given ?? RunsFor(model, tokens, options, ct);
        Report("baselines", 3, 3);
        if (!double.IsFinite(runs.CleanLogitDiff) || !double.IsFinite(runs.CorruptedLogitDiff))
            throw SharpLensException.Checkpoint($"the model's logits are not finite (clean logit diff {runs.CleanLogitDiff}, corrupted {runs.CorruptedLogitDiff}); check the weights");
        if (runs.CleanLogitDiff == runs.CorruptedLogitDiff)
            throw SharpLensException.Input($"the clean and corrupted runs have the same logit difference ({runs.CleanLogitDiff}): every recovery would be 0/0");
        o["clean_logit_diff"] = runs.CleanLogitDiff;
        o["corrupted_logit_diff"] = runs.CorruptedLogitDiff;
        o["method"] = options.Method switch { StudyMethod.Atp => "atp", StudyMethod.AtpVerify => "atp+verify", _ => "exact" };
        Lap("baselines_s");

        AtpResult? atp = null;
        // the exact study's AtP estimates are a bonus, left out (ExperimentsRun) where the design has no backward yet
        if (options.Method == StudyMethod.Exact && (options.Experiments?.Contains(StudyExperiments.Atp) ?? true)
            && BackwardPass.Unsupported(model.Config) is { } missing)
            o["atp_unavailable"] = $"gradients are not implemented for {missing} yet";
        if (Runs(StudyExperiments.Atp))
        {
            Report("attribution patching", 0, 1);
            atp = AttributionPatching.Run(runs, options.Atp, ct);
            atp.WriteTo(o);
            Report("attribution patching", 1, 1);
            Lap("atp_s");
            if (options.Method == StudyMethod.AtpVerify)
            {
                AtpVerification.Run(runs, atp, options.VerifyTop, Report, ct).WriteTo(o);
                Lap("atp_verify_s");
            }
        }
        var patching = new PatchingExperiments(runs, Report, ct);
        if (Runs(StudyExperiments.ResidPatch))
        {
            o["resid_pre_patch_recovery"] = Json.Grid(patching.ResidPre());
            Lap("resid_pre_patch_s");
        }
        double[]? attnLast = null;
        if (Runs(StudyExperiments.AttnMlpPatch))
        {
            attnLast = patching.Output(attention: true, allPositions: false);
            o["attn_out_patch_last_recovery"] = Json.Row(attnLast);
            o["mlp_out_patch_last_recovery"] = Json.Row(patching.Output(attention: false, allPositions: false));
            o["attn_out_patch_all_recovery"] = Json.Row(patching.Output(attention: true, allPositions: true));
            o["mlp_out_patch_all_recovery"] = Json.Row(patching.Output(attention: false, allPositions: true));
            Lap("attn_mlp_patch_s");
        }
        double[][]? headsLast = null;
        if (Runs(StudyExperiments.HeadPatch))
        {
            headsLast = patching.Heads(allPositions: false);
            o["head_z_patch_last_recovery"] = Json.Grid(headsLast);
            o["head_z_patch_all_recovery"] = Json.Grid(patching.Heads(allPositions: true));
            Lap("head_patch_s");
        }
        // The default pair layer, top heads and path-patching sender come from these sweeps: run them if skipped.
        // (with --method atp: AtP's ranking of heads' z at every position, not a sweep)
        double[][] HeadsLast() => headsLast ??= options.Method != StudyMethod.Exact && atp != null ? atp.HeadZAllRecovery : patching.Heads(allPositions: false);
        if (Runs(StudyExperiments.HeadPairPatch))
        {
            int pairLayer = options.PairLayer ?? Enumerable.Range(0, c.NLayers).MaxBy(l => (attnLast ??= patching.Output(attention: true, allPositions: false))[l]);
            var pairs = patching.HeadPairs(pairLayer);
            o["head_pair_layer"] = pairLayer;
            o["head_pair_z_patch_last_recovery"] = Json.Grid(pairs);
            o["head_pair_superadditivity"] = Json.Grid(PatchingExperiments.Superadditivity(pairs));
            Lap("head_pair_patch_s");
        }
        if (Runs(StudyExperiments.ControlPatch))
        {
            o["control_resid_pre_patch_last_recovery"] = Json.Row(patching.Control());
            Lap("control_patch_s");
        }

        if (Runs(StudyExperiments.Ablation))
        {
            var ablation = new AblationExperiments(runs, options.Processing, Report, ct);
            if (options.Ablations.Contains(AblationKind.Zero)) WriteZeroAblation(o, runs, ablation);
            if (options.Ablations.Contains(AblationKind.Mean))
                WriteAblation(o, "mean", ablation.RunReplacing(options.MeanValues ?? AblationExperiments.MeanOfRuns(runs), "mean", sameForBoth: true));
            if (options.Ablations.Contains(AblationKind.Resample))
                WriteAblation(o, "resample", ablation.RunReplacing(options.ResampleValues!,
                    "resample", sameForBoth: false));
            var joint = options.Heads?.ToList() ?? TopHeads(HeadsLast(), options.DefaultTopHeads);
            var (jointClean, jointCorrupted) = ablation.JointHeads(joint);
            o["joint_ablate_heads"] = Json.Grid(joint.Select(x => new[] { x.Layer, x.Head }));
            o["joint_ablate_head_pair_clean_logit_diff"] = Json.Grid(jointClean);
            o["joint_ablate_head_pair_corrupted_logit_diff"] = Json.Grid(jointCorrupted);
            Lap("ablation_s");
        }

        if (Runs(StudyExperiments.Patterns))
        {
            Report("attention patterns", 0, 1);
            var topHeads = options.Heads?.ToList() ?? TopHeads(HeadsLast(), options.DefaultTopHeads);
            o["top_heads"] = Json.Grid(topHeads.Select(x => new[] { x.Layer, x.Head }));
            foreach (bool clean in new[] { true, false })
            {
                o[$"pattern_last_row_{(clean ? "clean" : "corrupted")}"] = Json.Cube(PatternLastRows(runs, clean));
                if (options.FullPatterns) o[$"pattern_{(clean ? "clean" : "corrupted")}"] = FullPatterns(runs, clean);
            }
            Lap("patterns_s");
            Report("attention patterns", 1, 1);
        }
        int[] pair = [tokens.Answer, tokens.Wrong];
        if (Runs(StudyExperiments.Dla))
        {
            Report("direct logit attribution", 0, 1);
            ct.ThrowIfCancellationRequested();
            var dla = new DirectLogitAttribution(runs, options.Processing);
            foreach (bool clean in new[] { true, false })
            {
                string name = clean ? "clean" : "corrupted";
                o[$"dla_{name}"] = dla.For(clean, pair);
                o[$"dla_candidates_{name}"] = dla.For(clean, tokens.Candidates);
                o[$"head_top_tokens_{name}"] = Json.Cube(dla.TopTokens(clean, options.TopTokens, isDefinedToken));
            }
            Lap("dla_s");
            Report("direct logit attribution", 1, 1);
        }
        if (Runs(StudyExperiments.OvCircuit))
        {
            Report("OV circuit", 0, 1);
            ct.ThrowIfCancellationRequested();
            int[] ovTokens = pair.Concat(tokens.Candidates).Distinct().ToArray();
            o["ov_tokens"] = Json.Row(ovTokens);
            o["ov_copy_rank"] = Json.Cube(OvCircuit.CopyRanks(model, ovTokens));
            Lap("ov_circuit_s");
            Report("OV circuit", 1, 1);
        }

        var circuits = new CircuitExperiments(runs, Report, ct);
        if (Runs(StudyExperiments.HeadInputPatch))
        {
            circuits.HeadInputs().WriteTo(o);
            Lap("head_input_patch_s");
        }
        if (Runs(StudyExperiments.Noising))
        {
            circuits.Noising().WriteTo(o);
            Lap("noising_s");
        }
        if (Runs(StudyExperiments.PathPatch))
        {
            var senders = options.Senders ?? [PathPatching.DefaultSender(HeadsLast())];
            new PathPatching(runs, Report, ct).Run(senders).WriteTo(o);
            Lap("path_patch_s");
        }
        if (Runs(StudyExperiments.LogitLens))
        {
            // no progress report: it reads the base caches (no run, so nothing for bench's naive loop to count)
            circuits.LogitLens().WriteTo(o);
            Lap("logit_lens_s");
        }
        if (headsLast != null && !o.ContainsKey("top_heads"))   // the 2×2 table's heads, even when patterns are skipped
            o["top_heads"] = Json.Grid((options.Heads?.ToList() ?? TopHeads(headsLast, options.DefaultTopHeads)).Select(x => new[] { x.Layer, x.Head }));
        timings["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 4);
        o["timings"] = timings;
        return o;
    }

    static void WriteZeroAblation(JsonObject o, StudyRuns runs, AblationExperiments ablation)
    {
        var (ablatedClean, ablatedCorrupted) = ablation.RunBoth();
        foreach (bool clean in new[] { true, false })
        {
            string name = clean ? "clean" : "corrupted";
            double baseline = clean ? runs.CleanLogitDiff : runs.CorruptedLogitDiff;
            var r = clean ? ablatedClean : ablatedCorrupted;
            o[$"zero_ablate_attn_{name}_logit_diff"] = Json.Row(r.Attn);
            o[$"zero_ablate_mlp_{name}_logit_diff"] = Json.Row(r.Mlp);
            o[$"zero_ablate_head_{name}_logit_diff"] = Json.Grid(r.Heads);
            o[$"zero_ablate_attn_{name}_fraction"] = Json.Row(AblationExperiments.Fraction(r.Attn, baseline));
            o[$"zero_ablate_mlp_{name}_fraction"] = Json.Row(AblationExperiments.Fraction(r.Mlp, baseline));
            o[$"zero_ablate_head_{name}_fraction"] = Json.Grid(r.Heads.Select(row => AblationExperiments.Fraction(row, baseline)));
        }
    }

    /// <summary>{kind}_ablate_{attn,mlp,head}_{clean,corrupted}_logit_diff.</summary>
    static void WriteAblation(JsonObject o, string kind, (AblationExperiments.Result Clean, AblationExperiments.Result Corrupted) r)
    {
        foreach (bool clean in new[] { true, false })
        {
            string name = clean ? "clean" : "corrupted";
            var v = clean ? r.Clean : r.Corrupted;
            o[$"{kind}_ablate_attn_{name}_logit_diff"] = Json.Row(v.Attn);
            o[$"{kind}_ablate_mlp_{name}_logit_diff"] = Json.Row(v.Mlp);
            o[$"{kind}_ablate_head_{name}_logit_diff"] = Json.Grid(v.Heads);
        }
    }

    /// <summary>The experiments a study with these options runs: <c>--method atp</c> / <c>atp+verify</c> replace the exact
    /// sweeps with AtP (the same pair in a few forward-equivalents); the exact study leaves its AtP estimates out where
    /// the backward pass cannot differentiate the design (so its base runs keep nothing for them).</summary>
    internal static HashSet<string> ExperimentsRun(StudyOptions options, Loading.ModelConfig config)
    {
        var run = (options.Experiments ?? (IEnumerable<string>)StudyExperiments.All).ToHashSet();
        if (options.Method == StudyMethod.Exact && BackwardPass.Unsupported(config) is not null) run.Remove(StudyExperiments.Atp);
        if (options.Method != StudyMethod.Exact)
        {
            run.ExceptWith(StudyExperiments.ExactSweeps);
            run.Add(StudyExperiments.Atp);
        }
        return run;
    }

    /// <summary>The base runs a study with these options needs: AtP's hooks kept when it runs, and for
    /// <c>--method atp*</c> both prompts in one batch (the exact study keeps single runs: a batch rounds differently).</summary>
    internal static StudyRuns RunsFor(HookedTransformer model, StudyTokens tokens, StudyOptions options, CancellationToken ct = default) =>
        new(model, tokens, ExperimentsRun(options, model.Config).Contains(StudyExperiments.Atp) ? AttributionPatching.Needs(model) : null, ct,
            batch: options.Method != StudyMethod.Exact);

    /// <summary>
    /// Checks the layer and head indices of <paramref name="options"/> against the model; <c>Run</c> calls it
    /// first, and callers should call it before loading weights or tokenizing so that a typo costs nothing.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) naming the index and the valid range.</exception>
    public static void ValidateOptions(Loading.ModelConfig c, StudyOptions options)
    {
        if (options.PairLayer is { } pl && (pl < 0 || pl >= c.NLayers))
            throw SharpLensException.Usage($"pair layer {pl} is out of range: the model has layers 0–{c.NLayers - 1}; pick one of those",
                nameof(StudyOptions.PairLayer));
        foreach (var (l, h) in options.Heads ?? [])
            if (l < 0 || l >= c.NLayers || h < 0 || h >= c.NHeads)
                throw SharpLensException.Usage($"head {l}.{h} is out of range: the model has layers 0–{c.NLayers - 1} and heads 0–{c.NHeads - 1} per layer",
                    nameof(StudyOptions.Heads));
        if (options.Senders is { } senders) PathPatching.ValidateSenders(c, senders);
        if (options.Method == StudyMethod.AtpVerify && options.VerifyTop < 1)
            throw SharpLensException.Usage($"--method atp+verify K needs K ≥ 1 items per sweep (got {options.VerifyTop})");
    }

    /// <summary>The heads with the largest absolute final-position patching recovery.</summary>
    public static List<(int Layer, int Head)> TopHeads(double[][] headsLast, int count) =>
        headsLast.SelectMany((row, l) => row.Select((v, h) => (Layer: l, Head: h, V: Math.Abs(v))))
            .OrderByDescending(x => x.V).Take(count).Select(x => (x.Layer, x.Head)).ToList();

    /// <summary>pattern [layer][head][q_pos][k_pos]: every head's whole pattern, for the report's attention viewer
    /// (4 decimals: what a colour can show).</summary>
    static JsonArray FullPatterns(StudyRuns runs, bool clean)
    {
        var cache = clean ? runs.Clean : runs.Corrupted;
        int T = runs.Tokens.Length, H = runs.Model.Config.NHeads;
        return new JsonArray(runs.Model.HookNames.Layers.Select(names =>
        {
            var p = cache[names.Pattern].Data;
            return (JsonNode?)new JsonArray(Enumerable.Range(0, H).Select(h => (JsonNode?)new JsonArray(Enumerable.Range(0, T).Select(q =>
                (JsonNode?)new JsonArray(Enumerable.Range(0, T).Select(k => (JsonNode?)Math.Round((double)p[(h * T + q) * T + k], 4)).ToArray())).ToArray())).ToArray());
        }).ToArray());
    }

    /// <summary>pattern_last_row [layer][head][k_pos]: attention from the final position.</summary>
    static IEnumerable<IEnumerable<IEnumerable<double>>> PatternLastRows(StudyRuns runs, bool clean)
    {
        var cache = clean ? runs.Clean : runs.Corrupted;
        int T = runs.Tokens.Length, H = runs.Model.Config.NHeads;
        return runs.Model.HookNames.Layers.Select(names =>
        {
            var p = cache[names.Pattern].Data;
            return Enumerable.Range(0, H).Select(h => p.Skip((h * T + T - 1) * T).Take(T).Select(v => (double)v).ToArray());
        }).ToArray();
    }
}
