using System.Text.Json.Nodes;
using SharpLens.Experiments;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using static SharpLens.Tests.Errors.BrokenModel;

namespace SharpLens.Tests.Model;

/// <summary>The family adapters: config fields and defaults, tensor names and layouts, the hook points each design has.</summary>
public class ModelFamilyTests
{
    static ModelConfig Gpt2(string fields = "") =>
        ModelConfig.Parse($$"""{"architectures": ["GPT2LMHeadModel"]{{fields}}}""");

    [Fact]
    public void Gpt2ConfigDefaultsAreHuggingFaces()
    {
        var c = Gpt2();
        Assert.Equal((768, 12, 12, 64, 3072, 1024, 50257, 1e-5), (c.DModel, c.NLayers, c.NHeads, c.DHead, c.DMlp, c.MaxPositions, c.VocabSize, c.RmsNormEps));
        Assert.Equal(new BlockDesign(NormKind.LayerNorm, PositionKind.LearnedAbsolute, MlpKind.Plain, ActivationKind.GeluTanh), c.Design);
        Assert.True(c.TieWordEmbeddings && c.ScaleAttnWeights && c.QkvBias && c.MlpBias);
        Assert.False(c.ScaleAttnByInverseLayerIdx || c.ReorderAndUpcastAttn);
        Assert.Equal(12, c.NKvHeads);
        Assert.Equal(1 / 8.0, c.AttnScale(5), 6);
    }

    [Fact]
    public void Gpt2ConfigFieldsAreRead()
    {
        var c = Gpt2("""
            , "n_embd": 96, "n_head": 3, "n_layer": 2, "n_inner": 100, "n_positions": 40, "vocab_size": 600,
            "layer_norm_epsilon": 0.01, "activation_function": "gelu", "scale_attn_weights": false,
            "scale_attn_by_inverse_layer_idx": true, "reorder_and_upcast_attn": true, "tie_word_embeddings": false
            """);
        Assert.Equal((96, 3, 32, 2, 100, 40, 600, 0.01), (c.DModel, c.NHeads, c.DHead, c.NLayers, c.DMlp, c.MaxPositions, c.VocabSize, c.RmsNormEps));
        Assert.Equal(ActivationKind.GeluExact, c.Design.Activation);
        Assert.Equal(1 / 3.0, c.AttnScale(2), 6);                 // no 1/sqrt(d_head); 1/(layer + 1)
        Assert.True(c.ReorderAndUpcastAttn && !c.TieWordEmbeddings);
        Assert.Contains(Checkpoint.ExpectedTensors(c), t => t.Name == "lm_head.weight");
    }

    [Theory]
    [InlineData("""{"architectures": ["GPT2LMHeadModel"], "activation_function": "relu6"}""", "activation_function relu6 is not supported (supported: silu, swish, gelu, gelu_new")]
    [InlineData("""{"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_head": 5}""", "n_embd 64 is not divisible by n_head 5")]
    [InlineData("""{"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 9, "hidden_act": "tanh"}""", "hidden_act tanh is not supported")]
    public void UnsupportedChoicesAreCheckpointErrors(string json, string message)
    {
        var e = Assert.Throws<SharpLensException>(() => ModelConfig.Parse(json));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void LlamaActivationAndBiasesFollowTheConfig()
    {
        var c = ModelConfig.Parse("""{"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 9, "hidden_act": "gelu_pytorch_tanh", "attention_bias": true, "mlp_bias": true}""");
        Assert.Equal(BlockDesign.Llama with { Activation = ActivationKind.GeluTanh }, c.Design);
        var names = Checkpoint.ExpectedTensors(c).Select(t => t.Name).ToHashSet();
        foreach (var n in new[] { "q_proj.bias", "o_proj.bias" }) Assert.Contains($"model.layers.0.self_attn.{n}", names);
        foreach (var n in new[] { "gate_proj.bias", "up_proj.bias", "down_proj.bias" }) Assert.Contains($"model.layers.0.mlp.{n}", names);
        var qwen = ModelConfig.Parse("""{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 9, "mlp_bias": true}""");
        Assert.DoesNotContain(Checkpoint.ExpectedTensors(qwen), t => t.Name.EndsWith("o_proj.bias") || t.Name.EndsWith("mlp.up_proj.bias"));
    }

    [Fact]
    public void Gpt2TensorNamesTakeThePrefixTheCheckpointUses()
    {
        var c = Gpt2(@", ""n_layer"": 1");
        var bare = Checkpoint.ExpectedTensors(c).Select(t => t.Name).ToList();
        var prefixed = Checkpoint.ExpectedTensors(c, n => n == "transformer.wte.weight").Select(t => t.Name).ToList();
        Assert.Contains("h.0.attn.c_attn.weight", bare);
        Assert.Equal(bare.Select(n => "transformer." + n), prefixed);
        Assert.Contains(Checkpoint.ExpectedTensors(c), t => t.Name == "h.0.mlp.c_fc.weight" && t.Shape.SequenceEqual(new long[] { 768, 3072 }));
    }

    [Theory]
    [InlineData("tiny-qwen2", true)]
    [InlineData("tiny-llama", true)]
    [InlineData("tiny-gpt2", false)]
    public void HookPointsFollowTheDesignAndACachedRunHasExactlyThem(string fixture, bool rotary)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        var all = m.HookNames.All.ToList();
        Assert.Equal(rotary, all.Contains("blocks.0.attn.hook_rot_q"));
        Assert.Equal(rotary, all.Contains("blocks.1.mlp.hook_pre_linear"));
        Assert.Equal(!rotary, all.Contains(HookNames.PosEmbed));
        Assert.Contains("blocks.0.ln1.hook_normalized", all);
        Assert.Contains(HookNames.LnFinalNormalized, all);
        Assert.Equal(rotary ? "blocks.2.attn.hook_rot_k" : "blocks.2.attn.hook_k", m.HookNames.Layers[2].AttnKeys);
        var (_, cache) = m.RunWithCache([[1, 2, 3, 4]]);
        Assert.Equal(all.Order(), all.Where(cache.Contains).Order());
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    /// <summary>Learned positions when resuming after a cached prefix: position QStart + i gets W_pos[QStart + i].</summary>
    [Fact]
    public void Gpt2PartialRunOverACachedKvPrefixReproducesTheFinalLogits()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-gpt2"));
        int[] ids = [5, 60, 7, 300, 9, 21, 400, 13];
        var (logits, cache) = m.RunWithCache([ids]);
        int T = ids.Length, d = m.Config.DModel, V = m.Config.VocabSize;
        foreach (int q0 in new[] { 1, 5, T - 1 })
        {
            var r = m.Forward([ids], new RunOptions
            {
                QStart = q0, Prefix = KvPrefix.FromCache(cache, m.HookNames, q0), Logits = LogitsMode.Last,
            });
            var expected = logits.Data.AsSpan((T - 1) * V, V).ToArray();
            for (int i = 0; i < V; i++) Assert.Equal(expected[i], r.Logits!.Data[i], 1e-4f);
        }
    }

    [Fact]
    public void Gpt2PromptsLongerThanTheLearnedPositionsAreInputErrors()
    {
        using var m = HookedTransformer.Load(Fixtures.Dir("tiny-gpt2"));
        var e = Assert.Throws<SharpLensException>(() => m.Run([new int[m.Config.MaxPositions + 1]]));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains("more than the model's 64 learned positions", e.Message);
    }

    /// <summary>Mask buffers of any dtype are skipped; a dtype the forward pass cannot read is refused where it is read.</summary>
    [Fact]
    public void Gpt2MaskBuffersOfAnyDtypeAreSkippedButWeightsMustBeReadable()
    {
        string src = Fixtures.Dir("tiny-gpt2"), dir = Fixtures.TempDir("gpt2");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string st = Path.Combine(dir, "model.safetensors");
        // h.0.attn.bias: 64·64 F32 = 16,384 bytes, re-declared as I64 [1, 1, 32, 64] (same bytes): still skipped
        EditHeader(st, h => { Entry(h, "h.0.attn.bias")["dtype"] = "I64"; Entry(h, "h.0.attn.bias")["shape"] = new JsonArray(1, 1, 32, 64); });
        using (var m = HookedTransformer.Load(dir)) Assert.Equal(4, m.Config.NLayers);
        // a weight in I32 (same byte count as F32) is read: refused, naming it
        EditHeader(st, h => Entry(h, "h.1.ln_2.bias")["dtype"] = "I32");
        var e = Assert.Throws<SharpLensException>(() => { using var m = HookedTransformer.Load(dir); });
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains("tensor h.1.ln_2.bias: dtype I32 is not supported (supported: BF16, F16, F32)", e.Message);
    }

    /// <summary>The CLI end to end on GPT-2: the study's baselines and DLA entries (pos_embed, attn_bias, bias) reach
    /// results.json, and the report renders.</summary>
    [Fact]
    public void StudyCommandRunsOnGpt2()
    {
        var reference = Fixtures.Json("tiny-gpt2", "reference_experiments.json");
        string P(string k) => reference["prompts"]![k]!.GetValue<string>();
        string outDir = Fixtures.TempDir("gpt2-study");
        var r = CliProcess.Run("study", "--model", Fixtures.Dir("tiny-gpt2"), "--clean", P("clean"), "--corrupted", P("corrupted"),
            "--control", P("unrelated"), "--answer", " Mango", "--wrong", " Orange", "--out", outDir);
        Assert.True(r.Code == 0, r.Err);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")))!;
        foreach (var key in new[] { "clean_logit_diff", "corrupted_logit_diff" })
            Assert.Equal(reference[key]!.GetValue<double>(), results[key]!.GetValue<double>(), 2e-3);
        foreach (var key in new[] { "pos_embed", "attn_bias", "bias" })
            Experiments.ReferenceExperimentTests.AssertMatches(key, reference["dla_clean"]![key]!, results["dla_clean"]![key]);
        Assert.True(new FileInfo(Path.Combine(outDir, "report.html")).Length > 0);
    }

    [Fact]
    public void Gpt2ExtraTensorsAreStillRefused()
    {
        string src = Fixtures.Dir("tiny-gpt2"), dir = Fixtures.TempDir("gpt2");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        EditHeader(Path.Combine(dir, "model.safetensors"), h =>
        {
            h["h.0.attn.bias_extra"] = Entry(h, "h.0.attn.bias").DeepClone();
            h.Remove("h.0.attn.bias");
        });
        var e = Assert.Throws<SharpLensException>(() => { using var m = HookedTransformer.Load(dir); });
        Assert.Contains("unexpected tensor h.0.attn.bias_extra", e.Message);
    }
}
