using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;

namespace SharpLens.Benchmarks;

public static partial class ModelBenchmark
{
    /// <summary>
    /// <c>bench --against-qwen2</c>: the model's forward against a random Qwen2 checkpoint of the same shapes and weight
    /// dtype (<see cref="RandomModelSpec.Qwen2Twin"/>, written to a temporary folder and deleted after), on the same token
    /// ids, timed in alternation — A B, B A, A B, … after a warm-up of each — so that the machine's load, which moves
    /// from second to second on a shared machine, falls on both alike. Writes <c>against_qwen2</c> into
    /// <paramref name="o"/>: each one's median forward (wall and CPU seconds) and GFLOP/s (<see cref="ForwardFlops"/> of
    /// each one's own matrices), <c>gflops_ratio</c> (the family's over Qwen2's; 1 = as fast per FLOP), the ratio in CPU
    /// seconds and per round, and <c>family_only</c>: what the family computes that Qwen2 cannot express, whose cost the
    /// ratio counts against the family.
    /// </summary>
    static void MeasureAgainstQwen2(HookedTransformer model, HfTokenizer tok, BenchOptions options, JsonObject o,
        Action<string>? log, CancellationToken ct)
    {
        var c = model.Config;
        var dtype = model.Weights.Layers[0].WDown.DType;
        int[] ids = tok.Encode(Experiments.PromptSet.SeedClean, addSpecialTokens: true).ToArray();
        o["prompt_tokens"] = ids.Length;
        var spec = RandomModelSpec.Qwen2Twin(c, dtype);
        string dir = Path.Combine(Path.GetTempPath(), $"sharplens-qwen2-twin-{Environment.ProcessId}-{Guid.NewGuid():N}");
        log?.Invoke($"writing the Qwen2 twin ({RandomCheckpoint.WeightBytes(spec) / 1e9:0.00} GB {dtype.ToString().ToLowerInvariant()}) to {dir}");
        try
        {
            RandomCheckpoint.Write(spec, dir, seed: 1, ct: ct);
            using var twin = HookedTransformer.Load(dir);
            int rounds = options.Quick ? 4 : 10;   // even: each model runs first in half the rounds (the second of two
                                                   // consecutive forwards of one model measured faster)
            log?.Invoke($"{rounds} rounds of one forward each, alternating ({ids.Length} tokens, logits at every position)");
            var (family, qwen2) = Alternate(model, twin, ids, rounds, ct);
            var q = Compare(c, twin.Config, ids.Length, family, qwen2, FamilyOnly(model));
            // Where the mapped matrices start within a cache line: the checkpoint's header length decides it, and the bf16
            // kernels run misaligned weights at ~0.6× (docs/benchmarks.md); the twin's are aligned (RandomCheckpoint).
            q["family_weight_offsets_mod_64"] = Offsets(model);
            q["qwen2_weight_offsets_mod_64"] = Offsets(twin);
            o["against_qwen2"] = q;
        }
        finally
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
            catch (IOException) { /* the OS temp cleaner gets it */ }
        }
    }

    /// <summary>Wall and CPU seconds of each model's forwards, in rounds of one each (the order flipped every round).</summary>
    static ((double[] Wall, double[] Cpu) A, (double[] Wall, double[] Cpu) B) Alternate(HookedTransformer a, HookedTransformer b,
        int[] ids, int rounds, CancellationToken ct)
    {
        RunOptions Warm(HookedTransformer m)
        {
            var logits = m.Forward([ids], new RunOptions { Logits = LogitsMode.All, Cancellation = ct }).Logits;
            return new RunOptions { Logits = LogitsMode.All, LogitsInto = logits, Cancellation = ct };
        }
        var oa = Warm(a); var ob = Warm(b);
        double[] aw = new double[rounds], ac = new double[rounds], bw = new double[rounds], bc = new double[rounds];
        void Time(HookedTransformer m, RunOptions opt, double[] wall, double[] cpu, int i)
        {
            var sw = Stopwatch.StartNew();
            double c0 = CpuSeconds();
            m.Forward([ids], opt);
            wall[i] = sw.Elapsed.TotalSeconds;
            cpu[i] = CpuSeconds() - c0;
        }
        for (int i = 0; i < rounds; i++)
        {
            ct.ThrowIfCancellationRequested();
            if (i % 2 == 0) { Time(a, oa, aw, ac, i); Time(b, ob, bw, bc, i); }
            else { Time(b, ob, bw, bc, i); Time(a, oa, aw, ac, i); }
        }
        return ((aw, ac), (bw, bc));
    }

    /// <summary>The <c>against_qwen2</c> object from the two models' timings (pure arithmetic: tested without timing).</summary>
    internal static JsonObject Compare(ModelConfig family, ModelConfig qwen2, int tokens, (double[] Wall, double[] Cpu) f,
        (double[] Wall, double[] Cpu) q, IEnumerable<string> familyOnly)
    {
        double ff = ForwardFlops(family, tokens), qf = ForwardFlops(qwen2, tokens);
        double fw = Median(f.Wall), qw = Median(q.Wall), fc = Median(f.Cpu), qc = Median(q.Cpu);
        double fg = ff / fw / 1e9, qg = qf / qw / 1e9;
        var rounds = f.Wall.Zip(q.Wall, (a, b) => (JsonNode?)Round(ff / a / (qf / b), 3)).ToArray();
        return new JsonObject
        {
            ["family"] = family.Architecture,
            ["qwen2_twin"] = new JsonObject
            {
                ["d_model"] = qwen2.DModel, ["n_layers"] = qwen2.NLayers, ["n_heads"] = qwen2.NHeads, ["n_kv_heads"] = qwen2.NKvHeads,
                ["d_head"] = qwen2.DHead, ["d_mlp"] = qwen2.DMlp, ["vocab_size"] = qwen2.VocabSize, ["tied"] = qwen2.TieWordEmbeddings,
            },
            ["rounds"] = f.Wall.Length,
            ["family_gflop"] = Round(ff / 1e9, 3),
            ["qwen2_gflop"] = Round(qf / 1e9, 3),
            ["family_forward_s"] = Round(fw, 4),
            ["qwen2_forward_s"] = Round(qw, 4),
            ["family_gflops"] = Round(fg, 2),
            ["qwen2_gflops"] = Round(qg, 2),
            ["gflops_ratio"] = Round(fg / qg, 3),
            ["family_forward_cpu_s"] = Round(fc, 4),
            ["qwen2_forward_cpu_s"] = Round(qc, 4),
            ["gflops_ratio_cpu"] = Round(ff / fc / (qf / qc), 3),
            ["round_ratios"] = new JsonArray(rounds),
            ["family_only"] = new JsonArray(familyOnly.Select(s => (JsonNode?)s).ToArray()),
            ["note"] = "the twin is Qwen2 at the same d_model, layers, heads, kv heads, head_dim, d_mlp, vocabulary, tying and "
                + "weight dtype; what Qwen2 cannot express (family_only) is the family's own cost, counted against it",
        };
    }

    /// <summary>The distinct byte offsets modulo 64 at which the model's matrices start (0: all on a cache line).</summary>
    internal static JsonArray Offsets(HookedTransformer m)
    {
        var w = m.Weights;
        var mats = w.Layers.SelectMany(l => new[] { l.Wq, l.Wk, l.Wv, l.Wo, l.WGate, l.WUp, l.WDown, l.QkvInterleaved })
            .Append(w.Unembed).Where(x => x.Data != 0);
        return new JsonArray(mats.Select(x => (int)(x.Data % 64)).Distinct().Order().Select(v => (JsonNode?)v).ToArray());
    }

    /// <summary>What the model computes that its Qwen2 twin does not (or computes otherwise), in words.</summary>
    internal static List<string> FamilyOnly(HookedTransformer m)
    {
        var c = m.Config; var d = c.Design; var w = m.Weights.Layers[0];
        var list = new List<string>();
        if (d.Positions == PositionKind.LearnedAbsolute) list.Add("learned absolute positions (no rotary)");
        if (d.Positions == PositionKind.Rotary && d.RotaryFraction < 1) list.Add($"partial rotary ({d.RotaryFraction:0.##} of each head)");
        if (d.Residual == ResidualKind.Parallel) list.Add("parallel residual");
        if (d.Norm == NormKind.LayerNorm) list.Add("LayerNorm" + (w.Ln1Bias.Length > 0 ? " with biases" : ""));
        if (d.Mlp == MlpKind.Plain) list.Add($"plain MLP ({d.Activation}; two d × d_mlp matrices, Qwen2's gated one has three)");
        else if (d.Activation != ActivationKind.Silu) list.Add($"gated MLP with {d.Activation}");
        if (w.QkvInterleaved.Data != 0) list.Add("fused per-head q/k/v matrix");
        if (w.Bq.Length == 0 && w.BQkvInterleaved.Length == 0) list.Add("no q/k/v biases (Qwen2 has them)");
        if (w.Bo.Length > 0 || w.BDown.Length > 0) list.Add("output and MLP biases");
        if (d.QkNorm) list.Add("per-head q/k RMSNorm");
        if (d.PostNorms) list.Add("post-attention and post-MLP norms");
        if (d.ScaleEmbedding) list.Add("embedding × √d_model");
        if (c.AttnSoftcap != null) list.Add("attention soft-cap");
        if (c.FinalSoftcap != null) list.Add("final logit soft-cap");
        if (Enumerable.Range(0, c.NLayers).Any(l => c.WindowAt(l) != null)) list.Add("sliding-window attention");
        return list;
    }
}
