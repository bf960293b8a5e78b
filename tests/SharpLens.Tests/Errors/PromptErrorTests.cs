using System.Text;
using SharpLens.Experiments;
using SharpLens.IO;
using SharpLens.Loading;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;

namespace SharpLens.Tests.Errors;

/// <summary>Bad prompts give one <see cref="ExitCode.Input"/> error that shows the tokens involved.</summary>
public class PromptErrorTests
{
    static readonly string Dir = Fixtures.Dir("tiny-qwen2");
    static readonly HfTokenizer Tok = HfTokenizer.Load(Dir);
    static readonly ModelConfig Config = ModelConfig.Load(Dir);

    static SharpLensException Prepare(string clean, string corrupted, string answer = " Mango", string wrong = " Orange",
        ModelConfig? config = null, string? control = null)
    {
        var e = Assert.Throws<SharpLensException>(() => PromptSet.Prepare(Tok, config ?? Config, clean, corrupted, answer, wrong, control));
        return e;
    }

    [Fact]
    public void ValidPromptsPrepare()
    {
        var p = PromptSet.Prepare(Tok, Config, PromptSet.SeedClean, PromptSet.SeedCorrupted, PromptSet.SeedAnswer, PromptSet.SeedWrong);
        Assert.Equal(p.Tokens.Clean.Length, p.Tokens.Corrupted.Length);
    }

    [Fact]
    public void DifferentTokenLengthsShowBothTokenizationsSideBySide()
    {
        var e = Prepare("1 Peach 1 Orange and 1", "1 Peach 1 Orange Grape and 1");
        Assert.Equal(ExitCode.Input, e.Code);
        var lines = e.Message.Split('\n');
        Assert.StartsWith("the clean and corrupted prompts have different token lengths", lines[0]);
        Assert.Contains("clean", lines[1]);
        Assert.Contains("corrupted", lines[1]);
        Assert.Contains(lines, l => l.Contains("\" Grape\"") && l.EndsWith("<-"));
        Assert.Equal(Tok.Encode("1 Peach 1 Orange Grape and 1").Count + 2, lines.Length);
    }

    [Fact]
    public void AnswerOfSeveralTokensShowsThePieces()
    {
        var e = Prepare(PromptSet.SeedClean, PromptSet.SeedCorrupted, answer: " Mango Peach");
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Contains("the answer \" Mango Peach\" is not one token after its prompt: it is 2 tokens after the prompt, \" Mango\" (", e.Message);
        Assert.Equal("answer", e.Parameter);
        Assert.Contains("+ \" Peach\" (", e.Message);
    }

    [Fact]
    public void EmptyPrompt()
    {
        var e = Prepare("", PromptSet.SeedCorrupted);
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Equal("the clean prompt is empty", e.Message);
    }

    [Fact]
    public void PromptLongerThanTheContext()
    {
        var e = Prepare(PromptSet.SeedClean, PromptSet.SeedCorrupted, config: Config with { MaxPositions = 8 });
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Matches(@"^the clean prompt has \d+ tokens, more than the model's context of 8 \(max_position_embeddings\); shorten it$", e.Message);
    }

    [Theory]
    [InlineData("Qwen2ForCausalLM", true, 8, 3)]
    [InlineData("Qwen2ForCausalLM", false, null, 3)]
    [InlineData("Qwen3ForCausalLM", true, 8, 3)]
    [InlineData("MistralForCausalLM", false, 8, 0)]  // Mistral: every layer, no use_sliding_window switch
    [InlineData("LlamaForCausalLM", true, null, 0)]  // Llama ignores sliding_window, as transformers does
    public void SlidingWindow_IsReadAsTransformersReadsIt(string architecture, bool use, int? expected, int fromLayer)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "config.json")))!;
        json["architectures"] = new System.Text.Json.Nodes.JsonArray(architecture);
        json["use_sliding_window"] = use;
        json["sliding_window"] = 8;
        json["max_window_layers"] = 3;
        var c = ModelConfig.Parse(json.ToJsonString());
        // One window per layer: none below fromLayer, the window from it on; no list at all where no layer has one.
        int?[]? layers = expected == null ? null : Enumerable.Range(0, c.NLayers).Select(l => l >= fromLayer ? expected : null).ToArray();
        Assert.Equal(layers, c.LayerWindows);
        for (int l = 0; l < c.NLayers; l++) Assert.Equal(layers?[l], c.WindowAt(l));
    }

    [Fact]
    public void WindowsFromLayer_FillsTheLayersFromThatOneOn()
    {
        Assert.Equal(new int?[] { null, null, 5, 5 }, ModelConfig.WindowsFromLayer(4, 5, fromLayer: 2));
        Assert.Equal(new int?[] { 5, 5, 5 }, ModelConfig.WindowsFromLayer(3, 5));
        Assert.Null(ModelConfig.WindowsFromLayer(3, null));
        Assert.Null(ModelConfig.WindowsFromLayer(3, 5, fromLayer: 3));   // max_window_layers ≥ layers: no windowed layer
    }

    /// <summary>Qwen2's max_window_layers: layers below it attend to everything (Hugging Face's default layer_types).</summary>
    [Fact]
    public void Qwen2_MaxWindowLayers_PicksTheWindowedLayers()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "config.json")))!;
        json["architectures"] = new System.Text.Json.Nodes.JsonArray("Qwen2ForCausalLM");
        json["use_sliding_window"] = true;
        json["sliding_window"] = 8;
        json["max_window_layers"] = 1;
        var c = ModelConfig.Parse(json.ToJsonString());
        Assert.Null(c.WindowAt(0));
        Assert.Equal(8, c.WindowAt(1));
        json.AsObject().Remove("sliding_window");   // absent: MistralConfig's / Qwen2Config's default 4096
        json["architectures"] = new System.Text.Json.Nodes.JsonArray("MistralForCausalLM");
        Assert.Equal(4096, ModelConfig.Parse(json.ToJsonString()).WindowAt(0));
    }

    /// <summary>A prompt longer than an active sliding window is computed (the window is in the attention kernel).</summary>
    [Fact]
    public void PromptLongerThanAnActiveSlidingWindow_IsAccepted() =>
        Assert.Null(Record.Exception(() => PromptSet.Prepare(Tok, Config with { LayerWindows = ModelConfig.WindowsFromLayer(Config.NLayers, 8) }, PromptSet.SeedClean, PromptSet.SeedCorrupted,
            PromptSet.SeedAnswer, PromptSet.SeedWrong)));

    [Fact]
    public void ControlOfAnotherLength()
    {
        var e = Prepare(PromptSet.SeedClean, PromptSet.SeedCorrupted, control: "The quick brown fox");
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.StartsWith("the control prompt has", e.Message);
    }

    [Fact]
    public void InvalidUtf8NamesTheFileAndTheByteOffset()
    {
        string path = Path.Combine(Fixtures.TempDir("utf8"), "clean.txt");
        File.WriteAllBytes(path, [.. "Man has four fruits"u8, 0xC3, 0x28, .. " and"u8]);
        var e = Assert.Throws<SharpLensException>(() => TextFiles.ReadStrictUtf8(path, "--clean-file"));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Equal($"--clean-file {path}: not valid UTF-8 at byte offset 19 (bytes c3282061…); save the file as UTF-8 and try again", e.Message);
    }

    [Fact]
    public void InvalidUtf8AfterABomCountsTheBom()
    {
        var e = Assert.Throws<SharpLensException>(() => TextFiles.Decode([0xEF, 0xBB, 0xBF, (byte)'a', 0xFF], "f"));
        Assert.Contains("at byte offset 4", e.Message);
    }

    [Fact]
    public void TruncatedMultiByteCharacterAtTheEnd()
    {
        byte[] euro = Encoding.UTF8.GetBytes("ab€");
        var e = Assert.Throws<SharpLensException>(() => TextFiles.Decode(euro[..^1], "f"));
        Assert.Contains("at byte offset 2", e.Message);
    }

    [Fact]
    public void ValidFileKeepsItsTextButOneFinalLineBreak()
    {
        Assert.Equal("a\nb", TextFiles.Decode("\uFEFFa\nb\r\n"u8.ToArray(), "f"));
        Assert.Equal("a\n", TextFiles.Decode("a\n\n"u8.ToArray(), "f"));
        Assert.Equal(" Mango é", TextFiles.Decode(Encoding.UTF8.GetBytes(" Mango é"), "f"));
    }

    [Fact]
    public void MissingFile()
    {
        var e = Assert.Throws<SharpLensException>(() => TextFiles.ReadStrictUtf8("/nonexistent/prompt.txt", "--text-file"));
        Assert.Equal(ExitCode.Input, e.Code);
        Assert.Equal("--text-file /nonexistent/prompt.txt: no such file", e.Message);
    }

    [Fact]
    public void LayerAndHeadIndicesAreCheckedAgainstTheModel()
    {
        var e = Assert.Throws<SharpLensException>(() => Study.ValidateOptions(Config, new StudyOptions { PairLayer = 4 }));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains("pair layer 4 is out of range: the model has layers 0–3", e.Message);
        Assert.Equal(nameof(StudyOptions.PairLayer), e.Parameter);
        e = Assert.Throws<SharpLensException>(() => Study.ValidateOptions(Config, new StudyOptions { Heads = [(0, 0), (1, 4)] }));
        Assert.Contains("head 1.4 is out of range", e.Message);
        Assert.Equal(nameof(StudyOptions.Heads), e.Parameter);
        Study.ValidateOptions(Config, new StudyOptions { PairLayer = 3, Heads = [(3, 3)] });
    }
}
