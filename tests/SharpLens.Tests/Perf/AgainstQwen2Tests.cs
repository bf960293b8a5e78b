using System.Text.Json.Nodes;
using SharpLens.Benchmarks;
using SharpLens.Cli;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Perf;

/// <summary><c>bench --against-qwen2</c>: the same-shape Qwen2 twin, the keys of the comparison and their arithmetic, on
/// the small family fixtures (no timing is asserted).</summary>
[Collection("Console")]
public class AgainstQwen2Tests
{
    public static TheoryData<string> FamilyFixtures => new("tiny-gpt-neox", "tiny-gemma2", "tiny-gpt2", "tiny-phi3", "tiny-qwen3-small-head", "tiny-mistral-window");

    /// <summary>The twin is a Qwen2 with every shape of the model (head_dim too where it is not d_model / heads) and
    /// the weight dtype of the checkpoint.</summary>
    [Theory, MemberData(nameof(FamilyFixtures))]
    public void Twin_HasTheModelsShapesAndDtype(string fixture)
    {
        var c = ModelConfig.Load(Fixtures.Dir(fixture));
        var t = RandomModelSpec.Qwen2Twin(c, DType.F16).ToConfig();
        Assert.Equal("Qwen2ForCausalLM", t.Architecture);
        Assert.Equal((c.DModel, c.NLayers, c.NHeads, c.NKvHeads, c.DHead, c.DMlp, c.VocabSize, c.TieWordEmbeddings),
            (t.DModel, t.NLayers, t.NHeads, t.NKvHeads, t.DHead, t.DMlp, t.VocabSize, t.TieWordEmbeddings));
        Assert.Equal(BlockDesign.Llama, t.Design);
        Assert.True(t.QkvBias);
    }

    /// <summary>f32 and f16 checkpoints hold the bf16 checkpoint's random values at their own precision (one draw per
    /// element whatever the dtype), and say their dtype in the header and config.json.</summary>
    [Fact]
    public void RandomCheckpoint_InF32AndF16_HoldsTheSameValues()
    {
        var spec = RandomModelSpec.Qwen2Twin(ModelConfig.Load(Fixtures.Dir("tiny-qwen3-small-head")), DType.BF16);
        string root = Fixtures.TempDir("twin-dtype");
        try
        {
            var models = new[] { DType.BF16, DType.F16, DType.F32 }.Select(dt =>
            {
                string d = Path.Combine(root, dt.ToString());
                RandomCheckpoint.Write(spec with { DType = dt }, d, seed: 5);
                Assert.Contains($"\"torch_dtype\": \"{(spec with { DType = dt }).TorchDType}\"", File.ReadAllText(Path.Combine(d, "config.json")));
                return HookedTransformer.Load(d);
            }).ToArray();
            try
            {
                var (bf, f16, f32) = (models[0].Weights.Layers[1].WUp, models[1].Weights.Layers[1].WUp, models[2].Weights.Layers[1].WUp);
                Assert.Equal((DType.BF16, DType.F16, DType.F32), (bf.DType, f16.DType, f32.DType));
                Assert.Equal(RandomCheckpoint.WeightBytes(spec) * 2, RandomCheckpoint.WeightBytes(spec with { DType = DType.F32 }));
                int differ = 0;
                for (int r = 0; r < bf.Rows; r++)
                    for (int c = 0; c < bf.Cols; c++)
                    {
                        float x = f32[r, c];
                        Assert.Equal(BitConverter.Int32BitsToSingle(RandomCheckpoint.Bf16(x) << 16), bf[r, c]);
                        Assert.Equal((float)(Half)x, f16[r, c]);
                        if (x != bf[r, c]) differ++;
                    }
                Assert.True(differ > bf.Rows * bf.Cols / 2, "f32 values should carry more bits than bf16");
                Assert.Equal(1f, models[2].Weights.LnFinal[0]);
            }
            finally { foreach (var m in models) m.Dispose(); }
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>make-random starts every shard's data on a 64-byte boundary (header padded with spaces), so mapped
    /// weights sit on cache lines whatever the header's length (each tensor after the first where the sizes before it are
    /// multiples of 64 bytes, as every real width is).</summary>
    [Fact]
    public void RandomCheckpoint_StartsItsDataOnA64ByteBoundary()
    {
        string root = Fixtures.TempDir("twin-align");
        try
        {
            foreach (var layers in new[] { 1, 2, 3 })
            {
                string d = Path.Combine(root, $"m{layers}");
                RandomCheckpoint.Write(RandomCheckpoint.Preset("gemma-2-2b").Small().WithLayers(layers), d, 0);
                foreach (var f in Directory.GetFiles(d, "*.safetensors"))
                {
                    using var s = File.OpenRead(f);
                    var len = new byte[8];
                    s.ReadExactly(len);
                    Assert.Equal(0, (8 + BitConverter.ToInt64(len)) % 64);
                }
                using var m = HookedTransformer.Load(d);
                Assert.Equal(0, m.Weights.Embed.Data % 64);   // the first tensor of the first shard
            }
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>The comparison's keys on each family fixture: both models timed the same number of rounds, the twin's
    /// shapes, GFLOP/s consistent with each one's FLOPs and median time, the ratio theirs, the family's extras named,
    /// and the temporary twin deleted.</summary>
    [Theory, MemberData(nameof(FamilyFixtures))]
    public void Bench_AgainstQwen2_ReportsBothAndTheRatio(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        string twinPrefix = $"sharplens-qwen2-twin-{Environment.ProcessId}-";
        var before = Directory.GetDirectories(Path.GetTempPath(), twinPrefix + "*").ToHashSet();
        var o = ModelBenchmark.Run(dir, new BenchOptions { Quick = true, AgainstQwen2 = true });
        Assert.DoesNotContain(Directory.GetDirectories(Path.GetTempPath(), twinPrefix + "*"), d => !before.Contains(d));
        var q = o["against_qwen2"]!.AsObject();
        var c = ModelConfig.Load(dir);
        Assert.Equal(c.Architecture, q["family"]!.GetValue<string>());
        Assert.Equal(c.DModel, q["qwen2_twin"]!["d_model"]!.GetValue<int>());
        Assert.Equal(c.DHead, q["qwen2_twin"]!["d_head"]!.GetValue<int>());
        Assert.Equal(c.VocabSize, q["qwen2_twin"]!["vocab_size"]!.GetValue<int>());
        Assert.Equal(4, q["rounds"]!.GetValue<int>());
        Assert.Equal(4, q["round_ratios"]!.AsArray().Count);
        int tokens = o["prompt_tokens"]!.GetValue<int>();
        Assert.Equal(Math.Round(ModelBenchmark.ForwardFlops(c, tokens) / 1e9, 3), q["family_gflop"]!.GetValue<double>());
        foreach (var key in new[] { "family_forward_s", "qwen2_forward_s", "family_gflops", "qwen2_gflops", "gflops_ratio", "gflops_ratio_cpu" })
            Assert.True(q[key]!.GetValue<double>() > 0, $"{key} = {q[key]}");
        double ratio = q["family_gflops"]!.GetValue<double>() / q["qwen2_gflops"]!.GetValue<double>();
        Assert.Equal(ratio, q["gflops_ratio"]!.GetValue<double>(), 0.01 * ratio + 0.002);   // both GFLOP/s are rounded
        Assert.True(o["peak_rss_gb"]!.GetValue<double>() > 0);
        Assert.Equal([0], q["qwen2_weight_offsets_mod_64"]!.AsArray().Select(v => v!.GetValue<int>()));   // make-random aligns
        Assert.All(q["family_weight_offsets_mod_64"]!.AsArray(), v => Assert.InRange(v!.GetValue<int>(), 0, 63));
        Assert.False(o.ContainsKey("study_s"));
        var only = q["family_only"]!.AsArray().Select(v => v!.GetValue<string>()).ToList();
        Assert.NotEmpty(only);
        if (fixture == "tiny-gpt-neox") Assert.Contains("parallel residual", only);
        if (fixture == "tiny-gemma2") Assert.Contains("attention soft-cap", only);
        if (fixture == "tiny-gpt2") Assert.Contains("learned absolute positions (no rotary)", only);
        if (fixture == "tiny-qwen3-small-head") Assert.Contains("per-head q/k RMSNorm", only);
    }

    /// <summary>The arithmetic of the comparison on made-up timings: medians, GFLOP/s from each model's own FLOPs, the
    /// ratio of medians, the ratio in CPU seconds, and one ratio per round.</summary>
    [Fact]
    public void Compare_ComputesMediansAndRatios()
    {
        var fam = RandomCheckpoint.Preset("gpt2").WithLayers(2).ToConfig();
        var twin = RandomModelSpec.Qwen2Twin(fam, DType.BF16).ToConfig();
        double ff = ModelBenchmark.ForwardFlops(fam, 10), qf = ModelBenchmark.ForwardFlops(twin, 10);
        Assert.True(qf > ff);   // the gated MLP's third matrix
        var q = ModelBenchmark.Compare(fam, twin, 10, ([0.3, 0.1, 0.2], [0.6, 0.2, 0.4]), ([0.4, 0.2, 0.1], [0.8, 0.3, 0.2]), ["x"]);
        Assert.Equal(0.2, q["family_forward_s"]!.GetValue<double>());
        Assert.Equal(0.2, q["qwen2_forward_s"]!.GetValue<double>());
        Assert.Equal(Math.Round(ff / 0.2 / (qf / 0.2), 3), q["gflops_ratio"]!.GetValue<double>());
        Assert.Equal(Math.Round(ff / 0.4 / (qf / 0.3), 3), q["gflops_ratio_cpu"]!.GetValue<double>());
        Assert.Equal(new[] { Math.Round(ff / 0.3 / (qf / 0.4), 3), Math.Round(ff / 0.1 / (qf / 0.2), 3), Math.Round(ff / 0.2 / (qf / 0.1), 3) },
            q["round_ratios"]!.AsArray().Select(v => v!.GetValue<double>()));
        Assert.Equal(["x"], q["family_only"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    [Fact]
    public void Cli_AgainstQwen2_PrintsTheComparison_AndRefusesOtherModes()
    {
        var (code, output) = CliPerfCommandTests.Invoke("bench", "--model", Fixtures.Dir("tiny-phi3"), "--json", "--quick", "--against-qwen2");
        Assert.Equal(0, code);
        var q = JsonNode.Parse(output.Trim())!["against_qwen2"]!;
        Assert.Equal("Phi3ForCausalLM", q["family"]!.GetValue<string>());
        Assert.True(q["gflops_ratio"]!.GetValue<double>() > 0);
        var (table, text) = CliPerfCommandTests.Invoke("bench", "--model", Fixtures.Dir("tiny-phi3"), "--quick", "--against-qwen2");
        Assert.Equal(0, table);
        Assert.Contains("GFLOP/s ratio (family / Qwen2)", text);
        foreach (var other in new[] { "--dataset", "--forward-only" })
            Assert.Equal((int)ExitCode.Usage, CliPerfCommandTests.Invoke("bench", "--model", Fixtures.Dir("tiny-phi3"), "--against-qwen2", other).Code);
    }
}
