using SharpLens.Loading;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Model;

/// <summary>GPT-2's Conv1D weights, stored [in, out], are copied once at load into owned [out, in] row-major buffers.</summary>
public unsafe class Gpt2WeightLayoutTests
{
    [Theory]
    [InlineData("tiny-gpt2")]
    [InlineData("tiny-gpt2-gelu")]
    [InlineData("tiny-gpt2-variant")]
    public void Conv1DWeightsArePlainAlignedRowMajorCopiesOfTheStoredOnes(string fixture)
    {
        string dir = Fixtures.Dir(fixture);
        using var m = HookedTransformer.Load(dir);
        using var ckpt = Checkpoint.Open(dir);
        string p = ckpt.Has("transformer.wte.weight") ? "transformer." : "";
        int d = m.Config.DModel;
        for (int l = 0; l < m.Config.NLayers; l++)
        {
            var w = m.Weights.Layers[l];
            string h = $"{p}h.{l}.";
            var checks = new (WeightMatrix W, string Name, int ColOffset)[]
            {
                (w.Wq, "attn.c_attn.weight", 0), (w.Wk, "attn.c_attn.weight", d), (w.Wv, "attn.c_attn.weight", 2 * d),
                (w.Wo, "attn.c_proj.weight", 0), (w.WUp, "mlp.c_fc.weight", 0), (w.WDown, "mlp.c_proj.weight", 0),
            };
            foreach (var (mat, name, off) in checks)
            {
                Assert.False(mat.Transposed, $"{h}{name} is a transposed view");
                Assert.Equal(mat.Cols, mat.RowStride);
                var stored = ckpt.Matrix(h + name);                 // [in, out] as stored
                Assert.Equal(stored.Rows, mat.Cols);
                for (int r = 0; r < mat.Rows; r++)
                    for (int c = 0; c < mat.Cols; c++)
                        Assert.Equal(stored[c, off + r], mat[r, c]);
            }
            foreach (var whole in new[] { w.Wq, w.Wo, w.WUp, w.WDown }) Assert.Equal(0, whole.Data % 64);
        }
    }

    [Fact]
    public void CopiedBytesCountTheConv1DWeightsOnlyForGpt2()
    {
        using (var gpt2 = Checkpoint.Open(Fixtures.Dir("tiny-gpt2")))
        {
            var c = gpt2.Config;
            long expected = (long)c.NLayers * (3L * c.DModel * c.DModel + c.DModel * c.DModel + 2L * c.DModel * c.DMlp)
                * DTypes.Size(gpt2.Entry(gpt2.Has("transformer.wte.weight") ? "transformer.wte.weight" : "wte.weight").DType);
            Assert.Equal(expected, gpt2.CopiedBytes);
            Assert.True(gpt2.CopiedBytes < gpt2.WeightBytes);
        }
        using var qwen = Checkpoint.Open(Fixtures.Dir("tiny-qwen2"));
        Assert.Equal(0, qwen.CopiedBytes);
    }

    [Theory]
    [InlineData(1, 1, 2)]
    [InlineData(33, 70, 2)]
    [InlineData(64, 31, 4)]
    [InlineData(5, 97, 4)]
    public void TransposeIntoMovesEveryElement(int rows, int cols, int size)
    {
        var src = new byte[rows * cols * size];
        for (int i = 0; i < src.Length; i++) src[i] = (byte)(i * 7 + i / 251);
        var dst = new byte[src.Length];
        fixed (byte* s = src) fixed (byte* t = dst) Checkpoint.TransposeInto(s, t, rows, cols, size);
        for (int i = 0; i < rows; i++)
            for (int o = 0; o < cols; o++)
                Assert.Equal(src.AsSpan((i * cols + o) * size, size).ToArray(), dst.AsSpan((o * rows + i) * size, size).ToArray());
    }
}
