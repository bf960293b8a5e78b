using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Gradients;
using SharpLens.Tests.Support;
using static SharpLens.Tests.Examples.ExampleRunner;

namespace SharpLens.Tests.Examples;

/// <summary>
/// examples/attention.cs and examples/gradients.cs on the demo model and every family's fixture: the viewer's patterns
/// are the reference's, the gradients the float64 autograd reference's where a fixture has one (else the library's, with
/// the loss checked against the logits); a family whose design the backward pass does not differentiate yet gets its one
/// clear message and a non-zero exit, no JSON and no stack trace.
/// </summary>
[Collection("Examples")]
public class FamilyGradientsAndAttentionExampleTests
{
    public static TheoryData<string> Models => new() { "setcomp-demo", "tiny-qwen2", "tiny-llama", "tiny-gpt2", "tiny-gpt-neox", "tiny-mistral", "tiny-qwen3", "tiny-gemma2", "tiny-phi3" };

    [Theory, MemberData(nameof(Models))]
    public void Attention_ViewerHoldsTheReferencePatterns_AndTheShiftHeatmap(string fixture)
    {
        string output = Path.Combine(Fixtures.TempDir("attention"), "attention.html");
        var run = RunBuilt(Script("attention.cs"), Fixtures.Dir(fixture), output);
        Assert.True(run.Code == 0, $"attention.cs exited {run.Code}\n{run.Out}\n{run.Err}");
        var reference = Fixtures.Json(fixture, "reference_experiments.json");
        var data = JsonNode.Parse(Regex.Match(File.ReadAllText(output), "class=\"slv-data\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value)!;
        var runs = data["runs"]!.AsArray();
        Assert.Equal(2, runs.Count);
        foreach (var (i, name) in new[] { (0, "clean"), (1, "corrupted") })
        {
            int T = reference["tokens"]![name]!.AsArray().Count;
            Assert.Equal(T, runs[i]!["tokens"]!.AsArray().Count);
            var expected = reference[$"pattern_last_row_{name}"]!.AsArray();
            var pattern = runs[i]!["pattern"]!.AsArray();                 // [layer][head][q·k], rounded to 4 decimals
            Assert.Equal(expected.Count, pattern.Count);
            for (int l = 0; l < expected.Count; l++)
                for (int h = 0; h < expected[l]!.AsArray().Count; h++)
                {
                    var row = pattern[l]![h]!.AsArray();
                    Assert.Equal(T * T, row.Count);
                    for (int k = 0; k < T; k++)
                    {
                        double e = expected[l]![h]![k]!.GetValue<double>(), a = row[T * T - T + k]!.GetValue<double>();
                        Assert.True(Math.Abs(e - a) <= 2e-4, $"{name} L{l}H{h} final row, key {k}: {a} vs reference {e}");
                    }
                }
        }
        string stem = Path.ChangeExtension(output, null);
        Assert.True(File.Exists(stem + "-shift.html"), "no shift heatmap");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(stem + "-shift.png")[..4]);
    }

    [Theory, MemberData(nameof(Models))]
    public void Gradients_MatchTheReferenceOrTheLibrary_OrRefuseClearly(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        var run = RunBuilt(Script("gradients.cs"), dir);
        using var model = HookedTransformer.Load(dir);
        if (BackwardPass.Unsupported(model.Config) is { } missing)
        {
            Assert.True(run.Code != 0, "a design without a backward exited 0");
            Assert.Equal($"gradients are not implemented for {missing} yet: the backward pass does not differentiate it", run.Err.Trim());
            Assert.Equal("", run.Out.Trim());
            return;
        }
        Assert.True(run.Code == 0, $"gradients.cs exited {run.Code}\n{run.Out}\n{run.Err}");
        var output = JsonNode.Parse(run.Out)!;
        if (File.Exists(Path.Combine(dir, "reference_grads.json")))
        {
            var reference = Fixtures.Json(fixture, "reference_grads.json");
            Assert.Equal((double)reference["loss"]!, (double)output["loss"]!, 4);
            foreach (var section in new[] { "hooks", "weights" })
            {
                if (reference[section] is not JsonObject refs) continue;   // setcomp-demo's reference has no weights
                var got = output[section]!.AsObject();
                Assert.Equal(refs.Select(r => r.Key).Order(), got.Select(g => g.Key).Order());
                foreach (var (name, r) in refs)
                {
                    Assert.Equal(r!["shape"]!.ToJsonString(), got[name]!["shape"]!.ToJsonString());
                    ReferenceGradTests.AssertClose(name, r, got[name]!["data"]!.AsArray().Select(v => (float)v!).ToArray());
                }
            }
            return;
        }
        // No autograd reference: the loss is the clean prompt's mean next-token cross-entropy of a plain forward, and the
        // hook gradients are the library's.
        int[] clean = model.ToTokens(PromptSet.SeedClean), corrupted = model.ToTokens(PromptSet.SeedCorrupted);
        var logits = model.Run([clean]);
        int V = model.Config.VocabSize;
        double loss = 0;
        for (int t = 0; t + 1 < clean.Length; t++)
        {
            var row = logits.Data.AsSpan(t * V, V);
            double max = 0; foreach (var x in row) max = Math.Max(max, x);
            double z = 0; foreach (var x in row) z += Math.Exp(x - max);
            loss += max + Math.Log(z) - row[clean[t + 1]];
        }
        Assert.Equal(loss / (clean.Length - 1), (double)output["loss"]!, 3);
        int answer = model.ToSingleToken(PromptSet.SeedClean, PromptSet.SeedAnswer), wrong = model.ToSingleToken(PromptSet.SeedCorrupted, PromptSet.SeedWrong);
        var hooks = output["hooks"]!.AsObject();
        var names = hooks.Select(h => h.Key).ToHashSet();
        Assert.Contains(HookNames.Embed, names);
        // the example's hook list: twelve per block, less hook_resid_mid in a parallel block (GPT-NeoX)
        Assert.Equal(1 + model.HookNames.Layers.Sum(n => n.All.Contains(n.ResidMid) ? 12 : 11), names.Count);
        var grads = model.Backward(corrupted, Metrics.LogitDiff(answer, wrong), names.Contains).HookGrads;
        foreach (var (name, g) in hooks)
        {
            var expected = grads[name];
            Assert.Equal($"[{string.Join(",", expected.Shape[1..])}]", g!["shape"]!.ToJsonString());
            var data = g["data"]!.AsArray().Select(v => (float)v!).ToArray();
            Assert.Equal(expected.Data.Length, data.Length);
            for (int i = 0; i < data.Length; i++) Assert.True(Math.Abs(expected.Data[i] - data[i]) <= 1e-6 * (1 + Math.Abs(expected.Data[i])), $"{name}[{i}]");
        }
    }
}
