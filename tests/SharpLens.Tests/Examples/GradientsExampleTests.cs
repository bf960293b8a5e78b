using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpLens.Tests.Gradients;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Examples;

/// <summary>examples/gradients.cs runs as a .NET 10 file-based app and prints reference_grads.json's layout, matching
/// the float64 autograd reference (EXPERIMENTS.md's tolerance).</summary>
/// <remarks>In the "Examples" collection: `dotnet run` of file-based apps built at once print each other's build messages.</remarks>
[Collection("Examples")]
public class GradientsExampleTests
{
    [Fact]
    public async Task Example_PrintsTheReferenceGradients()
    {
        string dir = Fixtures.Dir("tiny-qwen2");
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Fixtures.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "run", "examples/gradients.cs", "--", dir }) psi.ArgumentList.Add(a);
        // the test host's MSBuild variables would point the nested build at the wrong SDK pieces
        foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(k);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(8)), "the example did not finish in 8 minutes");
        string outText = await stdout, errText = await stderr;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}:\n{errText}");
        var output = JsonNode.Parse(outText[outText.IndexOf('{')..])!;   // the JSON object, after any build message

        var reference = Fixtures.Json("tiny-qwen2", "reference_grads.json");
        Assert.Equal((double)reference["loss"]!, (double)output["loss"]!, 4);
        foreach (var section in new[] { "hooks", "weights" })
        {
            var refs = reference[section]!.AsObject(); var got = output[section]!.AsObject();
            Assert.Equal(refs.Select(r => r.Key).Order(), got.Select(g => g.Key).Order());
            foreach (var (name, r) in refs)
            {
                Assert.Equal(r!["shape"]!.ToJsonString(), got[name]!["shape"]!.ToJsonString());
                ReferenceGradTests.AssertClose(name, r, got[name]!["data"]!.AsArray().Select(v => (float)v!).ToArray());
            }
        }
    }

    /// <summary>On the families without an autograd reference (their gradients are checked by finite differences in
    /// tests/Gradients): the example's hooks and loss are the library's, and its weights are every tensor of the
    /// checkpoint under its own name and shape (GPT-2's Conv1D layout, GPT-NeoX's interleaved query_key_value, Phi-3's
    /// fused projections, Qwen3's q/k norms, Gemma 2's four norms) with the library's numbers.</summary>
    [Theory]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt-neox")]
    [InlineData("tiny-phi3-variant")]
    [InlineData("tiny-qwen3-small-head")]
    [InlineData("tiny-gemma2")]
    public void Example_RunsOnTheFamilyFixtures(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        var output = JsonNode.Parse(ExampleRunner.JsonLine(ExampleRunner.Run(ExampleRunner.Script("gradients.cs"), dir).Out))!;

        using var m = SharpLens.Model.HookedTransformer.Load(dir);
        int[] clean = m.ToTokens(SharpLens.Experiments.PromptSet.SeedClean), corrupted = m.ToTokens(SharpLens.Experiments.PromptSet.SeedCorrupted);
        int answer = m.ToSingleToken(SharpLens.Experiments.PromptSet.SeedClean, " Mango"), wrong = m.ToSingleToken(SharpLens.Experiments.PromptSet.SeedCorrupted, " Orange");
        Assert.Equal(m.Backward(clean, SharpLens.Model.Metrics.NextTokenLoss(clean), _ => false).Metric, (double)output["loss"]!, 5);
        var hooks = output["hooks"]!.AsObject();
        Assert.Contains($"blocks.{m.Config.NLayers - 1}.hook_mlp_out", hooks.Select(h => h.Key));
        var g = m.Backward(corrupted, SharpLens.Model.Metrics.LogitDiff(answer, wrong), name => hooks.ContainsKey(name));
        foreach (var (name, got) in hooks)
        {
            var expected = g.HookGrads[name];
            Assert.Equal(expected.Shape[1..], got!["shape"]!.AsArray().Select(v => (int)v!));
            var data = got["data"]!.AsArray().Select(v => (float)v!).ToArray();
            double max = expected.Data.Max(Math.Abs);
            for (int i = 0; i < data.Length; i++)
                Assert.True(Math.Abs(data[i] - expected.Data[i]) <= 1e-5 * Math.Max(1, max), $"{fixture} {name}[{i}]: {data[i]} vs {expected.Data[i]}");
        }
        using var c = SharpLens.Loading.Checkpoint.Open(dir);
        var weights = output["weights"]!.AsObject();
        var tensors = SharpLens.Loading.Checkpoint.ExpectedTensors(c.Config, c.Has).ToList();
        Assert.Equal(tensors.Select(t => t.Name).Order(), weights.Select(w => w.Key).Order());
        foreach (var (name, shape) in tensors)
            Assert.Equal(shape, weights[name]!["shape"]!.AsArray().Select(v => (long)v!));
        var loss = m.Backward(clean, SharpLens.Model.Metrics.NextTokenLoss(clean), _ => false, weights: true);
        Assert.Equal(loss.Metric, (double)output["loss"]!, 5);
        foreach (var (name, gw) in loss.Weights!.ByCheckpointName(m.Config))
        {
            var got = output["weights"]![name]!;
            Assert.Equal($"[{string.Join(",", gw.Shape)}]", got["shape"]!.ToJsonString());
            var data = got["data"]!.AsArray().Select(v => (float)v!).ToArray();
            double scale = Math.Max(1e-6, gw.Data.Max(Math.Abs));
            for (int i = 0; i < data.Length; i++) Assert.True(Math.Abs(data[i] - gw.Data[i]) <= 1e-4 * scale, $"{name}[{i}]: {data[i]} vs {gw.Data[i]}");
        }
    }
}
