using System.Text.Json.Nodes;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Cli;

/// <summary>
/// Every family's fixture through the CLI (issue 21): <c>tokenize</c>, <c>run</c>, <c>generate</c>, <c>study</c> (a
/// small <c>--only</c> subset) and <c>path</c> encode the seed prompt with the BOS the family's tokenizer adds (the
/// references' <c>tokens</c>: with BOS for Mistral, Gemma 2 and Phi-3, without for the others), take the answer token
/// the answer text adds after its prompt (the references' <c>answer_tokens</c>), and compute the references' numbers.
/// </summary>
public class CliFamilyTests
{
    public static TheoryData<string> Families => new() { "tiny-qwen2", "tiny-llama", "tiny-gpt2", "tiny-gpt-neox", "tiny-mistral", "tiny-qwen3", "tiny-gemma2", "tiny-phi3" };

    static int[] Ints(JsonNode? n) => n!.AsArray().Select(x => x!.GetValue<int>()).ToArray();

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 2e-3 * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected}, got {actual}");

    [Theory, MemberData(nameof(Families))]
    public void TokenizeRunAndGenerate_UseTheFamilysBos_AndTheReferenceLogits(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        var act = Fixtures.Json(fixture, "reference_activations.json");
        string prompt = act["prompt"]!.GetValue<string>();
        int[] tokens = Ints(act["tokens"]);
        var lastRow = act["logits"]!.AsArray()[^1]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        int argmax = Array.IndexOf(lastRow, lastRow.Max());

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

        var gen = CliRunner.Run("generate", "--model", dir, "--text", prompt, "--max-new-tokens", "2", "--no-stop-at-eos", "--json");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        var g = JsonNode.Parse(gen.Stdout)!;
        Assert.Equal(tokens, Ints(g["ids"]));
        int[] fresh = Ints(g["new_ids"]);
        Assert.Equal(2, fresh.Length);
        Assert.Equal(argmax, fresh[0]);
    }

    [Theory, MemberData(nameof(Families))]
    public void StudyAndPath_MatchTheReferences(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var next = Fixtures.Json(fixture, "reference_next.json");
        string[] prompts =
        [
            "--clean", reference["prompts"]!["clean"]!.GetValue<string>(), "--corrupted", reference["prompts"]!["corrupted"]!.GetValue<string>(),
            "--answer", reference["answers"]!["clean"]!.GetValue<string>(), "--wrong", reference["answers"]!["corrupted"]!.GetValue<string>(),
        ];
        string cwd = Fixtures.TempDir("family-cli");

        var study = CliRunner.RunIn(cwd, null, ["study", "--model", dir, .. prompts, "--only", "resid_patch", "--no-report", "--out", "study"]);
        Assert.True(study.ExitCode == 0, study.Stderr);
        var r = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "study", "results.json")))!;
        Assert.Equal(Ints(reference["tokens"]!["clean"]), Ints(r["tokens"]!["clean"]));
        Assert.Equal(Ints(reference["tokens"]!["corrupted"]), Ints(r["tokens"]!["corrupted"]));
        Assert.Equal(reference["answer_tokens"]!["clean"]!.GetValue<int>(), r["answer_tokens"]!["clean"]!.GetValue<int>());
        Assert.Equal(reference["answer_tokens"]!["corrupted"]!.GetValue<int>(), r["answer_tokens"]!["corrupted"]!.GetValue<int>());
        Close(reference["clean_logit_diff"]!.GetValue<double>(), r["clean_logit_diff"]!.GetValue<double>(), "clean_logit_diff");
        var refResid = reference["resid_pre_patch_recovery"]!.AsArray();
        var resid = r["resid_pre_patch_recovery"]!.AsArray();
        Assert.Equal(refResid.Count, resid.Count);
        for (int l = 0; l < refResid.Count; l++)
            for (int p = 0; p < refResid[l]!.AsArray().Count; p++)
                Close(refResid[l]![p]!.GetValue<double>(), resid[l]![p]!.GetValue<double>(), $"resid_pre_patch_recovery[{l}][{p}]");

        int[] sender = Ints(next["path_patch_sender"]);
        var path = CliRunner.RunIn(cwd, null, ["path", "--model", dir, .. prompts, "--sender", $"{sender[0]}.{sender[1]}", "--out", "path"]);
        Assert.True(path.ExitCode == 0, path.Stderr);
        var pr = JsonNode.Parse(File.ReadAllText(Path.Combine(cwd, "path", "results.json")))!;
        var refMlp = next["path_patch_to_mlp_recovery"]!.AsArray();
        var mlp = pr["path_patch_to_mlp_recovery"]!.AsArray();
        Assert.Equal(refMlp.Count, mlp.Count);
        for (int l = 0; l < refMlp.Count; l++)
            Close(refMlp[l]!.GetValue<double>(), mlp[l]!.GetValue<double>(), $"path_patch_to_mlp_recovery[{l}]");
        Close(next["path_patch_to_resid_final_recovery"]!.GetValue<double>(), pr["path_patch_to_resid_final_recovery"]!.GetValue<double>(), "path_patch_to_resid_final_recovery");
    }
}
