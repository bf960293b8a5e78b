using System.Text.Json.Nodes;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>
/// Every family's fixture and its variants through the CLI (issue 21): <c>tokenize</c>, <c>run</c> and <c>generate</c>
/// encode the seed prompt with the BOS the family's tokenizer adds (the references' <c>tokens</c>: with BOS for Mistral,
/// Gemma 2 and Phi-3, without for the others) and compute the references' logits; <c>study</c> and <c>path</c> are in
/// <see cref="CliFamilyStudyTests"/>.
/// </summary>
public class CliFamilyTests
{
    /// <summary>The eight families' fixtures, then their variants (other config fields, sharded checkpoints, windows
    /// shorter than the prompt, untied heads, transformers-v5 configs).</summary>
    public static TheoryData<string> AllFixtures => new()
    {
        "tiny-qwen2", "tiny-llama", "tiny-gpt2", "tiny-gpt-neox", "tiny-mistral", "tiny-qwen3", "tiny-gemma2", "tiny-phi3",
        "tiny-gpt2-variant", "tiny-gpt2-gelu", "tiny-gpt-neox-v5", "tiny-mistral-window", "tiny-qwen3-small-head", "tiny-gemma2-variant", "tiny-phi3-variant",
    };

    static int[] Ints(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<int>()).ToArray();

    [Theory, MemberData(nameof(AllFixtures))]
    public void TokenizeRunAndGenerate_UseTheFamilysBos_AndTheReferenceLogits(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        var act = Fixtures.Json(fixture, "reference_activations.json");
        string prompt = act["prompt"]!.GetValue<string>();
        int[] tokens = Ints(act["tokens"]);
        var lastRow = act["logits"]!.AsArray()[^1]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        using var model = SharpLens.Model.HookedTransformer.FromPretrained(dir);
        // the first generated token: the largest logit among the ids the tokenizer defines (padding rows are no tokens)
        int argmax = Enumerable.Range(0, lastRow.Length).Where(model.Tokenizer.IsDefined).MaxBy(i => lastRow[i]);

        var tok = CliRunner.Run("tokenize", "--model", dir, "--text", prompt, "--json");
        Assert.True(tok.ExitCode == 0, tok.Stderr);
        Assert.Equal(tokens, Ints(JsonNode.Parse(tok.Stdout)!["ids"]));

        var run = CliRunner.Run("run", "--model", dir, "--text", prompt, "--top", "3", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var o = JsonNode.Parse(run.Stdout)!;
        Assert.Equal(tokens, Ints(o["ids"]));
        var logits = o["logits_last"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        Assert.Equal(lastRow.Length, logits.Length);
        double scale = lastRow.Max(Math.Abs);
        for (int i = 0; i < logits.Length; i++) Assert.True(Math.Abs(logits[i] - lastRow[i]) <= 1e-3 * scale, $"logit {i}: {logits[i]} vs {lastRow[i]}");

        // six tokens: long enough for a padded vocabulary's extra rows to win a step in these random fixtures
        var gen = CliRunner.Run("generate", "--model", dir, "--text", prompt, "--max-new-tokens", "6", "--no-stop-at-eos", "--json");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var g = JsonNode.Parse(gen.Stdout)!;
        Assert.Equal(tokens, Ints(g["ids"]));
        int[] fresh = Ints(g["new_ids"]);
        Assert.Equal(6, fresh.Length);
        Assert.Equal(argmax, fresh[0]);
        Assert.Equal(model.Generate(tokens, 6, stopAtEos: false)[tokens.Length..], fresh);
        Assert.Equal(model.Decode(fresh), g["completion"]!.GetValue<string>());
        Assert.Equal(prompt + model.Decode(fresh), g["text"]!.GetValue<string>());
    }
}
