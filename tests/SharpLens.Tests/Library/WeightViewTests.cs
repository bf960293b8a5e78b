using MathNet.Numerics.LinearAlgebra;
using SharpLens.Model;
using SharpLens.Tests.Experiments;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>W_Q, W_K, W_V, W_O, W_E, W_U, W_in/W_gate/W_out and biases in TransformerLens' layout reproduce the model's own
/// activations; FactoredMatrix and composition scores against naive dense computations.</summary>
public class WeightViewTests : IDisposable
{
    readonly HookedTransformer _m = HookedTransformer.Load(Fixtures.Dir("tiny-qwen2"));   // grouped-query attention, q/k/v biases
    readonly int[] _ids = ReferenceExperimentTests.TokensOf(Fixtures.Json("tiny-qwen2", "reference_experiments.json")).Clean;

    public void Dispose() => _m.Dispose();

    /// <summary>x @ W + b for a view W [in, out].</summary>
    static float[] Times(float[] x, WeightView w, ReadOnlySpan<float> bias = default)
    {
        Assert.Equal(2, w.Rank);
        Assert.Equal(x.Length, w.Shape[0]);
        var y = new float[w.Shape[1]];
        for (int j = 0; j < y.Length; j++)
        {
            double s = bias.IsEmpty ? 0 : bias[j];
            for (int i = 0; i < x.Length; i++) s += x[i] * w[i, j];
            y[j] = (float)s;
        }
        return y;
    }

    static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-3 + 1e-3 * Math.Abs(expected[i]), $"{what}[{i}]: {expected[i]} vs {actual[i]}");
    }

    float[] Normed(ActivationCache cache, string resid, string scale, float[] w, int p)
    {
        int d = _m.Config.DModel;
        var x = cache[resid].Data.AsSpan(p * d, d).ToArray();
        float s = cache[scale].Data[p];
        return x.Select((v, i) => v / s * w[i]).ToArray();
    }

    [Fact]
    public void AttentionAndMlpViews_ReproduceTheHookedActivations()
    {
        var c = _m.Config; int H = c.NHeads, G = c.NKvHeads, e = c.DHead, d = c.DModel, f = c.DMlp, p = 7;
        var (_, cache) = _m.RunWithCache([_ids]);
        Assert.Equal([c.NLayers, H, d, e], _m.W_Q.Shape);
        Assert.Equal([c.NLayers, H, d, e], _m.W_K.Shape);
        Assert.Equal([c.NLayers, H, e, d], _m.W_O.Shape);
        var bQ = _m.b_Q; var bK = _m.b_K; var bV = _m.b_V;
        Assert.Contains(bK.Data, v => v != 0);   // this fixture has biases
        for (int l = 0; l < c.NLayers; l++)
        {
            var names = _m.HookNames.Layers[l]; var w = _m.Weights.Layers[l];
            var h1 = Normed(cache, names.ResidPre, names.Ln1Scale, w.Ln1, p);
            for (int h = 0; h < H; h++)
            {
                Close(cache[names.Q].Data.AsSpan((p * H + h) * e, e), Times(h1, _m.W_Q.At(l).At(h), bQ.Data.AsSpan((l * H + h) * e, e)), $"q L{l}H{h}");
                int g = h / (H / G);   // the key/value head query head h reads
                Close(cache[names.K].Data.AsSpan((p * G + g) * e, e), Times(h1, _m.W_K.At(l).At(h), bK.Data.AsSpan((l * H + h) * e, e)), $"k L{l}H{h}");
                Close(cache[names.V].Data.AsSpan((p * G + g) * e, e), Times(h1, _m.W_V.At(l).At(h), bV.Data.AsSpan((l * H + h) * e, e)), $"v L{l}H{h}");
                var z = cache[names.Z].Data.AsSpan((p * H + h) * e, e).ToArray();
                Close(cache[names.Result].Data.AsSpan((p * H + h) * d, d), Times(z, _m.W_O.At(l).At(h)), $"result L{l}H{h}");
            }
            var h2 = Normed(cache, names.ResidMid, names.Ln2Scale, w.Ln2, p);
            Close(cache[names.MlpPre].Data.AsSpan(p * f, f), Times(h2, _m.W_gate.At(l)), $"gate L{l}");
            Close(cache[names.MlpPreLinear].Data.AsSpan(p * f, f), Times(h2, _m.W_in.At(l)), $"up L{l}");
            Close(cache[names.MlpOut].Data.AsSpan(p * d, d), Times(cache[names.MlpPost].Data.AsSpan(p * f, f).ToArray(), _m.W_out.At(l)), $"mlp_out L{l}");
        }
        Assert.All(_m.b_O.Data, v => Assert.Equal(0, v));
    }

    [Fact]
    public void EmbedAndUnembedViews_ReproduceTheEmbeddingAndTheLogits()
    {
        var c = _m.Config; int d = c.DModel, V = c.VocabSize, p = _ids.Length - 1;
        var (logits, cache) = _m.RunWithCache([_ids]);
        Assert.Equal([V, d], _m.W_E.Shape);
        Assert.Equal([d, V], _m.W_U.Shape);
        var embed = _m.W_E.At(_ids[p]).ToTensor().Data;
        Close(cache[HookNames.Embed].Data.AsSpan(p * d, d), embed, "embed");
        var final = Normed(cache, _m.HookNames.Layers[^1].ResidPost, HookNames.LnFinalScale, _m.Weights.LnFinal, p);
        Close(logits.Data.AsSpan(p * V, V), Times(final, _m.W_U, _m.b_U.Data), "logits");
        // a copied view equals the view, element by element
        var wq = _m.W_Q.At(1).ToTensor();
        Assert.Equal(_m.W_Q[1, 2, 5, 3], wq[2, 5, 3]);
        Assert.Equal(_m.W_K[1, 3, 5, 3], _m.W_K[1, 2, 5, 3]);   // heads 2 and 3 share a key/value head
    }

    static Matrix<double> Random(int r, int c, int seed)
    {
        var rng = new Random(seed);
        return Matrix<double>.Build.Dense(r, c, (_, _) => rng.NextDouble() * 2 - 1);
    }

    static void Same(Matrix<double> expected, Matrix<double> actual, double tol = 1e-9)
    {
        Assert.Equal(expected.RowCount, actual.RowCount);
        Assert.Equal(expected.ColumnCount, actual.ColumnCount);
        Assert.True((expected - actual).FrobeniusNorm() <= tol * (1 + expected.FrobeniusNorm()), $"differ by {(expected - actual).FrobeniusNorm()}");
    }

    [Fact]
    public void FactoredMatrix_AgreesWithTheDenseProduct()
    {
        var a = Random(12, 3, 1); var b = Random(3, 12, 2);
        var f = new FactoredMatrix(a, b);
        var ab = a * b;
        Same(ab, f.AB);
        Same(ab.Transpose(), f.T.AB);
        Assert.Equal(ab.FrobeniusNorm(), f.Norm(), 9);
        // SVD: reconstructs AB, orthonormal columns, the dense product's singular values
        var (u, s, v) = f.Svd();
        Same(ab, u * Matrix<double>.Build.DiagonalOfDiagonalVector(s) * v.Transpose());
        Same(Matrix<double>.Build.DenseIdentity(3), u.TransposeThisAndMultiply(u));
        Same(Matrix<double>.Build.DenseIdentity(3), v.TransposeThisAndMultiply(v));
        var dense = ab.Svd().S;
        for (int i = 0; i < 3; i++) Assert.Equal(dense[i], s[i], 9);
        // eigenvalues: BA's are AB's non-zero ones
        var eig = f.Eigenvalues().OrderBy(z => z.Real).ThenBy(z => z.Imaginary).ToArray();
        var denseEig = ab.Evd().EigenValues.Where(z => z.Magnitude > 1e-9).OrderBy(z => z.Real).ThenBy(z => z.Imaginary).ToArray();
        Assert.Equal(3, denseEig.Length);
        for (int i = 0; i < 3; i++) Assert.True((eig[i] - denseEig[i]).Magnitude < 1e-9, $"{eig[i]} vs {denseEig[i]}");
        // products, through either inner size, and with plain matrices
        var g = new FactoredMatrix(Random(12, 5, 3), Random(5, 12, 4));
        Same(ab * g.AB, (f * g).AB);
        Assert.Equal(3, (f * g).Mdim);
        Same(g.AB * ab, (g * f).AB);
        Assert.Equal(3, (g * f).Mdim);
        var m = Random(12, 7, 5);
        Same(ab * m, (f * m).AB);
        Same(m.Transpose() * ab, (m.Transpose() * f).AB);
        Same(ab.SubMatrix(0, 3, 0, 3), f.GetCorner(3));
    }

    [Fact]
    public void CircuitsAndCompositionScores_MatchNaiveDenseComputations()
    {
        var c = _m.Config; int L = c.NLayers, H = c.NHeads, d = c.DModel, e = c.DHead;
        Matrix<double> Dense(Func<int, int, double> at, int r, int cols) => Matrix<double>.Build.Dense(r, cols, (i, j) => at(i, j));
        // naive: straight from the stored Hugging Face matrices ([out, in])
        Matrix<double> Ov(int l, int h) => Dense((i, j) =>
        {
            double s = 0;
            for (int k = 0; k < e; k++) s += _m.Weights.Layers[l].Wv[h / c.GroupSize * e + k, i] * _m.Weights.Layers[l].Wo[j, h * e + k];
            return s;
        }, d, d);
        Matrix<double> Qk(int l, int h) => Dense((i, j) =>
        {
            double s = 0;
            for (int k = 0; k < e; k++) s += _m.Weights.Layers[l].Wq[h * e + k, i] * _m.Weights.Layers[l].Wk[h / c.GroupSize * e + k, j];
            return s;
        }, d, d);
        Same(Ov(1, 3), _m.OV(1, 3).AB, 1e-6);
        Same(Qk(2, 1), _m.QK(2, 1).AB, 1e-6);
        foreach (var mode in new[] { CompositionMode.Q, CompositionMode.K, CompositionMode.V })
        {
            var scores = _m.AllCompositionScores(mode);
            Assert.Equal([L, H, L, H], scores.Shape);
            foreach (var (l1, h1, l2, h2) in new[] { (0, 1, 1, 2), (1, 3, 3, 0), (0, 0, 2, 3) })
            {
                var right = mode switch { CompositionMode.Q => Qk(l2, h2), CompositionMode.K => Qk(l2, h2).Transpose(), _ => Ov(l2, h2) };
                var left = Ov(l1, h1);
                double naive = (left * right).FrobeniusNorm() / left.FrobeniusNorm() / right.FrobeniusNorm();
                Assert.True(Math.Abs(naive - scores[l1, h1, l2, h2]) < 1e-5, $"{mode} L{l1}H{h1}→L{l2}H{h2}: {naive} vs {scores[l1, h1, l2, h2]}");
                Assert.Equal(0, scores[l2, h2, l1, h1]);   // only earlier heads compose into later ones
            }
            Assert.Equal(0, scores[1, 0, 1, 2]);
        }
    }
}
