using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>
/// Weight gradients under the checkpoint's own tensor names (<see cref="WeightGrads.ByCheckpointName"/>) by finite
/// differences of the weights themselves: the fixture is rewritten in F32 (stored bf16/f16 values widened exactly), then
/// one entry of one named tensor is moved by ±ε in the file and the model reloaded, so a wrong name, transpose or head
/// order shows as a wrong derivative. Metric: the clean prompt's next-token loss (reference_grads.json's weight metric).
/// </summary>
public class WeightFiniteDifferenceTests
{
    /// <summary>The fixture with its weights in one F32 model.safetensors (the files the loader reads, nothing else), and
    /// each tensor's data offset in that file.</summary>
    static (string Dir, Dictionary<string, long> Offsets) F32Copy(string fixture)
    {
        string src = Fixtures.Dir(fixture), dst = Fixtures.TempDir("f32-" + fixture);
        foreach (var f in Directory.GetFiles(src))
            if (!Path.GetFileName(f).StartsWith("model", StringComparison.Ordinal)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        var tensors = new List<(string, long[], float[])>();
        using (var c = Checkpoint.Open(src))
            foreach (var (name, shape) in Checkpoint.ExpectedTensors(c.Config, c.Has)) tensors.Add((name, shape, c.Vector(name)));
        string path = Path.Combine(dst, "model.safetensors");
        SafeTensorsWriter.WriteF32(path, tensors);
        long dataStart;
        using (var fs = File.OpenRead(path)) { var len = new byte[8]; fs.ReadExactly(len); dataStart = 8 + (long)BitConverter.ToUInt64(len); }
        var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, _, data) in tensors) { offsets[name] = dataStart; dataStart += 4L * data.Length; }
        return (dst, offsets);
    }

    static float ReadF32(string path, long at)
    {
        using var fs = File.OpenRead(path);
        fs.Position = at; var b = new byte[4]; fs.ReadExactly(b);
        return BitConverter.ToSingle(b);
    }

    static void WriteF32(string path, long at, float v)
    {
        using var fs = File.OpenWrite(path);
        fs.Position = at; fs.Write(BitConverter.GetBytes(v));
    }

    [Theory]
    [InlineData("tiny-gpt2")]           // tied wte, Conv1D [in, out], fused c_attn, no prefix
    [InlineData("tiny-gpt2-variant")]   // transformer. prefix, sharded
    [InlineData("tiny-gpt-neox")]       // parallel residual, interleaved query_key_value with bias, untied embed_out
    [InlineData("tiny-gpt-neox-v5")]    // sequential, no attention biases
    [InlineData("tiny-phi3")]           // fused qkv_proj and gate_up_proj
    [InlineData("tiny-phi3-variant")]   // GQA in the fused qkv_proj, partial rotary
    [InlineData("tiny-mistral-window")] // a sliding window shorter than the prompt
    [InlineData("tiny-llama")]
    public void WeightGradientsUnderCheckpointNames_MatchFiniteDifferences(string fixture)
    {
        var (dir, offsets) = F32Copy(fixture);
        string file = Path.Combine(dir, "model.safetensors");
        int[] ids; Dictionary<string, Tensor> named; int lastLayer;
        using (var m = HookedTransformer.Load(dir))
        {
            ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
            named = m.Backward(ids, Metrics.NextTokenLoss(ids), _ => false, weights: true).Weights!.ByCheckpointName(m.Config);
            lastLayer = m.Config.NLayers - 1;
            using var c = Checkpoint.Open(dir);
            var expected = Checkpoint.ExpectedTensors(c.Config, c.Has).ToList();
            Assert.Equal(expected.Select(t => t.Name).Order(), named.Keys.Order());
            foreach (var (name, shape) in expected) Assert.Equal(shape.Select(s => (int)s), named[name].Shape);
        }
        double Loss()
        {
            using var m = HookedTransformer.Load(dir);
            var logits = m.Run([ids]);
            return Metrics.NextTokenLoss(ids)(logits, new float[logits.Data.Length]);
        }

        // The first and the last layer's tensors and every tensor outside the layers: the entry with the largest gradient
        // and one at random.
        var rng = new Random(11);
        foreach (var (name, g) in named)
        {
            var layer = System.Text.RegularExpressions.Regex.Match(name, @"\.(\d+)\.");
            if (layer.Success && int.Parse(layer.Groups[1].Value) is int l && l != 0 && l != lastLayer) continue;
            int largest = 0;
            for (int i = 1; i < g.Data.Length; i++) if (Math.Abs(g.Data[i]) > Math.Abs(g.Data[largest])) largest = i;
            double scale = Math.Abs(g.Data[largest]);
            foreach (int i in new[] { largest, rng.Next(g.Data.Length) })
            {
                long at = offsets[name] + 4L * i;
                float w0 = ReadF32(file, at);
                double numeric = FiniteDifferenceGradTests.CentralDifference(eps =>
                {
                    WriteF32(file, at, w0 + eps);
                    try { return Loss(); }
                    finally { WriteF32(file, at, w0); }
                }, 1e-2f);
                FiniteDifferenceGradTests.AssertClose(numeric, g.Data[i], Math.Max(1e-3, 0.05 * scale), $"{fixture} {name}[{i}]");
            }
        }
    }
}
