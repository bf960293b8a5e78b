using System.Text;
using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>
/// Inputs that once crashed the parsers with an exception other than <see cref="SharpLensException"/>
/// (found by <see cref="ParserFuzzTests"/> or while fixing what it found), kept so they stay fixed.
/// </summary>
public class ParserRegressionTests
{
    static readonly string TinyConfig = File.ReadAllText(Path.Combine(Fixtures.Dir("tiny-qwen2"), "config.json"));

    static SharpLensException CheckpointError(Action parse)
    {
        var e = Assert.Throws<SharpLensException>(parse);
        Assert.Equal(ExitCode.Checkpoint, e.Code);
        return e;
    }

    static string Config(Action<JsonObject> edit)
    {
        var o = JsonNode.Parse(TinyConfig)!.AsObject();
        edit(o);
        return o.ToJsonString();
    }

    /// <summary>Fuzz find: a header byte turned into invalid UTF-8 inside a tensor name threw InvalidOperationException
    /// ("Cannot transcode invalid UTF-8 JSON text") from <c>JsonProperty.Name</c>.</summary>
    [Fact]
    public void HeaderWithInvalidUtf8InATensorName()
    {
        byte[] file = ParserFuzzTests.ValidFile();
        int at = Array.IndexOf(file, (byte)'a', 8 + 20); // the name "a.weight"
        file[at] = 0x91;
        string path = Path.Combine(Fixtures.TempDir("regress"), "model.safetensors");
        File.WriteAllBytes(path, file);
        Assert.Contains("header is not valid UTF-8", CheckpointError(() => SafeTensorsFile.Open(path)).Message);
    }

    /// <summary>Fuzz find: <c>"data_offsets": [null, 12]</c> threw InvalidOperationException from TryGetInt64.</summary>
    [Fact]
    public void DataOffsetsThatAreNotNumbers()
    {
        string header = ParserFuzzTests.ValidHeader.Replace("\"data_offsets\":[0,12]", "\"data_offsets\":[null,12]");
        Assert.NotEqual(ParserFuzzTests.ValidHeader, header);
        var e = CheckpointError(() => SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(header), ParserFuzzTests.ValidDataLength, "x"));
        Assert.Contains("tensor a.weight: data_offsets must be [begin, end]", e.Message);
        header = ParserFuzzTests.ValidHeader.Replace("\"data_offsets\":[0,12]", "\"data_offsets\":[\"0\",1.5]");
        CheckpointError(() => SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(header), ParserFuzzTests.ValidDataLength, "x"));
    }

    /// <summary>A header that names a tensor twice (valid JSON) is refused, not resolved by keeping the last entry.</summary>
    [Fact]
    public void HeaderThatNamesATensorTwice()
    {
        var ok = SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(ParserFuzzTests.ValidHeader), ParserFuzzTests.ValidDataLength, "x");
        Assert.True(ok.ContainsKey("a.weight") && ok.ContainsKey("c"));
        // "c" renamed to "a.weight": both entries stay valid on their own and do not overlap.
        string header = ParserFuzzTests.ValidHeader.Replace("\"c\":", "\"a.weight\":");
        Assert.NotEqual(ParserFuzzTests.ValidHeader, header);
        var e = CheckpointError(() => SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(header), ParserFuzzTests.ValidDataLength, "x"));
        Assert.Contains("tensor a.weight is listed twice in the header", e.Message);
    }

    /// <summary>A tensor name with an escaped lone surrogate ("\ud800") is valid UTF-8 JSON but not valid Unicode text.</summary>
    [Fact]
    public void HeaderWithALoneSurrogateEscape()
    {
        string header = ParserFuzzTests.ValidHeader.Replace("\"c\":", "\"c\\ud800\":");
        var e = CheckpointError(() => SafeTensorsFile.ParseHeader(Encoding.UTF8.GetBytes(header), ParserFuzzTests.ValidDataLength, "x"));
        Assert.Contains("not valid Unicode", e.Message);
    }

    /// <summary>Fuzz find: a config text holding a lone surrogate threw ArgumentException from JsonDocument.Parse.</summary>
    [Fact]
    public void ConfigTextThatIsNotValidUnicode()
    {
        string json = TinyConfig.Insert(TinyConfig.IndexOf("qwen2", StringComparison.Ordinal), "\ud800");
        Assert.Contains("not valid JSON (the text is not valid Unicode)", CheckpointError(() => ModelConfig.Parse(json)).Message);
    }

    /// <summary>An escaped lone surrogate in the architecture name.</summary>
    [Fact]
    public void ConfigStringWithALoneSurrogateEscape()
    {
        string json = TinyConfig.Replace("\"Qwen2ForCausalLM\"", "\"Qwen2\\ud800\"");
        Assert.Contains("not valid Unicode", CheckpointError(() => ModelConfig.Parse(json)).Message);
    }

    /// <summary>Found while fixing the above: 1e400 overflows a double, and GetDouble threw FormatException.</summary>
    [Fact]
    public void ConfigNumberBeyondDoubleRange()
    {
        string json = Config(o => o["rope_theta"] = JsonNode.Parse("1e400"));
        Assert.Contains("\"rope_theta\" must be a positive number, got 1e400", CheckpointError(() => ModelConfig.Parse(json)).Message);
    }

    /// <summary>Found while fixing the above: a rope_scaling type that is not a string threw InvalidOperationException.</summary>
    [Fact]
    public void RopeScalingTypeThatIsNotAString()
    {
        string json = Config(o => o["rope_scaling"] = new JsonObject { ["rope_type"] = 1 });
        Assert.Contains("rope_scaling type \"1\" is not supported", CheckpointError(() => ModelConfig.Parse(json)).Message);
        json = Config(o => o["rope_scaling"] = new JsonObject { ["type"] = new JsonArray() });
        CheckpointError(() => ModelConfig.Parse(json));
    }
}
