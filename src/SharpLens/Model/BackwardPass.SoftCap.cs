using System.Numerics.Tensors;
using SharpLens.Kernels;

namespace SharpLens.Model;

/// <summary>
/// The backward through Gemma 2's soft-caps (<see cref="SoftCapBackward"/>): the capped values are recomputed from what
/// the backward keeps anyway rather than cached: the final logits from <c>ln_final</c>'s output (only the entries the
/// metric reads, when it reads few), the attention scores from the rotated queries and keys.
/// </summary>
internal sealed partial class BackwardPass
{
    /// <summary>The gradient at the logits before the final soft-cap, from <paramref name="dLogits"/> [T, V] at the capped
    /// logits (a new array): dLogits ⊙ (1 − (logits/c)²). <paramref name="h"/> [T, d] is what the unembedding reads.</summary>
    float[] UncappedLogitGrad(float[] dLogits, float[] h, int T, int V, float cap)
    {
        int d = _c.DModel;
        var unembed = _m.Weights.Unembed;
        var result = Temp(dLogits.Length);
        var nonzero = new List<int>();
        for (int i = 0; i < dLogits.Length && nonzero.Count <= 4 * T + 64; i++) if (dLogits[i] != 0) nonzero.Add(i);
        if (nonzero.Count > 4 * T + 64)
        {
            var logits = Temp(T * V, zeroed: false);                        // [T, V]
            Gemm.LinearForward(h, T, unembed, default, logits);
            SoftCap.Apply(logits, cap);
            SoftCapBackward.Apply(logits, dLogits, result, cap);
            return result;
        }
        // A sparse metric (a logit difference): only its entries' logits, h[r] · W_U[v].
        var capped = new float[nonzero.Count]; var dy = new float[nonzero.Count]; var row = new float[d];
        for (int k = 0; k < nonzero.Count; k++)
        {
            int r = nonzero[k] / V, v = nonzero[k] % V;
            unembed.ReadRow(v, row);
            capped[k] = TensorPrimitives.Dot(h.AsSpan(r * d, d), row);
            dy[k] = dLogits[nonzero[k]];
        }
        SoftCap.Apply(capped, cap);
        SoftCapBackward.Apply(capped, dy, dy, cap);
        for (int k = 0; k < nonzero.Count; k++) result[nonzero[k]] = dy[k];
        return result;
    }

    /// <summary>Layer <paramref name="l"/>'s capped scores [H, T, T] (masked: −∞) from the queries and keys attention read,
    /// for the soft-cap's slope; empty when the model does not cap its scores.</summary>
    float[] CappedScores(int l, float[] q, float[] k)
    {
        if (_c.AttnSoftcap is not { } cap) return [];
        int T = _t, H = _c.NHeads;
        var scores = Temp(H * T * T, zeroed: false);
        Attention.Scores(q, k, 1, T, T, 0, H, _c.NKvHeads, _c.DHead, scores, _c.AttnScale(l), _c.WindowAt(l), null, (float)cap);
        return scores;
    }
}
