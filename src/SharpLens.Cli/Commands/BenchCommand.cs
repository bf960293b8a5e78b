using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.Benchmarks;
using Spectre.Console;

namespace SharpLens.Cli.Commands;

/// <summary>
/// <c>sharplens bench --model DIR [--json] [--quick] [--forward-only | --against-qwen2] [--skip-study] [--dataset]</c>:
/// GEMM throughput against the FMA peak, the seed-prompt forward, forward + backward and the AtP study, the whole
/// default study (in forwards, and against a naive one-forward-per-run loop) and the peak resident set; with
/// --forward-only the forward alone, with --skip-study all but the exact study; with --against-qwen2 the forward against
/// a random Qwen2 checkpoint of the same shapes, timed in alternation.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "model directory or Hub id (default: the embedded set-completion demo); needs tokenizer.json" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var quick = new Option<bool>("--quick") { Description = "shorter measurements (fewer forwards, short GEMM probes)" };
        var forwardOnly = new Option<bool>("--forward-only") { Description = "only the 25-token forward (no GEMM probes, no study): to pair with another implementation's, as tools/pair_with_torch.py does" };
        var skipStudy = new Option<bool>("--skip-study") { Description = "everything but the exact default study (GEMM probes, forward, forward + backward, the AtP study): minutes less on a large model" };
        var dataset = new Option<bool>("--dataset") { Description = "also a 16-pair dataset study of generated set-completion pairs (batched across pairs), then single-pair studies of the same pairs with the same experiments: their costs per pair in forwards" };
        var datasetExperiments = new Option<string?>("--dataset-experiments") { Description = $"the experiments of --dataset's two studies (comma-separated; baselines always run; default: {string.Join(",", StudyExperimentsOrder(BenchOptions.DefaultDatasetExperiments))}): {string.Join(", ", Experiments.StudyExperiments.All)}" };
        var datasetOnly = new Option<bool>("--dataset-only") { Description = "with --dataset: only the GEMM probes, the forward and the dataset figures (no gradients, no default study on the seed prompts)" };
        var againstQwen2 = new Option<bool>("--against-qwen2") { Description = "only the forward, against a random Qwen2 checkpoint of the same shapes and dtype (written to a temporary folder), the two timed in alternation: each one's GFLOP/s and their ratio" };
        var cmd = new Command("bench", "Measure GEMM throughput, forward and whole-study time, and peak memory") { model, json, quick, forwardOnly, againstQwen2, skipStudy, dataset, datasetExperiments, datasetOnly };
        cmd.SetAction(p => CliHost.Guard(ct =>
        {
            foreach (var other in new[] { (forwardOnly, "--forward-only"), (skipStudy, "--skip-study"), (dataset, "--dataset") })
                if (p.GetValue(againstQwen2) && p.GetValue(other.Item1))
                    throw SharpLensException.Usage($"--against-qwen2 measures the forward alone; it does not go with {other.Item2}");
            string dir = CliHost.ResolveModel(p.GetValue(model), ct);
            bool asJson = p.GetValue(json);
            bool withDataset = p.GetValue(dataset);
            if (p.GetValue(skipStudy) && withDataset)
                throw SharpLensException.Usage("--dataset measures a study: it cannot go with --skip-study");
            if (!withDataset && (p.GetValue(datasetOnly) || p.GetValue(datasetExperiments) != null))
                throw SharpLensException.Usage("--dataset-only and --dataset-experiments need --dataset");
            IReadOnlySet<string>? experiments = null;
            if (p.GetValue(datasetExperiments) is { } names)
            {
                var list = names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                foreach (var n in list)
                    if (!Experiments.StudyExperiments.All.Contains(n))
                        throw SharpLensException.Usage($"--dataset-experiments: \"{GenerateCommand.Printable(n)}\" is not an experiment; valid names: {string.Join(", ", Experiments.StudyExperiments.All)}");
                experiments = list.Append(Experiments.StudyExperiments.Baselines).ToHashSet();
            }
            var options = new BenchOptions
            {
                Quick = p.GetValue(quick), ForwardOnly = p.GetValue(forwardOnly), SkipStudy = p.GetValue(skipStudy), AgainstQwen2 = p.GetValue(againstQwen2), DatasetPairs = withDataset ? 16 : 0,
                DatasetExperiments = experiments, DatasetOnly = p.GetValue(datasetOnly),
            };
            var r = ModelBenchmark.Run(dir, options, step => Console.Error.WriteLine($"bench: {step}…"), ct);
            if (asJson) Console.WriteLine(r.ToJsonString());
            else Show(r);
            return 0;
        }));
        return cmd;
    }

    static void Show(JsonObject r)
    {
        string S(string key) => r[key]?.ToString() ?? "";
        var m = r["model"]!; var mg = r["model_gemm"]!; var mc = r["machine"]!;
        AnsiConsole.MarkupLine($"[bold]Machine[/] {Markup.Escape(mc["cpu_model"]!.ToString())}, {mc["cores"]} cores, AVX-512 {mc["avx512"]}, kernels {mc["simd_level"]} × {mc["kernel_threads"]} threads");
        AnsiConsole.MarkupLine($"[bold]Model[/] {Markup.Escape(m["path"]!.ToString())}: {m["architecture"]}, {m["n_layers"]} layers, d_model {m["d_model"]}, d_mlp {m["d_mlp"]}, " +
                               $"vocab {m["vocab_size"]}, {m["dtype"]}, {m["weight_gb"]} GB");
        var t = new Table().Title("sharplens bench (wall clock; noisy on a shared machine)").AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        string forwardRow = $"forward, {S("prompt_tokens")} tokens, all logits (median)";
        if (r["against_qwen2"] is JsonObject q)
        {
            t.AddRow($"{m["architecture"]} forward, {S("prompt_tokens")} tokens (median of {q["rounds"]})", $"{q["family_forward_s"]} s ({q["family_gflops"]} GFLOP/s)");
            t.AddRow("Qwen2 at the same shapes, alternating", $"{q["qwen2_forward_s"]} s ({q["qwen2_gflops"]} GFLOP/s)");
            t.AddRow("GFLOP/s ratio (family / Qwen2)", $"{q["gflops_ratio"]} (in CPU seconds {q["gflops_ratio_cpu"]})");
            t.AddRow("ratio per round", string.Join(", ", q["round_ratios"]!.AsArray().Select(v => v!.ToString())));
            t.AddRow("load average (before / after)", $"{S("load_average_before")} / {S("load_average")}");
            AnsiConsole.Write(t);
            var only = q["family_only"]!.AsArray().Select(v => v!.ToString()).ToList();
            AnsiConsole.MarkupLine("[grey]" + Markup.Escape(only.Count == 0 ? "the twin computes what the model computes"
                : "counted against the family (Qwen2 cannot express it): " + string.Join("; ", only)) + "[/]");
            return;
        }
        if (r["forward_only"] is not null)
        {
            t.AddRow(forwardRow, $"{S("forward_s")} s ({S("forward_gflops")} GFLOP/s)");
            t.AddRow("single forwards", string.Join(", ", r["forward_runs_s"]!.AsArray().Select(v => $"{v} s")));
            t.AddRow("peak resident set (VmHWM)", $"{S("peak_rss_gb")} GB");
            AnsiConsole.Write(t);
            return;
        }
        t.AddRow("FMA peak (fp32, all cores)", $"{S("fma_peak_gflops")} GFLOP/s");
        t.AddRow($"GEMM {ModelBenchmark.RefBigM}×{ModelBenchmark.RefK}×{ModelBenchmark.RefN} bf16", $"{S("gemm_gflops")} GFLOP/s ({Pct(r["gemm_peak_fraction"])} of peak)");
        t.AddRow($"GEMM {ModelBenchmark.RefSkinnyM}×{ModelBenchmark.RefK}×{ModelBenchmark.RefN} bf16", $"{S("gemm_skinny_gflops")} GFLOP/s ({Pct(r["gemm_skinny_peak_fraction"])} of peak)");
        t.AddRow($"GEMM {mg["shape"]} {mg["dtype"]} (model)", $"{mg["gflops"]} GFLOP/s ({Pct(mg["peak_fraction"])} of peak)");
        t.AddRow($"GEMM {mg["skinny_shape"]} {mg["dtype"]} (model)", $"{mg["skinny_gflops"]} GFLOP/s ({Pct(mg["skinny_peak_fraction"])} of peak)");
        t.AddRow(forwardRow, $"{S("forward_s")} s ({S("forward_gflops")} GFLOP/s)");
        if (r["dataset_only"] is not null)
        {
            DatasetRows(t, r);
            t.AddRow("load average", S("load_average"));
            t.AddRow("peak resident set (VmHWM)", $"{S("peak_rss_gb")} GB");
            AnsiConsole.Write(t);
            return;
        }
        t.AddRow("forward + backward to every hook", $"{S("forward_backward_s")} s = {S("forward_backward_forward_units")} forwards");
        t.AddRow("study sweeps by AtP (--method atp)", $"{S("atp_study_s")} s = {S("atp_study_forward_units")} forwards");
        t.AddRow("peak resident set after gradients", $"{S("peak_rss_gradients_gb")} GB (weights + {S("peak_rss_gradients_over_weights_gb")} GB)");
        if (r["study_skipped"] is not null)
        {
            t.AddRow("default hf study", "skipped (--skip-study)");
            t.AddRow("load average", S("load_average"));
            t.AddRow("peak resident set (VmHWM)", $"{S("peak_rss_gb")} GB");
            AnsiConsole.Write(t);
            return;
        }
        t.AddRow("default hf study, seed prompts", $"{S("study_s")} s = {S("study_forward_units")} forwards");
        t.AddRow("naive loop estimate", $"{S("naive_forwards")} forwards ≈ {S("naive_estimate_s")} s");
        t.AddRow("speed-up over the naive loop", $"{S("naive_speedup")}×");
        t.AddRow("the same in CPU seconds (load average)", $"{S("naive_speedup_cpu")}× ({S("load_average")})");
        DatasetRows(t, r);
        t.AddRow("exact study over the AtP study", $"{S("atp_speedup")}×");
        t.AddRow("peak resident set (VmHWM)", $"{S("peak_rss_gb")} GB");
        AnsiConsole.Write(t);
        foreach (var note in r["notes"]?.AsArray() ?? [])
            AnsiConsole.MarkupLine("[yellow]note:[/] " + Markup.Escape(note!.ToString()));
        if (r["study_timings"] is JsonObject st)
            AnsiConsole.MarkupLine("[grey]study phases: " + Markup.Escape(string.Join(", ", st.Select(kv => $"{kv.Key} {kv.Value}"))) + "[/]");
    }

    /// <summary>The dataset study's rows: its cost per pair beside the single-pair studies' of the same pairs.</summary>
    static void DatasetRows(Table t, JsonObject r)
    {
        if (r["dataset_study"] is not JsonObject ds) return;
        if (ds["error"] is JsonNode error) { t.AddRow("dataset study", Markup.Escape(error.ToString())); return; }
        string experiments = string.Join(",", ds["experiments"]!.AsArray().Select(e => e!.ToString()));
        if (ds["forward_units_per_pair"] is not JsonNode u) { t.AddRow($"dataset study, {ds["pairs"]} pairs", $"{ds["study_s"]} s; no pair usable"); return; }
        t.AddRow($"dataset study, {ds["pairs"]} pairs × ({experiments}), {ds["pairs_per_batch"]} per batch",
            $"{ds["study_s"]} s = {u} forwards a pair ({ds["cpu_forward_units_per_pair"]} in CPU seconds)");
        t.AddRow("the same pairs, single-pair studies", $"{ds["single_pair_s"]} s = {ds["single_pair_forward_units_per_pair"]} forwards a pair ({ds["single_pair_cpu_forward_units_per_pair"]} in CPU seconds)");
        t.AddRow("dataset over single-pair (≤ 1?)", $"{ds["per_pair_vs_single_pair"]}× ({ds["within_single_pair"]}); CPU {ds["per_pair_vs_single_pair_cpu"]}× ({ds["within_single_pair_cpu"]})");
    }

    static IEnumerable<string> StudyExperimentsOrder(IReadOnlySet<string> set) => Experiments.StudyExperiments.All.Where(set.Contains);

    static string Pct(JsonNode? fraction) => fraction == null ? "?" : $"{fraction.GetValue<double>() * 100:0}%";
}
