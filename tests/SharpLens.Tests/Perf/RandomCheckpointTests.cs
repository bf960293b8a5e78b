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
    public static TheoryData<string> Presets => new() { "qwen1.5-1.8b", "qwen2-0.5b", "qwen2.5-1.5b", "llama-style", "qwen3-0.6b" };

    /// <summary>Presets whose vocabulary is smaller than the embedded Qwen tokenizer's: they load and run token ids they hold.</summary>
    [Theory]
    [InlineData("mistral-7b")]
    [InlineData("pythia-410m")]
    public void SmallVariantOfASmallerVocabulary_LoadsAndRuns(string preset)
    {
        var spec = RandomCheckpoint.Preset(preset).Small().WithLayers(2);
        string dir = Path.Combine(Fixtures.TempDir("random"), "model");
        try
        {
            RandomCheckpoint.Write(spec, dir, seed: 7);
            using var m = HookedTransformer.Load(dir);
            Assert.Equal(spec.ToConfig(), m.Config);
            int[] ids = Enumerable.Range(0, 12).Select(i => i * 997 % spec.VocabSize).ToArray();
            var logits = m.Run([ids]);
            Assert.Equal([1, ids.Length, spec.VocabSize], logits.Shape);
            Assert.All(logits.Data, v => Assert.True(float.IsFinite(v)));
            double rms = Math.Sqrt(logits.Data.Average(v => (double)v * v));
            Assert.InRange(rms, 0.01, 100);
        }
        finally { Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true); }
    }

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
        Assert.Throws<SharpLensException>(() => RandomCheckpoint.Preset("gpt-2"));
    }

    [Theory, MemberData(nameof(Presets))]
    public void SmallOneLayerVariant_LoadsTokenizesAndRuns(string preset)
    {
        var spec = RandomCheckpoint.Preset(preset).Small().WithLayers(1);
        string dir = Path.Combine(Fixtures.TempDir("random"), "model");
        try
        {
            RandomCheckpoint.Write(spec, dir, seed: 7);
            Assert.True(File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
            Assert.Equal(2, Directory.GetFiles(dir, "model-*-of-00002.safetensors").Length);
            var tok = HfTokenizer.Load(dir);
            using var m = HookedTransformer.Load(dir);
            Assert.Equal(spec.ToConfig(), m.Config);
            var prompts = PromptSet.Prepare(tok, m.Config, PromptSet.SeedClean, PromptSet.SeedCorrupted, PromptSet.SeedAnswer, PromptSet.SeedWrong);
            var logits = m.Run([prompts.Tokens.Clean]);
            Assert.Equal([1, prompts.Tokens.Length, spec.VocabSize], logits.Shape);
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
