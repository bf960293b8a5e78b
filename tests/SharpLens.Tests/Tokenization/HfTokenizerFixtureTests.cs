using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using SharpLens.Tests.Support;
using SharpLens.Tokenization;
using Xunit.Abstractions;

namespace SharpLens.Tests.Tokenization;

/// <summary>The vendored tokenizers against the ids Hugging Face <c>tokenizers</c> produced (golden_tokens.json).</summary>
public class HfTokenizerFixtureTests(ITestOutputHelper output)
{
    const string SeedPrompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1";

    static readonly ConcurrentDictionary<string, Lazy<HfTokenizer>> Loaded = new();

    static HfTokenizer Tokenizer(string fixture) =>
        Loaded.GetOrAdd(fixture, f => new Lazy<HfTokenizer>(() => HfTokenizer.Load(Fixtures.Dir(f)))).Value;

    static Dictionary<string, int[]> Golden(string fixture) =>
        JsonSerializer.Deserialize<Dictionary<string, int[]>>(
            File.ReadAllText(Path.Combine(Fixtures.Dir(fixture), "golden_tokens.json")))!;

    [Theory]
    [InlineData("qwen1.5-tokenizer")]
    [InlineData("qwen-tokenizer")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-llama")]
    [InlineData("setcomp-demo")]
    [InlineData("gpt2-tokenizer")]
    [InlineData("tiny-gpt2")]
    public void EncodeReproducesEveryGoldenId(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        var golden = Golden(fixture);
        Assert.NotEmpty(golden);
        var mismatches = golden
            .Where(g => !tokenizer.Encode(g.Key).SequenceEqual(g.Value))
            .Select(g => $"{JsonSerializer.Serialize(g.Key)}: expected [{string.Join(",", g.Value)}] got [{string.Join(",", tokenizer.Encode(g.Key))}]")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [InlineData("qwen1.5-tokenizer")]
    [InlineData("qwen-tokenizer")]
    [InlineData("tiny-qwen2")]
    [InlineData("setcomp-demo")]
    [InlineData("gpt2-tokenizer")]
    [InlineData("tiny-gpt2")]
    public void AsciiGoldenStringsRoundTrip(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        foreach (var (text, ids) in Golden(fixture).Where(g => g.Key.All(char.IsAscii)))
        {
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }
    }

    [Theory]
    [InlineData("qwen1.5-tokenizer")]
    [InlineData("qwen-tokenizer")]
    [InlineData("tiny-qwen2")]
    [InlineData("setcomp-demo")]
    public void NonAsciiGoldenStringsDecodeToTheirNfcForm(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        foreach (var (text, ids) in Golden(fixture).Where(g => !g.Key.All(char.IsAscii)))
            Assert.Equal(text.Normalize(System.Text.NormalizationForm.FormC), tokenizer.Decode(ids));
    }

    [Theory]
    [InlineData("qwen1.5-tokenizer")]
    [InlineData("qwen-tokenizer")]
    public void QwenTokenTextAndSeedPrompt(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        Assert.Equal(" Mango", tokenizer.TokenText(90863));
        Assert.Equal(90863, tokenizer.TryGetSingleToken(" Mango"));
        Assert.Null(tokenizer.TryGetSingleToken("Mango"));
        Assert.Equal(25, tokenizer.Encode(SeedPrompt).Count);
        Assert.True(tokenizer.IsDefined(tokenizer.MaxTokenId));
        Assert.False(tokenizer.IsDefined(tokenizer.MaxTokenId + 1));
        Assert.False(tokenizer.IsDefined(-1));
    }

    [Theory]
    [InlineData("qwen1.5-tokenizer", 151645)]
    [InlineData("qwen-tokenizer", 151668)]
    [InlineData("tiny-qwen2", 549)]
    public void MaxTokenIdIncludesAddedTokens(string fixture, int largestAddedId)
    {
        Assert.Equal(largestAddedId, Tokenizer(fixture).MaxTokenId);
        Assert.Equal("<|im_end|>", Tokenizer(fixture).TokenText(Tokenizer(fixture).Encode("<|im_end|>").Single()));
    }

    /// <summary>GPT-2 has no normalizer: every golden string, NFC or not, decodes back to itself byte for byte.</summary>
    [Theory]
    [InlineData("gpt2-tokenizer")]
    [InlineData("tiny-gpt2")]
    public void Gpt2GoldenStringsDecodeToThemselves(string fixture)
    {
        var tokenizer = Tokenizer(fixture);
        foreach (var (text, ids) in Golden(fixture))
        {
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }
    }

    /// <summary>The real GPT-2 vocabulary: the IOI prompt's ids known from the literature, <c>&lt;|endoftext|&gt;</c> as one
    /// added token, no BOS added (its ByteLevel post-processor adds none, so encoding with and without special tokens
    /// agree), " Mango" two pieces and " Orange" one.</summary>
    [Fact]
    public void RealGpt2Vocabulary()
    {
        var tokenizer = Tokenizer("gpt2-tokenizer");
        Assert.Equal([2215, 5335, 290, 1757, 1816, 284, 262, 3650, 11, 1757, 2921, 257, 4144, 284],
            tokenizer.Encode("When Mary and John went to the store, John gave a drink to"));
        Assert.Equal([50256], tokenizer.Encode("<|endoftext|>"));
        Assert.Equal(50256, tokenizer.MaxTokenId);
        Assert.Equal([15496, 50256, 6894], tokenizer.Encode("Hello<|endoftext|>world"));
        Assert.Equal(11942, tokenizer.TryGetSingleToken(" Orange"));
        Assert.Null(tokenizer.TryGetSingleToken(" Mango"));
        Assert.Equal([337, 14208], tokenizer.Encode(" Mango"));
    }

    [Fact]
    public void QwenVocabularyLoadTimeIsReported()
    {
        string dir = Fixtures.Dir("qwen-tokenizer");
        HfTokenizer.Load(dir); // warm-up: JIT and file cache
        var clock = Stopwatch.StartNew();
        var tokenizer = HfTokenizer.Load(dir);
        clock.Stop();
        output.WriteLine($"Loaded Qwen tokenizer ({tokenizer.MaxTokenId + 1} ids) in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(1658, tokenizer.Encode("Man").Single());
    }
}
