using System.CommandLine;
using System.Text.Json.Nodes;
using SharpLens.Cli;
using SharpLens.Cli.Commands;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Perf;

/// <summary>Tests that swap <see cref="Console.Out"/> run one at a time.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public class ConsoleCollection;

/// <summary><c>sharplens make-random</c> and <c>sharplens bench --json</c> end to end (no timing is asserted).</summary>
[Collection("Console")]
public class CliPerfCommandTests
{
    /// <summary>Runs the CLI's make-random and bench commands in process, capturing stdout (the "Console" collection).</summary>
    internal static (int Code, string Out) Invoke(params string[] args)
    {
        var root = new RootCommand { MakeRandomCommand.Create(), BenchCommand.Create() };
        var old = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        try { return (CliHost.Invoke(root, args), sw.ToString()); }
        finally { Console.SetOut(old); }
    }

    [Fact]
    public void MakeRandom_ThenBenchJson_PrintsEveryKeyPositive()
    {
        string root = Fixtures.TempDir("bench");
        string dir = Path.Combine(root, "m");
        try
        {
            var (code, _) = Invoke("make-random", "--like", "qwen1.5-1.8b", "--small", "--layers", "2", "--out", dir, "--seed", "3");
            Assert.Equal(0, code);
            using (var m = HookedTransformer.Load(dir)) Assert.Equal(2, m.Config.NLayers);
            var (again, _) = Invoke("make-random", "--like", "qwen1.5-1.8b", "--small", "--layers", "1", "--out", dir);
            Assert.Equal((int)ExitCode.Usage, again);

            var (benchCode, output) = Invoke("bench", "--model", dir, "--json", "--quick");
            Assert.Equal(0, benchCode);
            var o = JsonNode.Parse(output.Trim())!.AsObject();
            foreach (var key in new[] { "forward_s", "study_s", "study_forward_units", "peak_rss_gb", "gemm_gflops", "gemm_skinny_gflops",
                                        "fma_peak_gflops", "naive_estimate_s", "naive_speedup", "gemm_peak_fraction", "gemm_skinny_peak_fraction",
                                        "tokenizer_load_s", "model_load_s", "forward_cpu_s", "study_cpu_s", "naive_speedup_cpu",
                                        "forward_backward_s", "forward_backward_forward_units", "atp_study_s",
                                        "atp_study_forward_units", "atp_speedup", "peak_rss_gradients_gb" })
                Assert.True(o[key]!.GetValue<double>() > 0, $"{key} = {o[key]}");
            // every run of the study counts once in the naive loop, the circuit questions' runs included (the sender is
            // in layer 0: the default rule looks at layers 0 … n − 2)
            int L = o["model"]!["n_layers"]!.GetValue<int>(), H = o["model"]!["n_heads"]!.GetValue<int>(), G = o["model"]!["n_kv_heads"]!.GetValue<int>(), T = 25;
            int seed = 3 + L * T + 4 * L + 2 * L * H + H * (H + 1) / 2 + L + 2 * (2 * L + L * H) + 3;
            int circuits = L * (2 * H + 2 * G) + (2 * L + L * H) + 1 + 2 * (L - 1) * (H + 2 * G) + L;
            int joint = 2 * (4 * 5 / 2);   // the joint ablation grid of the 4 top heads (pairs and singles), clean and corrupted runs
            const int atp = 1;   // the exact study's AtP estimates: one phase of one run
            Assert.Equal(seed + circuits + joint + atp, o["naive_forwards"]!.GetValue<int>());
            Assert.True(o["model_gemm"]!["gflops"]!.GetValue<double>() > 0);
            Assert.True(o["machine"]!["cores"]!.GetValue<int>() > 0);
            Assert.NotNull(o["machine"]!["cpu_model"]);
            Assert.NotNull(o["machine"]!["avx512"]);
            Assert.Equal(25, o["prompt_tokens"]!.GetValue<int>());
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void BenchForwardOnly_TimesTheForwardAndNothingElse()
    {
        var (code, output) = Invoke("bench", "--model", Fixtures.DemoModelDir, "--json", "--forward-only");
        Assert.Equal(0, code);
        var o = JsonNode.Parse(output.Trim())!.AsObject();
        Assert.True(o["forward_only"]!.GetValue<bool>());
        Assert.Equal(25, o["prompt_tokens"]!.GetValue<int>());
        var runs = o["forward_runs_s"]!.AsArray().Select(v => v!.GetValue<double>()).Order().ToArray();
        Assert.Equal(7, runs.Length);
        Assert.All(runs, t => Assert.True(t > 0));
        Assert.Equal(runs[3], o["forward_s"]!.GetValue<double>());  // the median
        double flops = SharpLens.Benchmarks.ModelBenchmark.ForwardFlops(SharpLens.Loading.ModelConfig.Load(Fixtures.DemoModelDir), 25);
        // forward_s is printed rounded to 0.1 ms: the GFLOP/s lie between those the rounding allows.
        Assert.InRange(o["forward_gflops"]!.GetValue<double>(), flops / (runs[3] + 5e-5) / 1e9 - 0.1, flops / Math.Max(runs[3] - 5e-5, 1e-9) / 1e9 + 0.1);
        Assert.True(o["peak_rss_gb"]!.GetValue<double>() > 0);
        Assert.NotNull(o["machine"]!["simd_level"]);
        foreach (var skipped in new[] { "study_s", "gemm_gflops", "fma_peak_gflops", "model_gemm" })
            Assert.False(o.ContainsKey(skipped), $"{skipped} was measured");
    }

    [Fact]
    public void BenchDatasetOnly_ReportsPerPairCostsBesideSinglePairStudiesOfTheSameExperiments()
    {
        var (code, output) = Invoke("bench", "--model", Fixtures.DemoModelDir, "--json", "--quick", "--dataset", "--dataset-only");
        Assert.Equal(0, code);
        var o = JsonNode.Parse(output.Trim())!.AsObject();
        Assert.True(o["dataset_only"]!.GetValue<bool>());
        foreach (var skipped in new[] { "study_s", "atp_study_s", "forward_backward_s", "naive_speedup" })
            Assert.False(o.ContainsKey(skipped), $"{skipped} was measured");
        var d = o["dataset_study"]!.AsObject();
        Assert.Equal(["baselines", "attn_mlp_patch", "control_patch"], d["experiments"]!.AsArray().Select(e => (string)e!));
        Assert.Equal(16, (int)d["pairs"]!);
        Assert.Equal(16, (int)d["used"]!);   // BaselineRule.Any: every pair whose baselines differ
        foreach (var key in new[] { "study_s", "study_cpu_s", "forward_units_per_pair", "cpu_forward_units_per_pair", "single_pair_s",
                                    "single_pair_cpu_s", "single_pair_forward_units_per_pair", "single_pair_cpu_forward_units_per_pair",
                                    "per_pair_vs_single_pair", "per_pair_vs_single_pair_cpu" })
            Assert.True(d[key]!.GetValue<double>() > 0, $"{key} = {d[key]}");
        // the ratio is of the two studies' seconds, and "within" says whether it is ≤ 1
        Assert.Equal(d["per_pair_vs_single_pair"]!.GetValue<double>() <= 1, d["within_single_pair"]!.GetValue<bool>());
        Assert.Equal(d["per_pair_vs_single_pair_cpu"]!.GetValue<double>() <= 1, d["within_single_pair_cpu"]!.GetValue<bool>());
        Assert.Equal(8, (int)d["pairs_per_batch"]!);

        var (again, chosen) = Invoke("bench", "--model", Fixtures.DemoModelDir, "--json", "--quick", "--dataset", "--dataset-only", "--dataset-experiments", "head_patch");
        Assert.Equal(0, again);
        Assert.Equal(["baselines", "head_patch"], JsonNode.Parse(chosen.Trim())!["dataset_study"]!["experiments"]!.AsArray().Select(e => (string)e!));
        Assert.Equal((int)ExitCode.Usage, Invoke("bench", "--model", Fixtures.DemoModelDir, "--dataset-only").Code);
        Assert.Equal((int)ExitCode.Usage, Invoke("bench", "--model", Fixtures.DemoModelDir, "--dataset", "--dataset-experiments", "nope").Code);
    }

    [Fact]
    public void BenchSkipStudy_MeasuresTheGradientsButNotTheExactStudy()
    {
        var (code, output) = Invoke("bench", "--model", Fixtures.DemoModelDir, "--json", "--quick", "--skip-study");
        Assert.Equal(0, code);
        var o = JsonNode.Parse(output.Trim())!.AsObject();
        Assert.True(o["study_skipped"]!.GetValue<bool>());
        foreach (var key in new[] { "forward_s", "forward_backward_s", "forward_backward_forward_units", "atp_study_s", "gemm_gflops",
                                    "peak_rss_gradients_gb", "peak_rss_gb" })
            Assert.True(o[key]!.GetValue<double>() > 0, $"{key} = {o[key]}");
        Assert.NotNull(o["load_average"]);
        foreach (var skipped in new[] { "study_s", "naive_forwards", "naive_speedup", "atp_speedup", "dataset_study" })
            Assert.False(o.ContainsKey(skipped), $"{skipped} was measured");

        var (both, _) = Invoke("bench", "--model", Fixtures.DemoModelDir, "--skip-study", "--dataset");
        Assert.Equal((int)ExitCode.Usage, both);
    }

    /// <summary>The forward's FLOP count, checked on GPT-2 small by hand: 12 blocks of c_attn (768×2304), c_proj (768×768),
    /// c_fc and mlp.c_proj (768×3072 each), the tied unembedding (50257×768), and QKᵀ + AV over (n + 1)/2 keys.</summary>
    [Fact]
    public void ForwardFlops_CountsEveryMatrixProductOnce()
    {
        var c = SharpLens.Loading.RandomCheckpoint.Preset("gpt2").ToConfig();
        double perToken = 2.0 * (12 * (768.0 * 2304 + 768 * 768 + 2 * 768 * 3072) + 50257.0 * 768);
        Assert.Equal(10 * (perToken + 2 * 2 * 768 * 5.5 * 12), SharpLens.Benchmarks.ModelBenchmark.ForwardFlops(c, 10), 1e-6);
    }

    [Fact]
    public void MakeRandom_UnknownPreset_IsAUsageError()
    {
        var (code, _) = Invoke("make-random", "--like", "gpt-2", "--out", Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid()));
        Assert.Equal((int)ExitCode.Usage, code);
    }
}
