using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tokenization;
using static SharpLens.Tests.Errors.BrokenModel;

namespace SharpLens.Tests.Errors;

/// <summary>
/// Each way a checkpoint can be broken gives one <see cref="SharpLensException"/> of category
/// <see cref="ExitCode.Checkpoint"/> whose message names the file and the problem.
/// </summary>
public class CheckpointErrorTests
{
    const string Norm0 = "model.layers.0.input_layernorm.weight";
    const string PostNorm0 = "model.layers.0.post_attention_layernorm.weight";

    /// <summary>Loads the (damaged) copy and returns the single-line checkpoint error it raises.</summary>
    static string LoadError(string dir)
    {
        var e = Assert.Throws<SharpLensException>(() => { using var m = HookedTransformer.Load(dir); });
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void IntactCopyLoads()
    {
        using var m = HookedTransformer.Load(Copy());
        Assert.Equal(4, m.Config.NLayers);
    }

    [Fact]
    public void MissingConfig()
    {
        string dir = Copy();
        File.Delete(Path.Combine(dir, "config.json"));
        Assert.Contains("config.json: missing", LoadError(dir));
    }

    [Fact]
    public void MissingTokenizer()
    {
        string dir = Copy();
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        var e = Assert.Throws<SharpLensException>(() => HfTokenizer.Load(dir));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains("tokenizer.json: not found", e.Message);
    }

    [Fact]
    public void MissingShard()
    {
        string dir = Copy();
        File.Delete(Path.Combine(dir, Shard2));
        string msg = LoadError(dir);
        Assert.Contains($"names shard {Shard2}, which is missing", msg);
    }

    [Fact]
    public void IndexNamingAnAbsentShard()
    {
        string dir = Copy();
        EditJson(Path.Combine(dir, IndexFile), o => o["weight_map"]![Norm0] = "model-00003-of-00002.safetensors");
        Assert.Contains("names shard model-00003-of-00002.safetensors, which is missing", LoadError(dir));
    }

    [Fact]
    public void TruncatedShard()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        using (var fs = new FileStream(shard, FileMode.Open)) fs.SetLength(fs.Length / 2);
        string msg = LoadError(dir);
        Assert.Contains(Shard1, msg);
        Assert.Contains("lie outside the data section", msg);
        Assert.Contains("truncated file", msg);
    }

    [Fact]
    public void ShardShorterThanItsHeaderLength()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        File.WriteAllBytes(shard, [1, 2, 3]);
        Assert.Contains("truncated (3 bytes", LoadError(dir));
    }

    [Fact]
    public void HeaderLengthLargerThanTheFile()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        byte[] bytes = File.ReadAllBytes(shard);
        BinaryPrimitives.WriteInt64LittleEndian(bytes, bytes.Length + 1000);
        File.WriteAllBytes(shard, bytes);
        Assert.Contains($"header length {bytes.Length + 1000} does not fit the file ({bytes.Length} bytes)", LoadError(dir));
    }

    [Fact]
    public void ConfigThatIsNotUtf8()
    {
        string dir = Copy(), config = Path.Combine(dir, "config.json");
        byte[] bytes = File.ReadAllBytes(config);
        bytes[Array.IndexOf(bytes, (byte)'"')] = 0xFF;  // an invalid byte where a quote was
        File.WriteAllBytes(config, bytes);
        Assert.Contains("config.json: not valid UTF-8", LoadError(dir));
    }

    [Fact]
    public void HeaderLengthAboveTheSignedRangeIsShownAsWritten()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        byte[] bytes = File.ReadAllBytes(shard);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(shard, bytes);
        Assert.Contains($"header length {ulong.MaxValue} bytes is over the limit of", LoadError(dir));
    }

    [Fact]
    public void HeaderThatIsNotJson()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        var (_, data) = Read(shard);
        Write(shard, Encoding.UTF8.GetBytes("{\"model.embed_tokens.weight\": {\"dtype\": \"BF16\", oops"), data);
        Assert.Contains("header is not valid JSON", LoadError(dir));
    }

    [Fact]
    public void OffsetsOutsideTheData()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        long dataLen = Read(shard).Data.Length;
        EditHeader(shard, h => SetOffsets(h, Norm0, dataLen - 64, dataLen + 64));
        string msg = LoadError(dir);
        Assert.Contains($"tensor {Norm0}: data_offsets [{dataLen - 64}, {dataLen + 64}] lie outside the data section ({dataLen} bytes)", msg);
    }

    [Fact]
    public void OverlappingTensors()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        EditHeader(shard, h => Entry(h, PostNorm0)["data_offsets"] = Entry(h, Norm0)["data_offsets"]!.DeepClone());
        string msg = LoadError(dir);
        Assert.Contains("overlap in the data section", msg);
        Assert.Contains(Norm0, msg);
        Assert.Contains(PostNorm0, msg);
    }

    [Fact]
    public void DTypeTimesShapeDisagreesWithTheByteLength()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        EditHeader(shard, h => Entry(h, Norm0)["shape"] = new JsonArray(63));
        Assert.Contains($"tensor {Norm0}: BF16 × [63] needs 126 bytes but data_offsets span 128", LoadError(dir));
    }

    [Fact]
    public void UnsupportedDType()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        EditHeader(shard, h => Entry(h, Norm0)["dtype"] = "I8");
        Assert.Contains($"tensor {Norm0}: dtype I8 is not supported (supported: BF16, F16, F32)", LoadError(dir));
    }

    [Fact]
    public void MissingTensor()
    {
        string dir = Copy();
        EditHeader(Path.Combine(dir, Shard1), h => h.Remove(Norm0));
        EditJson(Path.Combine(dir, IndexFile), o => o["weight_map"]!.AsObject().Remove(Norm0));
        Assert.Contains($"tensor {Norm0} is missing (the config implies it)", LoadError(dir));
    }

    [Fact]
    public void TensorTheIndexPromisesButTheShardLacks()
    {
        string dir = Copy();
        EditHeader(Path.Combine(dir, Shard1), h => h.Remove(Norm0));
        Assert.Contains($"the index says it holds {Norm0}, but it does not", LoadError(dir));
    }

    [Fact]
    public void ExtraTensor()
    {
        string dir = Copy();
        const string extra = "model.layers.0.mlp.extra_proj.weight";
        EditHeader(Path.Combine(dir, Shard1), h => h[extra] = new JsonObject
            { ["dtype"] = "BF16", ["shape"] = new JsonArray(0), ["data_offsets"] = new JsonArray(0, 0) });
        EditJson(Path.Combine(dir, IndexFile), o => o["weight_map"]![extra] = Shard1);
        Assert.Contains($"unexpected tensor {extra} for Qwen2ForCausalLM", LoadError(dir));
    }

    [Fact]
    public void ShapeThatContradictsTheConfig()
    {
        string dir = Copy();
        EditJson(Path.Combine(dir, "config.json"), o => o["intermediate_size"] = 128);
        Assert.Matches(@"tensor model\.layers\.0\.mlp\.\w+_proj\.weight has shape \[\d+, \d+\], but config\.json implies \[\d+, \d+\]", LoadError(dir));
    }

    [Fact]
    public void UnknownArchitectureIsNamedWithTheSupportedOnes()
    {
        string dir = Copy();
        EditJson(Path.Combine(dir, "config.json"), o => o["architectures"] = new JsonArray("FalconForCausalLM"));
        Assert.Contains("architecture FalconForCausalLM is not supported; supported: Qwen2ForCausalLM, LlamaForCausalLM, GPT2LMHeadModel, MistralForCausalLM, Qwen3ForCausalLM, GPTNeoXForCausalLM", LoadError(dir));
    }

    [Fact]
    public void VocabSmallerThanTheTokenizersIds()
    {
        string dir = Copy();
        var tok = HfTokenizer.Load(dir);
        var config = ModelConfig.Load(dir) with { VocabSize = 500 };
        var e = Assert.Throws<SharpLensException>(() => tok.EnsureFits(config, dir));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains($"defines token ids up to {tok.MaxTokenId}, but config.json has vocab_size 500", e.Message);
    }

    [Fact]
    public void VocabLargerThanTheTokenizerIsNormal()
    {
        // like Qwen (151,936 rows for 151,646 ids): tiny-qwen2 has 576 rows for ids up to 549
        string dir = Copy();
        var tok = HfTokenizer.Load(dir);
        var config = ModelConfig.Load(dir);
        Assert.True(config.VocabSize > tok.MaxTokenId + 1);
        tok.EnsureFits(config, dir);
        tok.EnsureFits(config with { VocabSize = tok.MaxTokenId + 1 }, dir);
    }

    [Fact]
    public void NoCheckpointFilesAtAll()
    {
        string dir = Copy();
        foreach (var f in new[] { IndexFile, Shard1, Shard2 }) File.Delete(Path.Combine(dir, f));
        Assert.Contains("no model.safetensors and no model.safetensors.index.json", LoadError(dir));
    }
}
