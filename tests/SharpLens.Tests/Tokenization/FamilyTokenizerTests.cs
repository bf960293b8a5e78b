using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;
using Xunit.Abstractions;

namespace SharpLens.Tests.Tokenization;

/// <summary>The tokenizers of the model families against the ids Hugging Face <c>tokenizers</c> (and transformers.js)
/// produced, with and without special tokens (golden_tokens.json, golden_tokens_with_special.json), and decoded back.</summary>
public class FamilyTokenizerTests(ITestOutputHelper output)
{
    static readonly ConcurrentDictionary<string, Lazy<HfTokenizer>> Loaded = new();

    internal static HfTokenizer Tokenizer(string fixture) =>
        Loaded.GetOrAdd(fixture, f => new Lazy<HfTokenizer>(() => HfTokenizer.Load(Fixtures.Dir(f)))).Value;

    static Dictionary<string, int[]> Golden(string fixture, bool withSpecial)
    {
        string dir = Fixtures.Dir(fixture);
        string file = Path.Combine(dir, withSpecial ? "golden_tokens_with_special.json" : "golden_tokens.json");
        // GPT-NeoX's post-processor adds nothing: its ids with special tokens are those without
        if (!File.Exists(file)) file = Path.Combine(dir, "golden_tokens.json");
        return JsonSerializer.Deserialize<Dictionary<string, int[]>>(File.ReadAllText(file))!;
    }

    public static TheoryData<string> Families() => new()
    {
        "mistral-tokenizer", "llama3-tokenizer", "gemma3-tokenizer",
        "tiny-gpt-neox", "tiny-gemma2", "tiny-mistral", "tiny-qwen3", "tiny-phi3",
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void EncodeReproducesEveryGoldenIdWithoutSpecialTokens(string fixture) => CheckGolden(fixture, withSpecial: false);

    [Theory]
    [MemberData(nameof(Families))]
    public void EncodeReproducesEveryGoldenIdWithSpecialTokens(string fixture) => CheckGolden(fixture, withSpecial: true);

    static void CheckGolden(string fixture, bool withSpecial)
    {
        var tokenizer = Tokenizer(fixture);
        var golden = Golden(fixture, withSpecial);
        Assert.True(golden.Count >= 25, $"{fixture}: only {golden.Count} golden strings");
        var mismatches = golden
            .Where(g => !tokenizer.Encode(g.Key, withSpecial).SequenceEqual(g.Value))
            .Select(g => $"{JsonSerializer.Serialize(g.Key)}: expected [{string.Join(",", g.Value)}] got [{string.Join(",", tokenizer.Encode(g.Key, withSpecial))}]")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    /// <summary>Every golden string without added tokens decodes back from its golden ids: to itself, or its NFC form
    /// for tokenizers with an NFC normalizer; with special tokens skipped, the ids with BOS decode the same.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void GoldenIdsDecodeBackToTheirText(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        bool nfc = fixture is "tiny-gpt-neox" or "tiny-qwen3";
        var plain = Golden(fixture, withSpecial: false);
        var special = Golden(fixture, withSpecial: true);
        int checkedStrings = 0;
        foreach (var (text, ids) in plain)
        {
            Assert.Equal(tokenizer.Decode(ids, skipSpecialTokens: true), tokenizer.Decode(special[text], skipSpecialTokens: true));
            if (text.Contains('<')) continue; // added tokens (and their lstrip/rstrip) do not round-trip by design
            string expected = nfc ? text.Normalize(NormalizationForm.FormC) : text;
            Assert.Equal(expected, tokenizer.Decode(ids));
            checkedStrings++;
        }
        Assert.True(checkedStrings >= 20, $"only {checkedStrings} strings round-tripped");
    }

    [Theory]
    [InlineData("mistral-tokenizer", true, false)]
    [InlineData("tiny-mistral", true, false)]
    [InlineData("tiny-phi3", true, false)]
    [InlineData("gemma3-tokenizer", true, false)]
    [InlineData("tiny-gemma2", true, false)]
    [InlineData("llama3-tokenizer", false, false)]
    [InlineData("tiny-gpt-neox", true, true)]
    [InlineData("tiny-qwen3", true, true)]
    [InlineData("gpt2-tokenizer", true, true)]
    [InlineData("qwen-tokenizer", true, true)]
    public void MicrosoftMlTokenizersStaysTheEngineWhereItReproducesTheGoldenIds(string fixture, bool _, bool microsoftMl) =>
        Assert.Equal(microsoftMl, Tokenizer(fixture).UsesMicrosoftMlTokenizers);

    [Theory]
    [InlineData("mistral-tokenizer", 1)]
    [InlineData("llama3-tokenizer", 128000)]
    [InlineData("gemma3-tokenizer", 2)]
    [InlineData("tiny-phi3", 1)]
    public void BosComesFromThePostProcessor(string fixture, int bos)
    {
        var tokenizer = Tokenizer(fixture);
        Assert.True(tokenizer.AddsBos);
        Assert.Equal([bos], tokenizer.SpecialPrefix);
        Assert.Equal([bos], tokenizer.Encode("", addSpecialTokens: true));
        Assert.Equal(bos, tokenizer.Encode("Hello", addSpecialTokens: true)[0]);
        Assert.NotEqual(bos, tokenizer.Encode("Hello")[0]);
    }

    [Theory]
    [InlineData("tiny-qwen3")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("gpt2-tokenizer")]
    public void ByteLevelFamiliesAddNoBos(string fixture)
    {
        Assert.False(Tokenizer(fixture).AddsBos);
        Assert.Equal(Tokenizer(fixture).Encode("Hello"), Tokenizer(fixture).Encode("Hello", addSpecialTokens: true));
    }

    /// <summary>The answer token is what the answer adds after its prompt: with SentencePiece " Mango" alone is
    /// <c>▁</c> + <c>▁Mango</c>, after the prompt the one token <c>▁Mango</c>.</summary>
    [Theory]
    [InlineData("mistral-tokenizer")]
    [InlineData("tiny-mistral")]
    [InlineData("tiny-phi3")]
    public void SentencePieceAnswerTokenIsTheOneTheAnswerAddsAfterItsPrompt(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        const string prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";
        Assert.Null(tokenizer.TryGetSingleToken(" Orange"));
        int? orange = tokenizer.TryGetAnswerToken(prompt, " Orange");
        Assert.NotNull(orange);
        Assert.Equal(" Orange", tokenizer.TokenText(orange.Value));
        Assert.Equal(tokenizer.Encode(prompt + " Orange")[^1], orange);
        Assert.Null(tokenizer.TryGetAnswerToken(prompt, " Orange Orange"));
        Assert.Contains("tokens after the prompt", tokenizer.DescribePieces(prompt, " Orange Orange"));
    }

    [Fact]
    public void SentencePieceTokenTextKeepsTheSpaceDecodeStripsIt()
    {
        var tokenizer = Tokenizer("mistral-tokenizer");
        int[] ids = [.. tokenizer.Encode(" Orange")];
        Assert.Equal([28705, 21853], ids);
        Assert.Equal(" ", tokenizer.TokenText(28705));
        Assert.Equal(" Orange", tokenizer.TokenText(21853));
        Assert.Equal("Orange", tokenizer.Decode([21853]));
        Assert.Equal("<0xF0>", tokenizer.Decode([tokenizer.Encode("🍑")[1]]) is "\uFFFD" ? "<0xF0>" : "?");
        Assert.Equal("🍑", tokenizer.Decode(tokenizer.Encode("🍑")));
    }

    /// <summary>The study's prompt check takes " Apple" / " Orange" as answer tokens with SentencePiece vocabularies
    /// (what they add after their prompts; alone each is <c>▁</c> + a word) and still refuses " Mango", which is
    /// <c>▁M</c> + <c>ango</c> even after a prompt, listing the pieces.</summary>
    [Fact]
    public void StudyPromptsAcceptSentencePieceAnswers()
    {
        var tokenizer = Tokenizer("mistral-tokenizer");
        const string clean = "I ate an Orange and an Apple, then 1 Orange and 1", corrupted = "I ate an Orange and an Apple, then 1 Apple and 1";
        var prompts = SharpLens.Experiments.PromptSet.Prepare(tokenizer, null, clean, corrupted, " Apple", " Orange", candidates: [" Apple", " Orange"]);
        Assert.Equal(tokenizer.Encode(clean + " Apple")[^1], prompts.Tokens.Answer);
        Assert.Equal(" Apple", tokenizer.TokenText(prompts.Tokens.Answer));
        Assert.Equal(" Orange", tokenizer.TokenText(prompts.Tokens.Wrong));
        Assert.Equal(2, tokenizer.Encode(" Apple").Count);
        var error = Assert.Throws<SharpLensException>(() =>
            SharpLens.Experiments.PromptSet.Prepare(tokenizer, null, clean, corrupted, " Mango", " Orange"));
        Assert.Equal(ExitCode.Input, error.Code);
        Assert.Contains("2 tokens after the prompt, \" M\" (351) + \"ango\" (8458)", error.Message);
    }

    [Fact]
    public void Gemma3LoadTimeIsReported()
    {
        string dir = Fixtures.Dir("gemma3-tokenizer");
        // wall time on a shared machine says little: CPU time (this process, load alone) is reported beside it
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var tokenizer = HfTokenizer.Load(dir);
        clock.Stop();
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        output.WriteLine($"Loaded Gemma 3 tokenizer ({tokenizer.MaxTokenId + 1} ids) in {clock.Elapsed.TotalMilliseconds:F0} ms ({cpu.TotalMilliseconds:F0} ms CPU)");
        Assert.Equal(262144, tokenizer.MaxTokenId);
    }
}
