using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using SharpLens.Diagnostics;
using SharpLens.Experiments;
using SharpLens.Kernels;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;

namespace SharpLens.Benchmarks;

/// <summary>How long <see cref="ModelBenchmark.Run"/> spends on each measurement.</summary>
public sealed record BenchOptions
{
    /// <summary>Short budgets (for tests and a quick look): fewer forwards, shorter GEMM and peak probes.</summary>
    public bool Quick { get; init; }
    /// <summary>Only the forward (no GEMM or peak probes, no study): for pairing it, run by run, with another
    /// implementation's forward on the same machine (<c>tools/pair_with_torch.py</c>).</summary>
    public bool ForwardOnly { get; init; }
    /// <summary>Everything but the exact study (and the dataset study): the GEMM probes, the forward, the gradients and
    /// the AtP study, in minutes less on a large model.</summary>
    public bool SkipStudy { get; init; }
    /// <summary>Only the forward, against a random Qwen2 checkpoint of the same shapes, the two timed in alternation
    /// (<c>against_qwen2</c>; no GEMM probes, no study).</summary>
    public bool AgainstQwen2 { get; init; }
    /// <summary>Timed forwards after the warm-up (median reported).</summary>
    public int ForwardRuns => Quick ? 3 : 7;
    public TimeSpan GemmBudget => TimeSpan.FromSeconds(Quick ? 0.2 : 1.5);
    public TimeSpan PeakBudget => TimeSpan.FromSeconds(Quick ? 0.2 : 1.0);
    /// <summary>Also a dataset study of this many generated set-completion pairs (0: none), batched across pairs, and
    /// single-pair studies of the same pairs with the same experiments (<see cref="DatasetExperiments"/>): their costs
    /// per pair (<see cref="ModelBenchmark.MeasureDatasetStudy"/>).</summary>
    public int DatasetPairs { get; init; }
    /// <summary>The experiments of the dataset study and of its single-pair comparison (null:
    /// <see cref="DefaultDatasetExperiments"/>).</summary>
    public IReadOnlySet<string>? DatasetExperiments { get; init; }
    /// <summary>With <see cref="DatasetPairs"/>: only the GEMM probes, the forward and the dataset study (no gradients, no
    /// default single-pair study on the seed prompts), so that the dataset figure on a large model takes minutes.</summary>
    public bool DatasetOnly { get; init; }

    /// <summary>The dataset study's default experiments: the baselines, attention/MLP output patching and the control patch
    /// — sweeps that run across pairs, about 30 forwards a pair on a 25-token prompt (the whole default study is ~450).</summary>
    public static IReadOnlySet<string> DefaultDatasetExperiments { get; } = new HashSet<string>
        { StudyExperiments.Baselines, StudyExperiments.AttnMlpPatch, StudyExperiments.ControlPatch };
}

/// <summary>
/// The numbers of <c>sharplens bench</c>: GEMM throughput at the reference shapes (625×2048×5504 and 25×2048×5504, bf16)
/// and at the model's own, as fractions of a measured FMA peak; the 25-token-class forward on the seed prompt (logits at
/// every position, median after a warm-up); the whole default <c>hf</c> study on the seed prompts, in units of that
/// forward and against a naive loop that does one full forward per patched/ablated run; and the peak resident set.
/// Timings are wall-clock on whatever else the machine is doing: never assert on them.
/// </summary>
public static partial class ModelBenchmark
{
    /// <summary>The reference GEMM shapes (Qwen1.5-1.8B's MLP: prompt-batch and single-prompt rows), whatever the model.</summary>
    public const int RefK = 2048, RefN = 5504, RefBigM = 625, RefSkinnyM = 25;

    /// <summary>Runs every measurement (the forward alone with <see cref="BenchOptions.ForwardOnly"/>, the forward against
    /// its Qwen2 twin with <see cref="BenchOptions.AgainstQwen2"/>) on the model in
    /// <paramref name="modelDir"/> (which needs a tokenizer.json) and returns one JSON object; <paramref name="log"/> hears
    /// each step as it starts.</summary>
    public static JsonObject Run(string modelDir, BenchOptions options, Action<string>? log = null, CancellationToken ct = default)
    {
        var o = new JsonObject { ["quick"] = options.Quick, ["machine"] = Machine() };
        if (options.AgainstQwen2)
        {
            using var familyModel = LoadModel(modelDir, o, log, out var tokenizer);
            o["load_average_before"] = LoadAverage();
            MeasureAgainstQwen2(familyModel, tokenizer, options, o, log, ct);
            o["load_average"] = LoadAverage();
            o["peak_rss_gb"] = Round(PeakRssBytes() / 1e9, 3);
            return o;
        }
        if (options.ForwardOnly)
        {
            o["forward_only"] = true;
            using var forwardModel = LoadModel(modelDir, o, log, out var tokenizer);
            MeasureForward(forwardModel, tokenizer, options, o, log, ct);
            o["peak_rss_gb"] = Round(PeakRssBytes() / 1e9, 3);
            return o;
        }

        log?.Invoke("FMA peak");
        double peak = GemmBenchmark.MeasureFmaPeakGflops(options.PeakBudget);
        o["fma_peak_gflops"] = Round(peak);
        log?.Invoke($"GEMM {RefBigM}×{RefK}×{RefN} bf16");
        double big = GemmBenchmark.MeasureGflops(RefBigM, RefK, RefN, DType.BF16, options.GemmBudget);
        ct.ThrowIfCancellationRequested();
        log?.Invoke($"GEMM {RefSkinnyM}×{RefK}×{RefN} bf16");
        double skinny = GemmBenchmark.MeasureGflops(RefSkinnyM, RefK, RefN, DType.BF16, options.GemmBudget);
        o["gemm_gflops"] = Round(big);
        o["gemm_skinny_gflops"] = Round(skinny);
        o["gemm_peak_fraction"] = Round(big / peak, 3);
        o["gemm_skinny_peak_fraction"] = Round(skinny / peak, 3);
        ct.ThrowIfCancellationRequested();

        using var model = LoadModel(modelDir, o, log, out var tok);
        var c = model.Config;
        var dtype = model.Weights.Layers[0].WDown.DType;

        bool sameShapes = c.DModel == RefK && c.DMlp == RefN && dtype == DType.BF16;
        log?.Invoke($"GEMM at the model's shapes ({c.DModel}×{c.DMlp} {dtype})");
        double own = sameShapes ? big : GemmBenchmark.MeasureGflops(RefBigM, c.DModel, c.DMlp, dtype, options.GemmBudget);
        double ownSkinny = sameShapes ? skinny : GemmBenchmark.MeasureGflops(RefSkinnyM, c.DModel, c.DMlp, dtype, options.GemmBudget);
        o["model_gemm"] = new JsonObject
        {
            ["shape"] = $"{RefBigM}x{c.DModel}x{c.DMlp}", ["skinny_shape"] = $"{RefSkinnyM}x{c.DModel}x{c.DMlp}", ["dtype"] = dtype.ToString().ToLowerInvariant(),
            ["gflops"] = Round(own), ["skinny_gflops"] = Round(ownSkinny),
            ["peak_fraction"] = Round(own / peak, 3), ["skinny_peak_fraction"] = Round(ownSkinny / peak, 3),
        };

        var (forward, forwardCpu) = MeasureForward(model, tok, options, o, log, ct);
        if (options.DatasetOnly && options.DatasetPairs > 0)
        {
            o["dataset_only"] = true;
            MeasureDatasetStudy(model, tok, options, forward, forwardCpu, o, log, ct);
            o["load_average"] = LoadAverage();
            o["peak_rss_gb"] = Round(PeakRssBytes() / 1e9, 3);
            o["notes"] = Notes(o);
            return o;
        }
        var prompts = PromptSet.Prepare(tok, model.Config, PromptSet.SeedClean, PromptSet.SeedCorrupted, PromptSet.SeedAnswer,
            PromptSet.SeedWrong, candidates: PromptSet.SeedCandidates.Split('|'));

        MeasureGradients(model, prompts, forward, options, o, log, ct);
        if (options.SkipStudy)
        {
            o["study_skipped"] = true;
            o["load_average"] = LoadAverage();
            o["peak_rss_gb"] = Round(PeakRssBytes() / 1e9, 3);
            o["notes"] = Notes(o);
            return o;
        }

        log?.Invoke("the default hf study on the seed prompts");
        var runs = new RunCounter();
        StageTimer.Reset();
        var sw = Stopwatch.StartNew();
        var cpu0 = CpuSeconds();
        var results = Study.Run(model, prompts.Tokens, new StudyOptions(), tok.IsDefined, runs, ct);
        double study = sw.Elapsed.TotalSeconds, studyCpu = CpuSeconds() - cpu0;
        int naive = runs.Total;
        o["study_s"] = Round(study, 3);
        o["study_forward_units"] = Round(study / forward, 1);
        o["study_timings"] = results["timings"]?.DeepClone();
        if (StageTimer.Snapshot() is { } sp) o["study_profile_s"] = sp;
        o["naive_forwards"] = naive;
        o["naive_estimate_s"] = Round(naive * forward, 3);
        o["naive_speedup"] = Round(naive * forward / study, 2);
        o["atp_speedup"] = Round(study / o["atp_study_s"]!.GetValue<double>(), 1);
        // The same ratio in CPU seconds of this process: on a machine other processes share, wall time counts the time
        // they hold the cores, which differs between the forwards and the study; CPU time counts this process's work.
        o["study_cpu_s"] = Round(studyCpu, 3);
        o["naive_speedup_cpu"] = Round(naive * forwardCpu / studyCpu, 2);
        o["load_average"] = LoadAverage();
        if (options.DatasetPairs > 0) MeasureDatasetStudy(model, tok, options, forward, forwardCpu, o, log, ct);
        o["peak_rss_gb"] = Round(PeakRssBytes() / 1e9, 3);
        o["notes"] = Notes(o);
        return o;
    }

    /// <summary>
    /// <c>dataset_study</c>: a dataset study of <see cref="BenchOptions.DatasetPairs"/> generated set-completion pairs (seed
    /// 0) with <see cref="BenchOptions.DatasetExperiments"/>, every pair studied whatever its baselines
    /// (<see cref="BaselineRule.Any"/>: random weights pass few), batched across pairs; then single-pair studies of the
    /// same pairs with the same experiments, one pair at a time. Each cost per pair is in forwards (seconds over
    /// <c>forward_s</c>) and in CPU forwards (CPU seconds of this process over <c>forward_cpu_s</c>), and
    /// <c>per_pair_vs_single_pair</c> (and <c>_cpu</c>) is their ratio, <c>within_single_pair</c> (and <c>_cpu</c>)
    /// whether it is ≤ 1. The dataset study runs first, so it pays the JIT of the code the two share.
    /// </summary>
    internal static void MeasureDatasetStudy(HookedTransformer model, HfTokenizer tok, BenchOptions bench, double forward, double forwardCpu,
        JsonObject o, Action<string>? log, CancellationToken ct)
    {
        int count = bench.DatasetPairs;
        var experiments = bench.DatasetExperiments ?? BenchOptions.DefaultDatasetExperiments;
        log?.Invoke($"a {count}-pair dataset study (generated set-completion pairs; {string.Join(", ", experiments.Order())})");
        IReadOnlyList<Datasets.PreparedPair> pairs;
        try { pairs = Datasets.PromptDataset.FromPairs(Datasets.SetCompletionTask.Generate(tok, count, 0)).Prepare(tok, model.Config); }
        catch (SharpLensException e) when (e.Code == ExitCode.Input)
        {
            o["dataset_study"] = new JsonObject { ["error"] = e.Message };   // a tokenizer the generator cannot use
            return;
        }
        var study = new StudyOptions { Experiments = experiments, FullPatterns = false };   // as a dataset study's pairs
        var options = new DatasetStudyOptions { BaselineRule = BaselineRule.Any, Study = study, PairsPerBatch = DatasetStudyOptions.SuggestedPairsPerBatch };
        var d = new JsonObject
        {
            ["pairs"] = pairs.Count, ["mean_tokens"] = Round(pairs.Average(p => p.Prompts.Tokens.Length), 1),
            ["experiments"] = new JsonArray(StudyExperiments.All.Where(experiments.Contains).Select(e => (JsonNode?)e).ToArray()),
            ["pairs_per_batch"] = options.PairsPerBatch,
        };
        o["dataset_study"] = d;
        var sw = Stopwatch.StartNew();
        double cpu0 = CpuSeconds();
        var results = DatasetStudy.ComputePairs(model, pairs, Enumerable.Range(0, pairs.Count), null, options, tok.IsDefined, null, ct).ToList();
        var used = results.Where(r => r.Results != null).Select(r => r.Index).ToList();
        d["used"] = used.Count;
        if (used.Count > 0) DatasetStudy.Aggregate(pairs.Count, results, options);   // the aggregation is part of the cost
        double seconds = sw.Elapsed.TotalSeconds, cpu = CpuSeconds() - cpu0;
        d["study_s"] = Round(seconds, 3);
        d["study_cpu_s"] = Round(cpu, 3);
        if (used.Count == 0) return;
        d["forward_units_per_pair"] = Round(seconds / forward / used.Count, 2);
        d["cpu_forward_units_per_pair"] = Round(cpu / forwardCpu / used.Count, 2);

        log?.Invoke($"single-pair studies of the same {used.Count} pairs, the same experiments");
        sw.Restart();
        cpu0 = CpuSeconds();
        foreach (int i in used) Study.Run(model, pairs[i].Prompts.Tokens, study, tok.IsDefined, null, ct);
        double single = sw.Elapsed.TotalSeconds, singleCpu = CpuSeconds() - cpu0;
        d["single_pair_s"] = Round(single, 3);
        d["single_pair_cpu_s"] = Round(singleCpu, 3);
        d["single_pair_forward_units_per_pair"] = Round(single / forward / used.Count, 2);
        d["single_pair_cpu_forward_units_per_pair"] = Round(singleCpu / forwardCpu / used.Count, 2);
        d["per_pair_vs_single_pair"] = Round(seconds / single, 3);
        d["per_pair_vs_single_pair_cpu"] = Round(cpu / singleCpu, 3);
        d["within_single_pair"] = seconds <= single;
        d["within_single_pair_cpu"] = cpu <= singleCpu;
    }

    /// <summary>
    /// Gradients (before the exact study, so that the peak resident set is theirs): forward + backward of the seed
    /// prompt's logit difference to every hook (<c>forward_backward_s</c>, median after a warm-up, and over
    /// <c>forward_s</c>); the study's sweeps answered by AtP (<c>--method atp</c>: baselines and AtP only,
    /// <c>atp_study_s</c>); and the peak resident set then (<c>peak_rss_gradients_gb</c>, and less the weights).
    /// </summary>
    static void MeasureGradients(HookedTransformer model, PromptSet prompts, double forward, BenchOptions options, JsonObject o,
        Action<string>? log, CancellationToken ct)
    {
        var t = prompts.Tokens;
        var metric = Metrics.LogitDiff(t.Answer, t.Wrong);
        log?.Invoke("forward + backward to every hook");
        double[] Timed(int count, Action run)
        {
            run();                                                           // warm-up (JIT, first-touch pages)
            StageTimer.Reset();
            return Enumerable.Range(0, count).Select(_ => { ct.ThrowIfCancellationRequested(); var sw = Stopwatch.StartNew(); run(); return sw.Elapsed.TotalSeconds; }).ToArray();
        }
        double fb = Median(Timed(options.Quick ? 1 : 3, () => model.Backward(t.Clean, metric).Dispose()));   // disposed: a loop's steady state
        o["forward_backward_s"] = Round(fb, 4);
        o["forward_backward_forward_units"] = Round(fb / forward, 2);
        if (StageTimer.Snapshot() is { } bp) o["forward_backward_profile_s"] = bp;
        log?.Invoke("the study's sweeps by attribution patching (--method atp)");
        var atpOptions = new StudyOptions { Method = StudyMethod.Atp, Experiments = new HashSet<string> { StudyExperiments.Baselines } };
        double atp = Median(Timed(options.Quick ? 1 : 3, () => Study.Run(model, t, atpOptions, _ => true, null, ct)));
        o["atp_study_s"] = Round(atp, 4);
        o["atp_study_forward_units"] = Round(atp / forward, 2);
        double peak = PeakRssBytes() / 1e9;
        o["peak_rss_gradients_gb"] = Round(peak, 3);
        o["peak_rss_gradients_over_weights_gb"] = Round(peak - model.WeightBytes / 1e9, 3);
    }

    /// <summary>Loads the tokenizer and the model, timing each (into o), and describes the model.</summary>
    static HookedTransformer LoadModel(string modelDir, JsonObject o, Action<string>? log, out HfTokenizer tok)
    {
        log?.Invoke("loading the model");
        var loading = Stopwatch.StartNew();
        tok = HfTokenizer.Load(modelDir);
        o["tokenizer_load_s"] = Round(loading.Elapsed.TotalSeconds, 4);  // first load in this process: JIT included
        loading.Restart();
        var model = HookedTransformer.Load(modelDir);
        o["model_load_s"] = Round(loading.Elapsed.TotalSeconds, 4);
        o["model"] = Describe(model, model.Weights.Layers[0].WDown.DType);
        return model;
    }

    /// <summary>The forward on the seed clean prompt, logits at every position: prompt_tokens, forward_s (the median),
    /// forward_runs_s, forward_cpu_s (the median of each forward's CPU seconds) and forward_gflops into o. The prompt is
    /// tokenized as the model's tokenizer does (with its BOS); only the forward needs it, so any vocabulary serves.
    /// Returns the two medians.</summary>
    static (double Forward, double ForwardCpu) MeasureForward(HookedTransformer model, HfTokenizer tok, BenchOptions options,
        JsonObject o, Action<string>? log, CancellationToken ct)
    {
        int[] ids = tok.Encode(PromptSet.SeedClean, addSpecialTokens: true).ToArray();
        o["prompt_tokens"] = ids.Length;
        log?.Invoke($"forward ({ids.Length} tokens, logits at every position)");
        var (times, cpu) = Forwards(model, ids, options.ForwardRuns, ct);
        if (StageTimer.Snapshot() is { } fp) o["forward_profile_s"] = fp;
        double forward = Median(times), forwardCpu = Median(cpu);
        o["forward_s"] = Round(forward, 4);
        o["forward_runs_s"] = new JsonArray(times.Select(t => (JsonNode?)Round(t, 4)).ToArray());
        o["forward_cpu_s"] = Round(forwardCpu, 4);
        o["forward_gflops"] = Round(ForwardFlops(model.Config, ids.Length) / forward / 1e9);
        return (forward, forwardCpu);
    }

    /// <summary>
    /// Floating-point operations of one forward over <paramref name="tokens"/> tokens with logits at every position: 2 per
    /// weight of every matrix product per token (the unembedding included, embedding lookups not), plus the attention's
    /// QKᵀ and AV over (n + 1) / 2 keys on average (causal). Norms, rotary and activations are left out (&lt; 1 %), so
    /// families with different shapes compare by GFLOP/s.
    /// </summary>
    public static double ForwardFlops(ModelConfig c, int tokens)
    {
        static bool IsEmbedding(string name) =>
            name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || name.EndsWith("embed_in.weight", StringComparison.Ordinal)
            || name.EndsWith("wte.weight", StringComparison.Ordinal) || name.EndsWith("wpe.weight", StringComparison.Ordinal);
        double weights = Checkpoint.ExpectedTensors(c).Where(t => t.Shape.Length == 2 && !IsEmbedding(t.Name))
            .Sum(t => (double)t.Shape[0] * t.Shape[1]);
        if (c.TieWordEmbeddings) weights += (double)c.VocabSize * c.DModel;
        double attention = 2.0 * 2 * c.NHeads * c.DHead * (tokens + 1) / 2.0 * c.NLayers;
        return tokens * (2 * weights + attention);
    }

    /// <summary>One warm-up forward, then <paramref name="count"/> timed ones into its logits tensor (wall and CPU seconds
    /// each; the stage profile, when on, covers the timed ones).</summary>
    static (double[] Wall, double[] Cpu) Forwards(HookedTransformer model, int[] ids, int count, CancellationToken ct)
    {
        // The warm-up's logits tensor takes every timed forward's logits, as a loop of forwards would keep one
        // (RunOptions.LogitsInto: a new 15 MB array per forward costs a full garbage collection and its page faults).
        var logits = model.Forward([ids], new RunOptions { Logits = LogitsMode.All, Cancellation = ct }).Logits;
        var options = new RunOptions { Logits = LogitsMode.All, LogitsInto = logits, Cancellation = ct };
        StageTimer.Reset();
        var times = new double[count];
        var cpu = new double[count];
        for (int i = 0; i < count; i++)
        {
            var sw = Stopwatch.StartNew();
            double c0 = CpuSeconds();
            model.Forward([ids], options);
            times[i] = sw.Elapsed.TotalSeconds;
            cpu[i] = CpuSeconds() - c0;
        }
        return (times, cpu);
    }

    /// <summary>Counts the runs a study performs: the largest total reported per phase (every sweep item is one run of a
    /// naive loop; the baselines phase counts the three unpatched runs).</summary>
    sealed class RunCounter : IProgress<StudyProgress>
    {
        readonly Dictionary<string, int> _phases = new();
        public void Report(StudyProgress p) => _phases[p.Phase] = Math.Max(p.Total, _phases.GetValueOrDefault(p.Phase));
        public int Total => _phases.Values.Sum();
    }

    static JsonObject Describe(HookedTransformer m, DType dtype)
    {
        var c = m.Config;
        return new JsonObject
        {
            ["path"] = Path.GetFullPath(m.Directory), ["architecture"] = c.Architecture, ["n_layers"] = c.NLayers, ["d_model"] = c.DModel,
            ["d_mlp"] = c.DMlp, ["n_heads"] = c.NHeads, ["n_kv_heads"] = c.NKvHeads, ["d_head"] = c.DHead, ["vocab_size"] = c.VocabSize,
            ["tied"] = c.TieWordEmbeddings, ["dtype"] = dtype.ToString().ToLowerInvariant(), ["weight_gb"] = Round(m.WeightBytes / 1e9, 3),
        };
    }

    /// <summary>Cores, CPU model, SIMD support and the runtime.</summary>
    public static JsonObject Machine()
    {
        string cpu = "unknown";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { /* keep "unknown" */ }
        return new JsonObject
        {
            ["cores"] = Environment.ProcessorCount, ["cpu_model"] = cpu, ["avx512"] = Avx512F.IsSupported,
            ["vector512_accelerated"] = Vector512.IsHardwareAccelerated, ["avx2"] = Avx2.IsSupported,
            ["fma"] = Fma.IsSupported, ["simd_level"] = KernelOptions.EffectiveLevel.ToString(), ["kernel_threads"] = KernelOptions.EffectiveThreads,
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        };
    }

    /// <summary>
    /// Why a figure reads oddly, in words (printed under the table and kept in the JSON): a GEMM above 100 % of the peak
    /// means the peak probe read low (short under --quick, noisy on a shared machine) or the shapes fit in cache, so the
    /// fraction says nothing; a speed-up under 1× means the model is so small that the study's fixed work (DLA, OV
    /// circuits, attention patterns, vocabulary scans), which the naive loop estimate leaves out, outweighs its runs.
    /// </summary>
    internal static JsonArray Notes(JsonObject o)
    {
        var notes = new JsonArray();
        double F(JsonNode? n) => n?.GetValue<double>() ?? 0;
        double maxFraction = new[] { F(o["gemm_peak_fraction"]), F(o["gemm_skinny_peak_fraction"]),
            F(o["model_gemm"]?["peak_fraction"]), F(o["model_gemm"]?["skinny_peak_fraction"]) }.Max();
        if (maxFraction > 1)
            notes.Add($"a GEMM ran at {maxFraction * 100:0} % of the measured FMA peak: the peak probe read low ("
                + (F(o["fma_peak_gflops"]) > 0 && o["quick"]?.GetValue<bool>() == true ? "--quick probes it for 0.2 s, " : "")
                + "noisy on a shared machine) and small shapes run from cache; such a fraction is not an efficiency");
        if (o["naive_speedup"] is JsonNode s && F(s) < 1)
            notes.Add($"speed-up {F(s)}× < 1: with a model this small ({F(o["forward_s"]) * 1000:0.#} ms a forward) the study's work "
                + "besides its forwards (DLA, OV circuits, attention patterns, vocabulary scans) outweighs them, and the naive "
                + "loop estimate counts forwards only; on a real model's shapes the forwards dominate");
        return notes;
    }

    /// <summary>VmHWM of /proc/self/status (peak resident set, mapped weights included) in bytes; the current
    /// working set where /proc is unavailable.</summary>
    public static long PeakRssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    /// <summary>User and system CPU seconds of this process so far (every thread: the kernels' workers, the GC).</summary>
    static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>The 1-minute load average of /proc/loadavg (how many runnable processes shared the cores); null elsewhere.</summary>
    static JsonNode? LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    static double Median(double[] v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static double Round(double v, int digits = 1) => Math.Round(v, digits);
}
