using System.Text.Json.Nodes;
using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>
/// Weight gradients by finite differences where there is no autograd reference (Qwen3's q/k norms, Gemma 2's post-norms,
/// 1 + w norms, sqrt(d) embedding and soft-caps): each checkpoint tensor, under its own name, perturbed in an fp32 copy
/// of the fixture (so a small step is representable) along a few sampled entries, reloaded, and the next-token loss's
/// change compared with <see cref="WeightGrads.ByCheckpointName"/>. Also the hook gradients of a Gemma 2 copy whose caps
/// are tight enough to bend its scores and logits.
/// </summary>
public class FamilyWeightGradTests
{
    const string Prompt = "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Mango 1 Grape and 1";

    [Theory]
    [InlineData("tiny-qwen3")]
    [InlineData("tiny-qwen3-small-head")]
    [InlineData("tiny-gemma2")]
    [InlineData("tiny-gemma2-variant")]
    public void WeightGradientsUnderCheckpointNamesMatchFiniteDifferences(string fixture) =>
        CheckWeightGradients(Fp32Copy(fixture), fixture);

    [Fact]
    public void TightSoftCaps_HookAndWeightGradientsMatchFiniteDifferences()
    {
        // Caps at half the largest |score| and |logit| of the fixture's run, so both caps bend what they cap.
        double maxScore = 0, maxLogit;
        using (var m = HookedTransformer.Load(Fixtures.Dir("tiny-gemma2")))
        {
            var (logits, cache) = m.RunWithCache([m.ToTokens(Prompt)], n => n.EndsWith("hook_attn_scores"));
            foreach (var n in m.HookNames.Layers)
                maxScore = Math.Max(maxScore, cache[n.Scores].Data.Where(float.IsFinite).Max(Math.Abs));
            maxLogit = logits.Data.Max(Math.Abs);
        }
        string dir = Fp32Copy("tiny-gemma2", c =>
        {
            c["attn_logit_softcapping"] = maxScore / 2;
            c["final_logit_softcapping"] = maxLogit / 2;
        });
        using (var m = HookedTransformer.Load(dir))
        {
            var (logits, cache) = m.RunWithCache([m.ToTokens(Prompt)], n => n.EndsWith("hook_attn_scores"));
            Assert.True(logits.Data.Max(Math.Abs) > 0.6 * maxLogit / 2, "the final cap does not bend the logits");
            Assert.True(m.HookNames.Layers.Max(n => cache[n.Scores].Data.Where(float.IsFinite).Max(Math.Abs)) > 0.6 * maxScore / 2, "the score cap does not bend the scores");
        }
        FiniteDifferenceGradTests.CheckHookGradients(dir, "tiny-gemma2 with tight caps");
        CheckWeightGradients(dir, "tiny-gemma2 with tight caps");
    }

    /// <summary>For every tensor of layers 0 and L−1 and every tensor outside the layers: the loss's directional derivative
    /// along its 3 largest-gradient entries (signs aligned) and 3 random entries (random signs), by central differences of
    /// reloaded copies, against Σ gradient · direction.</summary>
    static void CheckWeightGradients(string dir, string label)
    {
        Dictionary<string, Tensor> grads;
        int[] ids;
        int layers;
        using (var m = HookedTransformer.Load(dir))
        {
            ids = m.ToTokens(Prompt);
            grads = m.Backward(ids, Metrics.NextTokenLoss(ids), _ => false, weights: true).Weights!.ByCheckpointName(m.Config);
            layers = m.Config.NLayers;
        }
        var tensors = ReadTensors(dir);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), grads.Keys.Order(StringComparer.Ordinal));
        var rng = new Random(11);
        foreach (var (name, grad) in grads)
        {
            if (name.StartsWith("model.layers.") && !name.StartsWith("model.layers.0.") && !name.StartsWith($"model.layers.{layers - 1}.")) continue;
            var g = grad.Data;
            Assert.Equal(tensors[name].Data.Length, g.Length);
            var dirn = new float[g.Length];
            foreach (int i in Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).Take(3)) dirn[i] = Math.Sign(g[i]);
            for (int k = 0; k < 3; k++) dirn[rng.Next(g.Length)] = rng.Next(2) * 2 - 1;
            double analytic = g.Zip(dirn, (a, b) => (double)a * b).Sum(), size = g.Zip(dirn, (a, b) => Math.Abs((double)a * b)).Sum();
            const float eps = 2e-3f;
            double numeric = (Loss(dir, tensors, name, dirn, eps, ids) - Loss(dir, tensors, name, dirn, -eps, ids)) / (2 * eps);
            Assert.True(Math.Abs(numeric - analytic) <= 3e-2 * size + 3e-4,
                $"{label} {name}: finite difference {numeric:g6}, gradient {analytic:g6}");
        }
    }

    /// <summary>The next-token loss of the model in <paramref name="dir"/> with tensor <paramref name="name"/> moved by
    /// eps · direction (a copy in a new folder).</summary>
    static double Loss(string dir, Dictionary<string, (long[] Shape, float[] Data)> tensors, string name, float[] direction, float eps, int[] ids)
    {
        string copy = Fixtures.TempDir("perturbed");
        CopySmallFiles(dir, copy);
        SafeTensorsWriter.WriteF32(Path.Combine(copy, "model.safetensors"), tensors.Select(t =>
        {
            var data = t.Value.Data;
            if (t.Key == name) data = data.Zip(direction, (x, u) => x + eps * u).ToArray();
            return (t.Key, t.Value.Shape, data);
        }));
        using var m = HookedTransformer.Load(copy);
        var logits = m.Run([ids]);
        return Metrics.NextTokenLoss(ids)(logits, new float[logits.Data.Length]);
    }

    /// <summary>An fp32 copy of a fixture (config edited by <paramref name="editConfig"/>): one model.safetensors.</summary>
    internal static string Fp32Copy(string fixture, Action<JsonObject>? editConfig = null)
    {
        string src = Fixtures.Dir(fixture), dst = Fixtures.TempDir(fixture + "-f32");
        CopySmallFiles(src, dst);
        if (editConfig != null)
        {
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dst, "config.json")))!.AsObject();
            editConfig(config);
            File.WriteAllText(Path.Combine(dst, "config.json"), config.ToJsonString());
        }
        var tensors = ReadTensors(src);
        SafeTensorsWriter.WriteF32(Path.Combine(dst, "model.safetensors"), tensors.Select(t => (t.Key, t.Value.Shape, t.Value.Data)));
        return dst;
    }

    static Dictionary<string, (long[] Shape, float[] Data)> ReadTensors(string dir)
    {
        using var c = Checkpoint.Open(dir);
        return Checkpoint.ExpectedTensors(c.Config, c.Has).ToDictionary(t => t.Name, t => (t.Shape, c.Vector(t.Name)), StringComparer.Ordinal);
    }

    static void CopySmallFiles(string src, string dst)
    {
        foreach (var f in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
            if (File.Exists(Path.Combine(src, f))) File.Copy(Path.Combine(src, f), Path.Combine(dst, f), overwrite: true);
    }
}
