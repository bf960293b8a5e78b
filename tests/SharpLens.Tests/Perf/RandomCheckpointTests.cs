using System.Security.Cryptography;
using SharpLens.Experiments;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Perf;

/// <summary>Random checkpoints (<see cref="RandomCheckpoint"/>): the presets' exact architectures, and small variants
/// that load, tokenize the seed prompts with the embedded Qwen tokenizer and run.</summary>
public class RandomCheckpointTests
{
    public static TheoryData<string> Presets => new(RandomCheckpoint.Presets.Keys);

    /// <summary>Whether the real model's tokenizer adds a BOS (tokenizer.json's post-processor after tokenizer_config.json's
    /// <c>add_bos_token</c>): Mistral-7B and Gemma 2 do, Phi-3-mini-4k-instruct's sets it false, GPT-2/Pythia/Qwen have none.</summary>
    static bool RealModelAddsBos(string preset) => preset is "mistral-7b" or "gemma-2-2b";

    /// <summary>The issue-21 presets carry the real models' shapes (Mistral-7B-v0.1, Qwen3-0.6B, Pythia-410m).</summary>
    [Fact]
    public void FamilyPresets_HaveTheRealShapes()
    {
        var mi = RandomCheckpoint.Preset("mistral-7b").ToConfig();
        Assert.Equal(("MistralForCausalLM", 4096, 14336, 32, 32, 8, 128, 32000, 4096), (mi.Architecture, mi.DModel, mi.DMlp, mi.NLayers, mi.NHeads, mi.NKvHeads, mi.DHead, mi.VocabSize, mi.WindowAt(0)));
        Assert.False(mi.QkvBias);
        var q3 = RandomCheckpoint.Preset("qwen3-0.6b").ToConfig();
        Assert.Equal(("Qwen3ForCausalLM", 1024, 3072, 28, 16, 8, 128, true, true), (q3.Architecture, q3.DModel, q3.DMlp, q3.NLayers, q3.NHeads, q3.NKvHeads, q3.DHead, q3.Design.QkNorm, q3.TieWordEmbeddings));
        Assert.Null(q3.WindowAt(27));
        var py = RandomCheckpoint.Preset("pythia-410m").ToConfig();
        Assert.Equal(("GPTNeoXForCausalLM", 1024, 4096, 24, 16, 64, 16, 50304, ResidualKind.Parallel), (py.Architecture, py.DModel, py.DMlp, py.NLayers, py.NHeads, py.DHead, py.RotaryDims, py.VocabSize, py.Design.Residual));
        Assert.False(py.TieWordEmbeddings);
        var g2 = RandomCheckpoint.Preset("gpt2").ToConfig();
        Assert.Equal(("GPT2LMHeadModel", 768, 3072, 12, 12, 64, 50257, 1024, true), (g2.Architecture, g2.DModel, g2.DMlp, g2.NLayers, g2.NHeads, g2.DHead, g2.VocabSize, g2.MaxPositions, g2.TieWordEmbeddings));
        var ge = RandomCheckpoint.Preset("gemma-2-2b").ToConfig();
        Assert.Equal(("Gemma2ForCausalLM", 2304, 9216, 26, 8, 4, 256, 256000, true), (ge.Architecture, ge.DModel, ge.DMlp, ge.NLayers, ge.NHeads, ge.NKvHeads, ge.DHead, ge.VocabSize, ge.TieWordEmbeddings));
        Assert.Equal((256.0, 50.0, 30.0), (ge.QueryPreAttnScalar, ge.AttnSoftcap, ge.FinalSoftcap));
        Assert.Equal((4096, (int?)null), (ge.WindowAt(0), ge.WindowAt(1)));   // local layers 0, 2, 4, …
        var phi = RandomCheckpoint.Preset("phi-3-mini").ToConfig();
        Assert.Equal(("Phi3ForCausalLM", 3072, 8192, 32, 32, 32, 96, 32064, false), (phi.Architecture, phi.DModel, phi.DMlp, phi.NLayers, phi.NHeads, phi.NKvHeads, phi.DHead, phi.VocabSize, phi.TieWordEmbeddings));
        Assert.Equal((2047, 96), (phi.WindowAt(0), phi.RotaryDims));
        // 2.61 G and 3.82 G parameters: gemma-2-2b and Phi-3-mini in bf16.
        Assert.InRange(RandomCheckpoint.WeightBytes(RandomCheckpoint.Preset("gemma-2-2b")), 5.2e9, 5.3e9);
        Assert.InRange(RandomCheckpoint.WeightBytes(RandomCheckpoint.Preset("phi-3-mini")), 7.6e9, 7.7e9);
    }

    [Fact]
    public void Qwen15Preset_HasTheRealConfig()
    {
        var c = RandomCheckpoint.Preset("qwen1.5-1.8b").ToConfig();
        Assert.Equal("Qwen2ForCausalLM", c.Architecture);
        Assert.Equal((2048, 5504, 24, 16, 16, 128, 151936), (c.DModel, c.DMlp, c.NLayers, c.NHeads, c.NKvHeads, c.DHead, c.VocabSize));
        Assert.Equal((1e6, 1e-6, 32768), (c.RopeTheta, c.RmsNormEps, c.MaxPositions));
        Assert.False(c.TieWordEmbeddings);
        Assert.True(c.QkvBias);
        // 1.84 G parameters in bf16: the real checkpoint's 3.67 GB.
        Assert.InRange(RandomCheckpoint.WeightBytes(RandomCheckpoint.Preset("qwen1.5-1.8b")), 3.66e9, 3.68e9);
    }

    [Fact]
    public void OtherPresets_HaveTheirArchitectures()
    {
        var q2 = RandomCheckpoint.Preset("qwen2-0.5b").ToConfig();
        Assert.Equal((896, 4864, 24, 14, 2, 64, true), (q2.DModel, q2.DMlp, q2.NLayers, q2.NHeads, q2.NKvHeads, q2.DHead, q2.TieWordEmbeddings));
        var q25 = RandomCheckpoint.Preset("qwen2.5-1.5b").ToConfig();
        Assert.Equal((1536, 8960, 28, 12, 2, 128, true), (q25.DModel, q25.DMlp, q25.NLayers, q25.NHeads, q25.NKvHeads, q25.DHead, q25.TieWordEmbeddings));
        var ll = RandomCheckpoint.Preset("llama-style").ToConfig();
        Assert.Equal(("LlamaForCausalLM", 32, 8, 64, false, true), (ll.Architecture, ll.NHeads, ll.NKvHeads, ll.DHead, ll.QkvBias, ll.TieWordEmbeddings));
        Assert.NotNull(ll.RopeScaling);
        Assert.Throws<SharpLensException>(() => RandomCheckpoint.Preset("gpt-3"));
    }

    /// <summary>Every preset's small one-layer variant loads with the tokenizer it ships, whose ids all fit the vocabulary
    /// and which adds the BOS the real model's does (the config's <c>bos_token_id</c>), and runs the seed prompts.</summary>
    [Theory, MemberData(nameof(Presets))]
    public void SmallOneLayerVariant_LoadsTokenizesAndRuns(string preset)
    {
        var spec = RandomCheckpoint.Preset(preset).Small().WithLayers(1);
        string dir = Path.Combine(Fixtures.TempDir("random"), "model");
        try
        {
            RandomCheckpoint.Write(spec, dir, seed: 7);
            int files = Directory.GetFiles(dir, "model*.safetensors").Length;
            Assert.InRange(files, 1, spec.Shards);
            Assert.Equal(files > 1, File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
            var tok = HfTokenizer.Load(dir);
            Assert.InRange(tok.MaxTokenId, 0, spec.VocabSize - 1);
            Assert.Equal(RealModelAddsBos(preset), tok.AddsBos);
            var configJson = spec.ConfigJson();
            if (tok.AddsBos) Assert.Equal(configJson["bos_token_id"]!.GetValue<int>(), tok.SpecialPrefix[0]);
            Assert.Equal(spec.Architecture, configJson["architectures"]![0]!.GetValue<string>());
            using var m = HookedTransformer.Load(dir);
            // Per-layer windows are an array: compared by value beside the rest of the record.
            Assert.Equal(spec.ToConfig() with { LayerWindows = null }, m.Config with { LayerWindows = null });
            Assert.Equal(spec.ToConfig().LayerWindows, m.Config.LayerWindows);
            Assert.Equal(tok.AddsBos, m.ToTokens(PromptSet.SeedClean)[0] == configJson["bos_token_id"]!.GetValue<int>());
            int[] ids = m.ToTokens(PromptSet.SeedClean);
            var logits = m.Run([ids]);
            Assert.Equal([1, ids.Length, spec.VocabSize], logits.Shape);
            Assert.All(logits.Data, v => Assert.True(float.IsFinite(v)));
            // Sane activations: random logits of order 1, not 0 and not huge.
            double rms = Math.Sqrt(logits.Data.Average(v => (double)v * v));
            Assert.InRange(rms, 0.01, 100);
        }
        finally { Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true); }
    }

    [Fact]
    public void SameSeed_SameBytes_DifferentSeed_DifferentBytes()
    {
        var tiny = new RandomModelSpec
        {
            Name = "tiny", Architecture = "Qwen2ForCausalLM", DModel = 32, DMlp = 64, NLayers = 2, NHeads = 4, NKvHeads = 2,
            VocabSize = 300, Tied = false, RopeTheta = 1e6, RmsNormEps = 1e-6, MaxPositions = 64, Shards = 1,
        };
        string root = Fixtures.TempDir("random-seed");
        try
        {
            string Hash(string name, ulong seed)
            {
                string d = Path.Combine(root, name);
                RandomCheckpoint.Write(tiny, d, seed);
                return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(d, "model.safetensors"))));
            }
            Assert.Equal(Hash("a", 1), Hash("b", 1));
            Assert.NotEqual(Hash("c", 1), Hash("d", 2));
            using var m = HookedTransformer.Load(Path.Combine(root, "a"));
            Assert.Equal(1f, m.Weights.LnFinal[0]);
            var embed = Enumerable.Range(0, 300 * 32).Select(i => m.Weights.Embed[i / 32, i % 32]).ToArray();
            double std = Math.Sqrt(embed.Average(v => (double)v * v));
            Assert.InRange(std, 0.018, 0.022);
            Assert.InRange(embed.Average(), -0.002, 0.002);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void ExistingNonEmptyDirectory_IsRefused_AndLeftAlone()
    {
        string dir = Fixtures.TempDir("random-exists");
        try
        {
            File.WriteAllText(Path.Combine(dir, "keep.txt"), "mine");
            var spec = RandomCheckpoint.Preset("qwen2-0.5b").Small().WithLayers(1);
            var e = Assert.Throws<SharpLensException>(() => RandomCheckpoint.Write(spec, dir, 0));
            Assert.Equal(ExitCode.Usage, e.Code);
            Assert.Equal(["keep.txt"], Directory.GetFiles(dir).Select(Path.GetFileName));
            Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(dir)!, $".{Path.GetFileName(dir)}.tmp-*"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
