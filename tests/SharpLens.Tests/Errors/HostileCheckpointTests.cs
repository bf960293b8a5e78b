using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using static SharpLens.Tests.Errors.BrokenModel;

namespace SharpLens.Tests.Errors;

/// <summary>
/// Checkpoints written to hurt rather than merely damaged: a config that asks for a billion layers, fields of the wrong
/// type, values that turn the computation into NaN, headers and names too large to echo. Each is one checkpoint error
/// (<see cref="ExitCode.Checkpoint"/>), found at load, before anything is allocated for the model.
/// </summary>
public class HostileCheckpointTests
{
    static string LoadError(string dir)
    {
        var e = Assert.Throws<SharpLensException>(() => { using var m = HookedTransformer.Load(dir); });
        Assert.True(e.Code == ExitCode.Checkpoint, $"{e.Code}: {e.Message}");
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    static string WithConfig(Action<JsonObject> edit)
    {
        string dir = Copy();
        EditJson(Path.Combine(dir, "config.json"), edit);
        return dir;
    }

    [Fact]
    public void ABillionLayers_FailsAtTheFirstMissingTensor_WithoutAllocatingForThem()
    {
        string dir = WithConfig(o => o["num_hidden_layers"] = 1_000_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        string msg = LoadError(dir);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("tensor model.layers.4.input_layernorm.weight is missing", msg);
        Assert.Contains("config.json has num_hidden_layers 1000000000, the files hold 4 layers", msg);
        Assert.True(allocated < 64 << 20, $"{allocated} bytes allocated to refuse the config");
    }

    [Fact]
    public void ABillionLayers_ThroughTheCli_IsACheckpointError_UnderASmallHeap()
    {
        // With a 512 MB heap the old code (a list of every implied tensor) ran out of memory; now nothing is allocated.
        string dir = WithConfig(o => o["num_hidden_layers"] = 1_000_000_000);
        var (code, _, err) = CliProcess.Run(["run", "--model", dir, "--text", "Peach"],
            new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x20000000" });
        Assert.True(code == 4, $"exit {code}: {err}");
        Assert.Contains("num_hidden_layers 1000000000, the files hold 4 layers", err);
    }

    [Theory]
    [InlineData("tie_word_embeddings", "\"true\"", "must be true or false, got \"true\"")]
    [InlineData("attention_bias", "1", "must be true or false, got 1")]
    [InlineData("use_sliding_window", "\"no\"", "must be true or false, got \"no\"")]
    [InlineData("hidden_act", "5", "\"hidden_act\" must be a string, got 5")]
    [InlineData("hidden_act", "[\"silu\"]", "\"hidden_act\" must be a string, got [\"silu\"]")]
    public void AFieldOfTheWrongType_IsAnErrorNamingIt(string field, string json, string problem)
    {
        string dir = WithConfig(o => o[field] = JsonNode.Parse(json));
        Assert.Contains($"config.json: \"{field}\" {problem}", LoadError(dir));
    }

    [Fact]
    public void ConfigJsonThatIsADirectory_SaysSo()
    {
        string dir = Copy(), config = Path.Combine(dir, "config.json");
        File.Delete(config);
        Directory.CreateDirectory(config);
        Assert.Contains("config.json: is a directory, not a file", LoadError(dir));
    }

    public static TheoryData<string, string, string> NonFiniteConfigs => new()
    {
        { "rope_scaling", """{"rope_type": "llama3", "factor": 1e-320, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}""",
          "rope_theta 1000000 with rope_scaling factor 1E-320, low_freq_factor 1, high_freq_factor 4 makes rotary frequency" },
        { "rms_norm_eps", "1e-320", "\"rms_norm_eps\" 1E-320 is too small" },
    };

    [Theory]
    [MemberData(nameof(NonFiniteConfigs))]
    public void AValueThatMakesTheComputationNonFinite_IsRefusedAtLoad(string field, string json, string problem)
    {
        string dir = WithConfig(o => o[field] = JsonNode.Parse(json));
        Assert.Contains(problem, LoadError(dir));
    }

    [Fact]
    public void ARopeThetaWhoseFrequenciesOverflow_IsRefused()
    {
        // With tiny-qwen2's head_dim of 16 no positive rope_theta overflows a frequency; with 128, as in real models,
        // 1e-320 does: frequency 61 is 1e305, infinite by position 4096. (Checked on the config alone: the tensors of
        // tiny-qwen2 would contradict head_dim 128 first.)
        string json = File.ReadAllText(Path.Combine(Fixtures.Dir("tiny-qwen2"), "config.json"));
        var o = JsonNode.Parse(json)!.AsObject();
        o["rope_theta"] = JsonNode.Parse("1e-320");
        o["head_dim"] = 128;
        var config = ModelConfig.Parse(o.ToJsonString());
        var e = Assert.Throws<SharpLensException>(() => config.EnsureFinite("config.json"));
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        Assert.Contains("rope_theta 1E-320 makes rotary frequency 61 of head_dim 128 infinite at position 4096 (max_position_embeddings)", e.Message);
        o["rope_theta"] = 1e-3; // small, but every frequency stays finite
        ModelConfig.Parse(o.ToJsonString()).EnsureFinite("config.json");
    }

    [Fact]
    public void AHugeHeadDim_IsRefusedByTheTensors_BeforeAnyFrequencyIsComputed()
    {
        string dir = WithConfig(o => o["head_dim"] = 2_000_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("has shape", LoadError(dir));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20);
    }

    [Fact]
    public void ARopeFactorOf1e320_ThroughRunJson_IsACheckpointError()
    {
        string dir = WithConfig(o => o["rope_scaling"] = JsonNode.Parse(
            """{"rope_type": "llama3", "factor": 1e-320, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}"""));
        var (code, stdout, err) = CliProcess.Run("run", "--model", dir, "--text", "Peach", "--json");
        Assert.True(code == 4, $"exit {code}: {err}");
        Assert.Equal("", stdout);
        Assert.Contains("the model would compute NaN", err);
    }

    [Fact]
    public void AHeaderOverTheLimit_SaysTheLimit()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        const long declared = 200L << 20;
        using (var fs = new FileStream(shard, FileMode.Create))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(len, declared);
            fs.Write(len);
            fs.SetLength(8 + declared + 4096); // sparse: the file is large enough to hold the header
        }
        string msg = LoadError(dir);
        Assert.Contains($"header length {declared} bytes is over the limit of {100L << 20} bytes (100 MB)", msg);
        Assert.DoesNotContain("does not fit", msg);
    }

    [Fact]
    public void AHugeTensorName_IsCutInTheMessage()
    {
        string dir = Copy(), shard = Path.Combine(dir, Shard1);
        string huge = "model.layers.0." + new string('n', 2 << 20);
        EditHeader(shard, h => h[huge] = new JsonObject { ["dtype"] = "Q8", ["shape"] = new JsonArray(1), ["data_offsets"] = new JsonArray(0, 1) });
        string msg = LoadError(dir);
        Assert.True(msg.Length < 1000, $"a message of {msg.Length} characters");
        Assert.Contains("model.layers.0.nnnn", msg);
        Assert.Contains($"…(+{huge.Length - 200} characters): dtype Q8 is not supported", msg);
    }
}
